"""stream_guard.stream.verdicts: the worker's intake of the verdicts topic, without a broker
(the real-broker path: tests/integration/test_worker_verdicts.py)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from stream_guard.core.linking.clusters import ClusterBook
from stream_guard.core.partitioning import partition_for
from stream_guard.core.verdicts import VerdictBook, verdict_from_json
from stream_guard.metrics import Metrics
from stream_guard.settings import Settings
from stream_guard.stream.linking import ClusterStage
from stream_guard.stream.verdicts import VerdictIntake, forwarded_verdict

N = 4


def verdict(subject: str = "acct-1", **over: Any) -> dict[str, Any]:
    return {"verdict_id": f"v-{subject}", "subject": subject, "subject_kind": "account", "verdict": "benign",
            "at": 100, "reason": "cleared", "analyst": "ana", **over}


def counts(m: Metrics) -> dict[str, float]:
    return {o: m.verdicts.labels(o)._value.get() for o in ("applied", "duplicate", "dead_lettered")}


@pytest.fixture
def intake() -> VerdictIntake:
    return VerdictIntake(VerdictBook(), Metrics(), partitions=N)


def test_a_good_verdict_is_applied_once_and_forwarded(intake: VerdictIntake) -> None:
    p = partition_for("acct-1", N)
    out = intake.handle(p, 0, orjson.dumps(verdict()))
    assert out.dead_letter is None and intake.book.label_at("acct-1", 100.0) is False
    again = intake.handle(p, 1, orjson.dumps(verdict()))  # the same verdict id at a new offset
    assert again.dead_letter is None and counts(intake.m) == {"applied": 1, "duplicate": 1, "dead_lettered": 0}
    fwd = forwarded_verdict(out.forward or b"")
    assert fwd is not None and fwd.verdict_id == "v-acct-1"


@pytest.mark.parametrize(("raw", "reason"), [
    (None, "invalid_json"), (b"", "invalid_json"), (b"[1]", "schema_violation"), (b"\xff\xfe", "invalid_json"),
    (orjson.dumps(verdict(verdict="allow")), "schema_violation"), (b"{" * 70_000, "oversized"),
])
def test_a_bad_verdict_is_a_dead_letter_with_its_reason(intake: VerdictIntake, raw: bytes | None, reason: str) -> None:
    out = intake.handle(0, 0, raw)
    assert out.dead_letter is not None and out.dead_letter.reason.value == reason and out.forward is None
    assert counts(intake.m)["dead_lettered"] == 1 and len(intake.book) == 0


def test_an_account_verdict_off_its_accounts_partition_is_a_dead_letter(intake: VerdictIntake) -> None:
    wrong = (partition_for("acct-1", N) + 1) % N
    out = intake.handle(wrong, 0, orjson.dumps(verdict()))
    assert out.dead_letter is not None and "belongs in partition" in out.dead_letter.detail


def test_a_cluster_verdict_may_sit_in_any_partition(intake: VerdictIntake) -> None:
    out = intake.handle(3, 0, orjson.dumps(verdict("cluster-x", subject_kind="cluster", verdict="malicious")))
    assert out.dead_letter is None and out.forward is not None


def test_a_reread_applies_silently_in_any_order_and_live_redeliveries_are_skipped(intake: VerdictIntake) -> None:
    assert intake.take_over({0, 1}) == [0, 1] and intake.resume_at == {0: 0, 1: 0}
    p = partition_for("acct-1", N)
    assert intake.handle(p, 5, orjson.dumps(verdict("acct-1", verdict_id="live"))).dead_letter is None
    assert intake.handle(p, 5, b"{bad").dead_letter is None  # offset 5 again (a redelivery): skipped
    # a re-read (retried after a failure) may come after live messages: still applied, silently
    intake.handle(p, 0, b"{bad", reread=True)
    intake.handle(p, 1, orjson.dumps(verdict()), reread=True)
    assert counts(intake.m) == {"applied": 1, "duplicate": 0, "dead_lettered": 0} and len(intake.book) == 2
    assert intake.take_over({1}) == [] and 0 not in intake.held and intake.book.label_at("acct-1", 200.0) is False


def test_a_revoked_partitions_verdicts_leave_the_book_and_come_back_with_it(intake: VerdictIntake) -> None:
    held = partition_for("acct-1", N)
    other = next(a for a in (f"acct-{i}" for i in range(20)) if partition_for(a, N) != held)
    intake.book.add(verdict_from_json(verdict("acct-file", verdict="malicious")))  # as from a labels file
    assert intake.take_over({held, partition_for(other, N)})
    intake.handle(held, 0, orjson.dumps(verdict()), reread=True)
    intake.handle(partition_for(other, N), 0, orjson.dumps(verdict(other)), reread=True)
    assert len(intake.book) == 3 and intake.m.verdicts_held._value.get() == 3
    intake.take_over({partition_for(other, N)})  # `held` goes to another worker
    assert intake.book.label_at("acct-1", 200.0) is None and intake.book.label_at(other, 200.0) is False
    assert intake.book.label_at("acct-file", 200.0) is True  # not from a partition: kept
    assert len(intake.book) == 2 and intake.m.verdicts_held._value.get() == 2
    assert intake.take_over({held, partition_for(other, N)}) == [held]  # back: re-read from offset 0
    intake.handle(held, 0, orjson.dumps(verdict()), reread=True)
    assert intake.book.label_at("acct-1", 200.0) is False and len(intake.book) == 3


def test_the_cluster_stage_takes_a_forwarded_verdict_and_gives_member_verdicts() -> None:
    stage = ClusterStage(Settings(), Metrics())
    stage.handle(orjson.dumps({"analyst": verdict("cluster-x", subject_kind="cluster", verdict="malicious")}), 0.0, 0)
    assert isinstance(stage.book, ClusterBook) and stage.book.judged.verdicts.in_force("cluster-x", 200.0, "cluster")
    assert stage.changed and stage.take_given() == []  # given at its next evaluation of the cluster


def test_a_flood_of_bad_verdicts_is_one_warning_without_their_content(
        intake: VerdictIntake, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="stream_guard.stream.verdicts"):
        for offset in range(500):
            intake.handle(0, offset, b'{"reason": "secret-looking text"}')
    assert len(caplog.records) == 1 and "secret-looking" not in caplog.text
    assert counts(intake.m)["dead_lettered"] == 500
