"""Analyst verdicts on clusters (stream_guard.core.linking.judged, through the cluster book):
members get the verdict, allow/benign silence the cluster, replacement accounts escalate."""

from __future__ import annotations

import math
from typing import Any

import orjson
from stream_guard.contracts import validate_alert
from stream_guard.core.linking.clusters import ClusterBook
from stream_guard.core.linking.index import LinkVerdict, MemberRow
from stream_guard.core.verdicts import AnalystVerdict, VerdictBook
from stream_guard.settings import Settings

S = Settings(cooldown_s=3600.0)
T = 900.0


def rows(prefix: str, n: int) -> list[MemberRow]:
    return [MemberRow(f"{prefix}{i}", 26.0, 0.9, 2.0, 0xFFFFFF) for i in range(n)]


def link(at: float, members: list[MemberRow]) -> LinkVerdict:
    stats = {"likeness": 0.86, "young_share": 1.0, "evenness": 1.0, "synchrony": 1.0}
    return LinkVerdict("payment", "pm_x", at, len(members), 0.9, True, stats, members)


def cluster_verdict(cid: str, kind: str, at: float, expires: float = math.inf) -> AnalystVerdict:
    return AnalystVerdict(f"cv-{kind}", cid, "cluster", kind, at, expires, "triaged", "ana")  # type: ignore[arg-type]
    # (the verdict kind is a Literal; the tests pass it by name)


def evaluate(book: ClusterBook, at: float, members: list[MemberRow]) -> list[dict[str, Any]]:
    book.update([link(at, members)])
    alerts = book.evaluate(at)
    for a in alerts:
        validate_alert(a)
    return list(alerts)


def first_cluster(verdicts: VerdictBook) -> tuple[ClusterBook, str]:
    book = ClusterBook(S, clock=lambda: 0.0, verdicts=verdicts)
    alerts = evaluate(book, T, rows("a", 8))
    return book, next(a["subject"] for a in alerts if a["detectors"] == ["cluster"])


def test_a_malicious_cluster_labels_its_members_and_escalates_a_replacement_at_once() -> None:
    verdicts = VerdictBook()
    book, cid = first_cluster(verdicts)
    verdicts.add(cluster_verdict(cid, "malicious", T + 60))
    assert [a for a in evaluate(book, T + 900, rows("a", 8)) if "cluster_verdict" in a["detectors"]] == []
    assert all(verdicts.label_at(f"a{i}", T + 900) is True for i in range(8))
    assert {v.via for v in book.judged.take_given()} == {cid}
    alerts = evaluate(book, T + 1800, [*rows("a", 8), MemberRow("new", 26.0, 0.9, 0.1, 0xFFFFFF)])
    joined = [a for a in alerts if a["detectors"] == ["cluster_verdict"]]
    assert [(a["subject"], a["severity"], a["kind"]) for a in joined] == [("new", "high", "account")]
    assert joined[0]["evidence"]["cluster_id"] == cid and verdicts.label_at("new", T + 1800) is True


def test_an_allowed_cluster_raises_no_alert_until_the_allow_expires() -> None:
    verdicts = VerdictBook()
    book, cid = first_cluster(verdicts)
    verdicts.add(cluster_verdict(cid, "allow", T + 60, expires=T + 3 * 3600))
    quiet = evaluate(book, T + 3600, rows("a", 12))  # grown: it would alert again
    assert quiet == [] and verdicts.silenced("a3", T + 3600) is not None
    again = evaluate(book, T + 4 * 3600, rows("a", 12))
    assert any(a["detectors"] == ["cluster"] for a in again)


def test_a_member_judged_benign_is_left_out_of_the_member_alerts() -> None:
    verdicts = VerdictBook()
    verdicts.add(AnalystVerdict("m", "a2", "account", "benign", 0.0, math.inf, "homework product", "ana"))
    book = ClusterBook(S, clock=lambda: 0.0, verdicts=verdicts)
    alerts = evaluate(book, T, rows("a", 8))
    listed = {acct for a in alerts if a["detectors"] == ["cluster_member"] for acct in a["account_ids"]}
    assert "a2" not in listed and "a3" in listed


def test_the_judged_clusters_ride_in_the_checkpoint() -> None:
    verdicts = VerdictBook()
    book, cid = first_cluster(verdicts)
    verdicts.add(cluster_verdict(cid, "malicious", T + 60))
    evaluate(book, T + 900, rows("a", 8))
    data = orjson.loads(orjson.dumps(book.export()))
    fresh = VerdictBook()
    again = ClusterBook(S, clock=lambda: 0.0, verdicts=fresh)
    again.load(data)
    assert fresh.label_at("a5", T + 900) is True and fresh.in_force(cid, T + 900, "cluster") is not None
    alerts = evaluate(again, T + 1800, [*rows("a", 8), MemberRow("new", 26.0, 0.9, 0.1, 0xFFFFFF)])
    assert [a["subject"] for a in alerts if a["detectors"] == ["cluster_verdict"]] == ["new"]


def test_a_checkpoint_of_changes_holds_the_judged_clusters_only_when_they_changed() -> None:
    verdicts = VerdictBook()
    book, cid = first_cluster(verdicts)
    base = orjson.loads(orjson.dumps(book.checkpoint_data(changes=False)))
    assert "judged" not in book.export_changes()  # nothing judged since the whole pass
    assert book.judged.add(cluster_verdict(cid, "malicious", T + 60))
    evaluate(book, T + 900, rows("a", 8))
    delta = orjson.loads(orjson.dumps(book.export_changes()))
    assert "judged" in delta and "judged" not in book.export_changes()
    fresh = VerdictBook()
    again = ClusterBook(S, clock=lambda: 0.0, verdicts=fresh)
    again.load(base)
    again.apply_changes(delta)
    assert fresh.in_force(cid, T + 900, "cluster") is not None and fresh.label_at("a0", T + 900) is True
