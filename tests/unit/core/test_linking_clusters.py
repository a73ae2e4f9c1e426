"""ClusterBook (stream_guard.core.linking.clusters) and LinkingPipeline (…linking.pipeline) on hand-made links.

Link verdicts are built by hand (``LinkVerdict`` with ``MemberRow`` members); the pipeline cases start from
hand-made ``AccountProfile`` objects. Every alert is checked against the alert JSON schema.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import xxhash
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from stream_guard.contracts import validate_alert
from stream_guard.core.alerts import Cooldown, rfc3339
from stream_guard.core.linking.clusters import ClusterBook, ClusterCooldown, Pivoted, _UnionFind
from stream_guard.core.linking.index import LinkVerdict, MemberRow, Mover, PivotVerdict
from stream_guard.core.linking.pipeline import Frontier, LinkingPipeline
from stream_guard.core.linking.profile import AccountProfile
from stream_guard.settings import Settings, SettingsError

EACH = "each"  # these tests count one alert per member; grouped alerts have their own tests

ALL_DAY = 0xFFFFFF
OFFICE = sum(1 << b for b in range(8, 17))
T = 900.0
S = Settings(cluster_member_alerts=EACH, cooldown_s=3600.0)


def row(account: str, day: float = 26.0, likeness: float = 0.9, age: float = 2.0, hours: int = ALL_DAY) -> MemberRow:
    return MemberRow(account, day, likeness, age, hours)


def rows(prefix: str, n: int, **kw: Any) -> list[MemberRow]:
    return [row(f"{prefix}{i}", **kw) for i in range(n)]


def link(kind: str, value: str, at: float, members: list[MemberRow], score: float = 0.9) -> LinkVerdict:
    return LinkVerdict(kind, value, at, len(members), score, True, {"likeness": 0.86, "young_share": 1.0,
                                                                     "evenness": 1.0, "synchrony": 1.0}, members)


def seed_id(kind: str, value: str) -> str:
    return "cluster-" + xxhash.xxh3_64_hexdigest(f"{kind}\x1f{value}".encode())


def book(settings: Settings = S) -> ClusterBook:
    return ClusterBook(settings, clock=lambda: 1_772_366_400.0)


def valid(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for a in alerts:
        validate_alert(a)
    return alerts


def cluster_alerts(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in alerts if a["kind"] == "cluster" and a["detectors"] == ["cluster"]]


def member_alerts(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The members reported, one record each: a grouped alert (the default) names several."""
    out = []
    for a in alerts:
        if a["detectors"] != ["cluster_member"]:
            continue
        if a["kind"] == "account":
            out.append(a)
        else:
            out += [{**a, "kind": "account", "subject": acct, "account_ids": [acct]} for acct in a["account_ids"]]
    return out


# --- union-find and ids ------------------------------------------------------------------
def test_links_sharing_one_account_join_into_one_cluster() -> None:
    b = book()
    assert b.update([
        link("payment", "pm_a", T, rows("a", 4) + [row("x")]),
        link("ip", "10.0.0.1", T, [row("x")] + rows("b", 3)),
    ]) is None  # verdicts are applied by the next evaluate at or after their boundary
    assert b.next_pending() == T
    b.evaluate(T)
    (c,) = b.clusters
    assert c.members == ["a0", "a1", "a2", "a3", "b0", "b1", "b2", "x"]
    assert sorted((v.kind, v.value) for v in c.links) == [("ip", "10.0.0.1"), ("payment", "pm_a")]
    assert c.stats["accounts"] == 8.0 and c.stats["links"] == 2.0
    assert c.cluster_id == seed_id("ip", "10.0.0.1")  # both linked at T: ties go to (kind, value) order
    assert set(b.account_cluster) == set(c.members) and set(b.account_cluster.values()) == {c.cluster_id}


def test_disjoint_links_make_two_clusters() -> None:
    b = book()
    b.update([link("payment", "pm_a", T, rows("a", 5)), link("ip", "10.0.0.1", T, rows("b", 3))])
    b.evaluate(T)
    assert [(c.members, c.cluster_id) for c in b.clusters] == [
        (["a0", "a1", "a2", "a3", "a4"], seed_id("payment", "pm_a")),  # the larger one first
        (["b0", "b1", "b2"], seed_id("ip", "10.0.0.1")),
    ]


def test_cluster_id_stable_when_a_member_is_added() -> None:
    b = book()
    b.update([link("payment", "pm_a", T, rows("a", 5))])
    b.evaluate(T)
    (c,) = b.clusters
    cid = c.cluster_id
    b.update([link("payment", "pm_a", 2 * T, rows("a", 6)), link("client", "c1", 2 * T, [row("a5"), row("n")])])
    b.evaluate(2 * T)
    (c,) = b.clusters
    assert c.cluster_id == cid
    assert c.members == ["a0", "a1", "a2", "a3", "a4", "a5", "n"]


def test_merged_clusters_keep_the_id_with_most_members_and_split_back() -> None:
    b = book()
    big, small = seed_id("payment", "pm_b"), seed_id("client", "c2")
    assert small < big  # neither the lexicographic order nor the earlier link favours the big one
    b.update([link("client", "c2", T, rows("s", 3))])
    b.evaluate(T)
    b.update([link("payment", "pm_b", 2 * T, rows("g", 6))])
    b.evaluate(2 * T)
    assert [c.cluster_id for c in b.clusters] == [big, small]
    bridge = link("ip", "10.0.0.2", 3 * T, [row("g0"), row("s0")])
    b.update([bridge])
    b.evaluate(3 * T)
    (c,) = b.clusters
    assert c.cluster_id == big and len(c.members) == 9
    # the bridge stops linking: the small part gets its id back from its own earliest link
    b.update([LinkVerdict("ip", "10.0.0.2", 4 * T, 2, 0.1, False, {}, [])])
    b.evaluate(4 * T)
    assert [(c.cluster_id, len(c.members)) for c in b.clusters] == [(big, 6), (small, 3)]


def test_links_decay_after_ttl_and_the_cluster_goes() -> None:
    ttl = 3600.0
    b = book(Settings(cluster_member_alerts=EACH, cooldown_s=3600.0, link_ttl_s=ttl))
    b.update([link("payment", "pm_a", T, rows("a", 5))])
    assert len(cluster_alerts(b.evaluate(T))) == 1
    b.evaluate(T + ttl)  # exactly at the horizon: still there
    assert [len(c.members) for c in b.clusters] == [5]
    assert b.evaluate(T + ttl + 1) == []
    assert b.clusters == [] and b.links == {} and b.account_cluster == {}


def test_refreshed_link_does_not_decay() -> None:
    ttl = 3600.0
    b = book(Settings(cluster_member_alerts=EACH, cooldown_s=3600.0, link_ttl_s=ttl))
    b.update([link("payment", "pm_a", T, rows("a", 5))])
    b.evaluate(T)
    b.update([link("payment", "pm_a", T + ttl, rows("a", 5))])
    b.evaluate(T + ttl + 1)
    assert [len(c.members) for c in b.clusters] == [5]


def test_unlinked_verdict_removes_the_link() -> None:
    b = book()
    b.update([link("payment", "pm_a", T, rows("a", 5))])
    b.update([LinkVerdict("payment", "pm_a", 2 * T, 5, 0.2, False, {}, [])])
    assert b.evaluate(2 * T) == [] and b.clusters == []


# --- alerting thresholds -------------------------------------------------------------------
def test_cluster_below_min_accounts_gives_no_alert() -> None:
    b = book()
    assert S.cluster_min_accounts == 5
    b.update([link("payment", "pm_a", T, rows("a", 4))])
    assert b.evaluate(T) == []
    (c,) = b.clusters
    assert len(c.members) == 4 and c.score >= S.cluster_min_score  # only the size holds it back


def test_cluster_below_min_score_gives_no_alert() -> None:
    b = book()
    ordinary = [row(f"o{i}", day=d, likeness=0.1, age=400.0, hours=OFFICE >> (i % 3))
                for i, d in enumerate([2.0, 6.0, 15.0, 40.0, 120.0, 400.0])]
    b.update([link("payment", "pm_a", T, ordinary, score=0.5)])
    assert b.evaluate(T) == []
    (c,) = b.clusters
    assert len(c.members) == 6 and c.score < S.cluster_min_score


def test_cluster_score_by_hand() -> None:
    b = book()
    b.update([link("payment", "pm_a", T, rows("a", 6), score=0.5)])
    b.evaluate(T)
    (c,) = b.clusters
    likeness = round((6 * 26 * 0.9 + 2.5) / (6 * 26 + 10), 4)
    assert c.score == round(0.4 * 0.5 + 0.6 * (0.4 * likeness + 0.25 + 0.2 + 0.15), 4) == 0.7666
    assert c.stats["strongest_link"] == 0.5 and c.stats["pivot_share"] == 0.0


# --- alert shapes ----------------------------------------------------------------------------
def test_cluster_alert_shape_and_member_alerts() -> None:
    b = book()
    members = rows("a", 5) + [row("weak", likeness=0.2)]
    b.update([link("payment", "pm_a", T, members), link("user_agent", "sdk/1.0", T, rows("a", 3), score=0.5)])
    alerts = valid(b.evaluate(T))
    (c,) = b.clusters
    assert len(alerts) == 1 + 6
    cluster = alerts[0]
    assert cluster["kind"] == "cluster" and cluster["subject"] == c.cluster_id
    assert cluster["detectors"] == ["cluster"]
    assert cluster["account_ids"] == ["a0", "a1", "a2", "a3", "a4", "weak"] and cluster["account_count"] == 6
    assert cluster["severity"] == "critical" and cluster["score"] == c.score
    assert (cluster["window_start"], cluster["window_end"], cluster["raised_at"]) == (
        rfc3339(T - S.link_ttl_s), rfc3339(T), rfc3339(T))
    assert [r["signal"] for r in cluster["reasons"]] == [
        "cluster_accounts", "shared_payment", "shared_user_agent", "likeness_mean", "young_share", "evenness",
        "synchrony"]
    assert cluster["reasons"][0]["value"] == 6
    assert cluster["evidence"]["shared"] == {"payment": 1, "user_agent": 1}
    assert cluster["evidence"]["accounts"] == 6.0
    per_member = member_alerts(alerts)
    assert [a["subject"] for a in per_member] == ["a0", "a1", "a2", "a3", "a4", "weak"]
    for a in per_member:
        assert a["kind"] == "account" and a["account_ids"] == [a["subject"]] and a["account_count"] == 1
        assert a["score"] == c.score and a["evidence"]["cluster_id"] == c.cluster_id
        assert a["evidence"]["cluster_accounts"] == 6
    assert {a["subject"]: a["severity"] for a in per_member} == {
        "a0": "critical", "a1": "critical", "a2": "critical", "a3": "critical", "a4": "critical", "weak": "high"}
    assert per_member[-1]["evidence"]["likeness"] == 0.2


def test_cluster_alert_one_reason_per_shared_kind_strongest_first() -> None:
    b = book()
    b.update([
        link("payment", "pm_a", T, rows("a", 6), score=0.6),
        link("payment", "pm_b", T, rows("a", 3), score=0.95),
        link("ip", "10.0.0.1", T, rows("a", 4), score=0.8),
    ])
    (cluster,) = cluster_alerts(valid(b.evaluate(T)))
    shared = [r for r in cluster["reasons"] if r["signal"].startswith("shared_")]
    assert [(r["signal"], r["value"]) for r in shared] == [("shared_payment", 3), ("shared_ip", 4)]
    assert shared[0]["detail"].startswith("payment pm_b shared by 3 accounts (link score 0.95")
    assert shared[0]["detail"].endswith("; 1 more payment values link members")
    assert "more" not in shared[1]["detail"]
    assert cluster["evidence"]["shared"] == {"ip": 1, "payment": 2}


@pytest.mark.parametrize(("link_score", "severity"), [(0.1, "low"), (0.3, "medium"), (0.6, "high"), (0.9, "critical")])
def test_cluster_severity_bands(link_score: float, severity: str) -> None:
    b = book()
    b.update([link("payment", "pm_a", T, rows("a", 5) + [row("weak", likeness=0.2)], score=link_score)])
    alerts = valid(b.evaluate(T))
    # aggregate 0.4 * 0.7512 + 0.25 + 0.2 + 0.15 = 0.9005: score = 0.4 * link_score + 0.5403
    assert alerts[0]["score"] == round(0.4 * link_score + 0.6 * (0.4 * 0.7512 + 0.6), 4)
    assert alerts[0]["severity"] == severity
    weak = next(a for a in alerts if a["subject"] == "weak")
    assert weak["severity"] == {"low": "low", "medium": "low", "high": "medium", "critical": "high"}[severity]


def test_cluster_severity_bands_and_member_step_follow_the_settings() -> None:
    members = rows("a", 5) + [row("weak", likeness=0.2)]
    shifted = Settings(cluster_member_alerts=EACH, cooldown_s=3600.0, cluster_critical_score=0.95,
                       cluster_high_score=0.9,
                       cluster_medium_score=0.85, cluster_member_min_likeness=0.1)
    b = book(shifted)
    b.update([link("payment", "pm_a", T, members, score=0.9)])  # score 0.9003: critical by default
    alerts = valid(b.evaluate(T))
    assert alerts[0]["score"] == 0.9003 and alerts[0]["severity"] == "high"
    assert next(a for a in alerts if a["subject"] == "weak")["severity"] == "high"  # 0.2 >= 0.1: no step down


def test_cluster_score_weights_follow_the_settings() -> None:
    s = Settings(cluster_member_alerts=EACH, cooldown_s=3600.0, cluster_link_weight=1.0, link_likeness_gate=0.1,
                 cluster_evidence_weights="likeness=1,young_share=0,evenness=0,synchrony=0")
    b = book(s)
    b.update([link("payment", "pm_a", T, rows("a", 6), score=0.5)])
    b.evaluate(T)
    assert b.clusters[0].score == 0.5  # the strongest link alone
    b = book(Settings(cluster_member_alerts=EACH, cooldown_s=3600.0, cluster_link_weight=0.0,
                      cluster_evidence_weights="likeness=0,young_share=1,evenness=0,synchrony=0"))
    b.update([link("payment", "pm_a", T, rows("a", 6), score=0.5)])
    b.evaluate(T)
    assert b.clusters[0].score == 1.0  # every member young


def test_account_ids_capped_but_account_count_exact() -> None:
    b = book(Settings(cluster_member_alerts=EACH, cluster_alert_max_ids=3))
    b.update([link("payment", "pm_a", T, rows("a", 7))])
    alerts = valid(b.evaluate(T))
    (cluster,) = cluster_alerts(alerts)
    assert cluster["account_ids"] == ["a0", "a1", "a2"] and cluster["account_count"] == 7
    assert len(member_alerts(alerts)) == 7  # every member still reported on its own


# --- cooldown, escalation, growth ----------------------------------------------------------------
def test_cooldown_suppresses_repeat_until_it_expires() -> None:
    b = book()
    b.update([link("payment", "pm_a", T, rows("a", 6))])
    first = valid(b.evaluate(T))
    assert len(first) == 7
    for at in (2 * T, T + S.cooldown_s - 1):
        b.update([link("payment", "pm_a", at, rows("a", 6))])
        assert b.evaluate(at) == []
    b.update([link("payment", "pm_a", T + S.cooldown_s, rows("a", 6))])
    again = valid(b.evaluate(T + S.cooldown_s))
    assert len(cluster_alerts(again)) == 1 and len(member_alerts(again)) == 6
    assert again[0]["alert_id"] != first[0]["alert_id"]  # a new window


def test_severity_rise_escalates_within_cooldown_and_fall_does_not() -> None:
    b = book()
    b.update([link("payment", "pm_a", T, rows("a", 6), score=0.3)])
    assert [a["severity"] for a in cluster_alerts(b.evaluate(T))] == ["medium"]
    b.update([link("payment", "pm_a", 2 * T, rows("a", 6), score=0.5)])
    alerts = valid(b.evaluate(2 * T))
    assert [a["severity"] for a in cluster_alerts(alerts)] == ["high"]
    assert {a["severity"] for a in member_alerts(alerts)} == {"high"} and len(member_alerts(alerts)) == 6
    b.update([link("payment", "pm_a", 3 * T, rows("a", 6), score=0.3)])
    assert b.evaluate(3 * T) == []


def test_growth_by_factor_realerts_within_cooldown() -> None:
    b = book()
    assert (S.cluster_growth_factor, S.cluster_min_accounts) == (1.5, 5)
    b.update([link("payment", "pm_a", T, rows("a", 6))])
    assert len(cluster_alerts(b.evaluate(T))) == 1
    b.update([link("payment", "pm_a", 2 * T, rows("a", 8))])  # 8 < 6 * 1.5
    # no cluster alert (cooling down), but the two accounts that joined are reported
    alerts = valid(b.evaluate(2 * T))
    assert cluster_alerts(alerts) == [] and [a["subject"] for a in member_alerts(alerts)] == ["a6", "a7"]
    b.update([link("payment", "pm_a", 3 * T, rows("a", 9))])  # 9 >= 9, but only 3 more (< 5)
    assert [a["subject"] for a in valid(b.evaluate(3 * T))] == ["a8"]
    b.update([link("payment", "pm_a", 4 * T, rows("a", 11))])  # 11 >= 9 and 5 more
    alerts = valid(b.evaluate(4 * T))
    (cluster,) = cluster_alerts(alerts)
    assert cluster["account_count"] == 11 and cluster["severity"] == "critical"
    growth = [r for r in cluster["reasons"] if r["signal"] == "cluster_growth"]
    assert growth == [{"signal": "cluster_growth", "value": 5, "threshold": "x1.5",
                       "detail": "grew from 6 accounts since its last alert"}]
    # members already reported are cooling down: only the new ones get member alerts
    assert [a["subject"] for a in member_alerts(alerts)] == ["a10", "a9"]
    # the growth baseline moved to 11: two more is no growth (the two are still reported, and
    # the first six again: their own member alerts were raised more than cooldown_s ago)
    b.update([link("payment", "pm_a", 5 * T, rows("a", 13))])
    alerts = b.evaluate(5 * T)
    assert 5 * T - T >= S.cooldown_s > 5 * T - 2 * T
    assert cluster_alerts(alerts) == []
    assert sorted(a["subject"] for a in alerts) == sorted(["a0", "a1", "a2", "a3", "a4", "a5", "a11", "a12"])


def test_no_growth_reason_on_first_alert_or_after_cooldown() -> None:
    b = book()
    b.update([link("payment", "pm_a", T, rows("a", 6))])
    alerts = b.evaluate(T)
    assert "cluster_growth" not in [r["signal"] for r in alerts[0]["reasons"]]
    b.update([link("payment", "pm_a", T + S.cooldown_s, rows("a", 7))])
    alerts = b.evaluate(T + S.cooldown_s)
    assert "cluster_growth" not in [r["signal"] for r in alerts[0]["reasons"]]


# --- model pivots ---------------------------------------------------------------------------------
def test_model_pivot_alerts_only_for_extraction_like_movers() -> None:
    b = book()
    pivot = PivotVerdict("m-new", 4500.0, 5400.0, [
        Mover("p1", 0.9, 600.0, 30.0, 0.8, 3.0),   # extraction-like, sped up: high
        Mover("p2", 0.9, 600.0, 30.0, 0.4, 3.0),   # a fast benign adopter: evidence only
        Mover("p3", 1.0, 0.0, 25.0, 0.6, 1.0),     # medium
        Mover("p4", 0.5, 900.0, 20.0, 0.75, 1.5),  # likeness >= 0.7 but no speedup: medium
    ])
    b.update([pivot])
    alerts = valid(b.evaluate(5400.0))  # no links: only the pivot alerts
    assert [(a["subject"], a["severity"], a["score"]) for a in alerts] == [
        ("p1", "high", round(0.5 + 0.5 * 0.8 * 0.9, 4)),
        ("p3", "medium", 0.8),
        ("p4", "medium", round(0.5 + 0.5 * 0.75 * 0.5, 4)),
    ]
    for a in alerts:
        assert a["kind"] == "account" and a["detectors"] == ["model_pivot"] and a["account_ids"] == [a["subject"]]
        assert a["evidence"]["model"] == "m-new"
        assert (a["window_start"], a["window_end"]) == (rfc3339(4500.0), rfc3339(5400.0))
    assert set(b.pivoted) == {"p1", "p2", "p3", "p4"}
    # the same pivot again, within the cooldown: nothing new
    b.update([PivotVerdict("m-new", 4500.0, 6300.0, pivot.movers)])
    assert b.evaluate(6300.0) == []


def test_model_pivot_cut_offs_follow_the_settings() -> None:
    b = book(Settings(cluster_member_alerts=EACH, cooldown_s=3600.0, pivot_min_likeness=0.3, pivot_high_likeness=0.6,
                      pivot_high_speedup=1.0))
    b.update([PivotVerdict("m-new", 4500.0, 5400.0, [
        Mover("p2", 0.9, 600.0, 30.0, 0.4, 3.0),   # alerted now: likeness 0.4 >= 0.3
        Mover("p3", 1.0, 0.0, 25.0, 0.6, 1.0),     # high now: 0.6 and a speedup of 1
    ])])
    alerts = valid(b.evaluate(5400.0))
    assert [(a["subject"], a["severity"]) for a in alerts] == [("p2", "medium"), ("p3", "high")]
    assert [r["threshold"] for r in alerts[0]["reasons"] if r["signal"] == "likeness"] == [0.3]


def test_pivoted_members_add_pivot_share_to_their_cluster() -> None:
    b = book()
    b.update([PivotVerdict("m-new", 4500.0, 4500.0, [Mover("a0", 0.9, 0.0, 30.0, 0.9, 1.0),
                                                      Mover("a1", 0.9, 0.0, 30.0, 0.4, 1.0)])])
    b.update([link("payment", "pm_a", 4500.0, rows("a", 6))])
    alerts = valid(b.evaluate(4500.0))
    (cluster,) = cluster_alerts(alerts)
    assert cluster["evidence"]["pivot_share"] == round(2 / 6, 4)
    assert [r["value"] for r in cluster["reasons"] if r["signal"] == "pivot_share"] == [round(2 / 6, 4)]
    # a0 had its model_pivot alert already: its member alert is a separate detector, still raised
    assert "a0" in [a["subject"] for a in member_alerts(alerts)]


# --- pipeline -------------------------------------------------------------------------------
def profile(account: str, at: float, values: list[tuple[str, str, int]], *, requests: int = 3, day: float = 26.0,
            likeness: float = 0.9, age: float = 2.0, hours: int = ALL_DAY) -> AccountProfile:
    return AccountProfile(account, at, requests, values, day, likeness, age, hours)


def test_pipeline_hydra_end_to_end() -> None:
    pipe = LinkingPipeline(Settings(cluster_member_alerts=EACH), clock=lambda: 1_772_366_400.0)
    hydra = [f"h{i}" for i in range(6)]
    pipe.feed(profile(a, T, [("asn", "64500", 3), ("model", "m", 3), ("payment", "pm_x", 3),
                             ("user_agent", "sdk/1.0", 3)]) for a in hydra)
    volumes = [3.0, 5.0, 8.0, 12.0, 20.0, 40.0, 90.0, 400.0]
    pipe.feed(profile(f"emp{i}", T, [("ip", "198.51.100.1", 2), ("payment", "pm_corp", 2), ("model", "m", 2)],
                      day=d, likeness=0.05, age=400.0 + i, hours=OFFICE >> (i % 2))
              for i, d in enumerate(volumes))
    alerts = valid(pipe.advance(T))
    (cluster,) = cluster_alerts(alerts)
    assert cluster["subject"] == seed_id("payment", "pm_x")
    assert cluster["account_ids"] == hydra and cluster["account_count"] == 6
    assert cluster["evidence"]["shared"] == {"payment": 1}
    assert [a["subject"] for a in member_alerts(alerts)] == hydra
    assert len(alerts) == 7
    assert pipe.advance(T) == []  # same boundary: once
    assert pipe.advance(T - 900) == []  # an older one too
    assert pipe.advance(2 * T) == []  # nothing new, cooling down


def test_pipeline_model_release_pivot_alert() -> None:
    pipe = LinkingPipeline(Settings(cluster_member_alerts=EACH), clock=lambda: 1_772_366_400.0)
    pipe.feed([profile(f"o{i}", T, [("model", "m-old", 30)], requests=30, likeness=0.1, age=300.0) for i in range(3)])
    assert pipe.advance(T) == []
    release = T + 3600.0
    pipe.feed([profile("mover", release, [("model", "m-new", 30)], requests=30, likeness=0.8),
               profile("adopter", release, [("model", "m-new", 30)], requests=30, likeness=0.1, age=300.0)])
    alerts = valid(pipe.advance(release))
    assert [(a["subject"], a["detectors"], a["severity"]) for a in alerts] == [("mover", ["model_pivot"], "medium")]
    assert set(pipe.book.pivoted) == {"mover", "adopter"}


def test_frontier_minimum_over_active_sources() -> None:
    f = Frontier(idle_s=10.0)
    assert f.value(now=0.0) is None
    f.update("w1", 1800.0, now=0.0)
    f.update("w2", 900.0, now=0.0)
    f.update("w2", 450.0, now=1.0)  # never goes back
    assert f.value(now=5.0) == 900.0
    f.update("w1", 2700.0, now=9.0)
    assert f.value(now=10.5) == 900.0  # w2 last heard at 1.0: still active
    assert f.value(now=11.0) == 2700.0  # w2 silent for 10 s: no longer holds it back
    assert f.value(now=19.5) is None


def test_account_joining_an_alerted_cluster_within_cooldown_gets_a_member_alert() -> None:
    b = book()
    b.update([link("payment", "pm_a", T, rows("a", 6))])
    assert len(member_alerts(b.evaluate(T))) == 6
    b.update([link("payment", "pm_a", 2 * T, rows("a", 7))])
    alerts = valid(b.evaluate(2 * T))
    assert cluster_alerts(alerts) == []  # the cluster itself is cooling down: fine
    assert [a["subject"] for a in member_alerts(alerts)] == ["a6"]


def test_pipeline_benign_young_team_on_a_company_card_raises_no_alert() -> None:
    pipe = LinkingPipeline(Settings(cluster_member_alerts=EACH), clock=lambda: 1_772_366_400.0)
    volumes = [8.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 18.0, 20.0] * 2
    pipe.feed(profile(f"new{i}", T, [("ip", "198.51.100.1", 2), ("payment", "pm_corp", 2)], requests=2, day=d,
                      likeness=0.1, age=3.0, hours=OFFICE if i % 3 else OFFICE << 1)
              for i, d in enumerate(volumes))
    assert pipe.advance(T) == []


def test_cluster_ids_unique_when_a_seed_value_relinks_a_new_group() -> None:
    b = book()
    b.update([link("ip", "10.0.0.1", T, rows("a", 6))])
    assert len(cluster_alerts(b.evaluate(T))) == 1  # id seeded by the ip link
    b.update([link("payment", "pm_a", 2 * T, rows("a", 6))])
    b.evaluate(2 * T)
    b.update([LinkVerdict("ip", "10.0.0.1", 3 * T, 0, 0.0, False, {}, [])])  # a* stay linked by the card
    b.evaluate(3 * T)
    assert [c.cluster_id for c in b.clusters] == [seed_id("ip", "10.0.0.1")]
    b.update([link("ip", "10.0.0.1", 4 * T, rows("b", 5))])  # the ip now links a different group
    alerts = valid(b.evaluate(4 * T))
    ids = [c.cluster_id for c in b.clusters]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert [a["account_ids"] for a in cluster_alerts(alerts)] == [["b0", "b1", "b2", "b3", "b4"]]


# --- checkpoints --------------------------------------------------------------------------------
def test_export_keeps_gates_and_pivots_as_json_arrays_and_load_gives_the_records_back() -> None:
    """The cooldown and pivot records are named tuples in memory and the same arrays as ever in
    a checkpoint (and on the links topic)."""
    b = book()
    b.update([link("payment", "pm_a", T, rows("a", 5)),
              PivotVerdict("m-new", 0.0, T, [Mover("a0", 0.9, 0.0, 30.0, 0.9, 1.0)])])
    alerts = b.evaluate(T)
    (cluster,) = cluster_alerts(alerts)
    cid, rank = cluster["subject"], ["low", "medium", "high", "critical"].index(cluster["severity"])
    assert b.cluster_gate == {cid: ClusterCooldown(float(rank), T + S.cooldown_s, 5.0)}
    assert b.member_gates["model_pivot"]["a0"] == Cooldown(1.0, T + S.cooldown_s)  # medium
    assert b.pivoted["a0"] == Pivoted("m-new", 0.9, 0.0, 30.0, 0.9, 1.0, T)
    data = orjson.loads(orjson.dumps(b.export()))  # what a checkpoint holds
    assert data["cluster_gate"] == {cid: [float(rank), T + S.cooldown_s, 5.0]}
    assert data["member_gate"]["a0"] == {"model_pivot": [1.0, T + S.cooldown_s],
                                         "cluster_member": [float(rank), T + S.cooldown_s]}
    assert data["pivoted"] == {"a0": ["m-new", 0.9, 0.0, 30.0, 0.9, 1.0, T]}
    assert data["links"][0]["members"]["accounts"] == [f"a{i}" for i in range(5)]  # members as columns
    again = book()
    again.load(data)
    assert again.export() == b.export()
    assert (again.cluster_gate, again.member_gates, again.pivoted) == (b.cluster_gate, b.member_gates, b.pivoted)
    assert type(again.cluster_gate[cid]) is ClusterCooldown and type(again.pivoted["a0"]) is Pivoted
    assert type(again.member_gates["model_pivot"]["a0"]) is Cooldown
    assert type(again.links[("payment", "pm_a")].members[0]) is MemberRow
    b.update([link("payment", "pm_a", 2 * T, rows("a", 5))])
    again.update([link("payment", "pm_a", 2 * T, rows("a", 5))])
    assert again.evaluate(2 * T) == b.evaluate(2 * T)


_ACCOUNT_LISTS = st.lists(st.lists(st.sampled_from([f"a{i}" for i in range(12)]), max_size=6), max_size=8)


@given(_ACCOUNT_LISTS)
@hyp_settings(max_examples=300, deadline=None)
def test_union_find_gives_the_connected_components(lists: list[list[str]]) -> None:
    # _UnionFind.union joins a link's new accounts in bulk: its sets must be the components
    # of the graph that links every account of a list to the others (reference: a plain search)
    uf = _UnionFind()
    for accounts in lists:
        uf.union(accounts)
    neighbours: dict[str, set[str]] = {}
    for accounts in lists:
        for a in accounts:
            neighbours.setdefault(a, set()).update(accounts)
    expected: set[frozenset[str]] = set()
    seen: set[str] = set()
    for start in neighbours:
        if start in seen:
            continue
        component, todo = set(), [start]
        while todo:
            a = todo.pop()
            if a not in component:
                component.add(a)
                todo += neighbours[a]
        seen |= component
        expected.add(frozenset(component))
    got: dict[str, set[str]] = {}
    for a in uf.parent:
        got.setdefault(uf.find(a), set()).add(a)
    assert {frozenset(c) for c in got.values()} == expected


def _normal(data: dict[str, Any]) -> dict[str, Any]:
    """An export with its lists in key order (a restored book may hold its dicts in another
    order; nothing the book does depends on it)."""
    out = orjson.loads(orjson.dumps(data))
    out["links"] = sorted(out["links"], key=lambda v: (v["kind"], v["value"]))
    out["linked_since"] = sorted(out["linked_since"])
    return out


def test_a_whole_checkpoint_and_the_changes_after_it_restore_the_book_at_every_step() -> None:
    # clusters forming, growing, merging and splitting, links refreshed, unlinked and decayed,
    # pivots (extraction-like and not) and their expiry, member gates set and dropped: the
    # whole book once, then only its changes; at every step a fresh book from the whole one
    # plus the changes so far equals the live one and raises the same alerts next
    s = Settings(cluster_member_alerts=EACH, cooldown_s=2 * T, link_ttl_s=3 * T)
    b = book(s)
    base = orjson.loads(orjson.dumps(b.checkpoint_data(changes=False)))
    deltas: list[dict[str, Any]] = []
    plan: dict[int, list[LinkVerdict | PivotVerdict]] = {
        1: [link("payment", "pm_a", T, rows("a", 5)), link("ip", "10.0.0.1", T, rows("b", 4))],
        2: [link("payment", "pm_a", 2 * T, rows("a", 8)),
            PivotVerdict("m-new", 0.0, 2 * T, [Mover("a0", 0.9, 0.0, 30.0, 0.9, 3.0),
                                                Mover("z", 0.9, 0.0, 3.0, 0.1, 1.0)])],
        3: [link("client", "cl_x", 3 * T, [row("a7"), row("b0"), row("c0"), row("c1")])],  # merges a and b
        4: [LinkVerdict("client", "cl_x", 4 * T, 0, 0.2, False, {}, [])],  # unlinked: splits them again
        5: [link("payment", "pm_c", 5 * T, rows("c", 6, likeness=0.3))],
        6: [], 7: [], 8: [link("payment", "pm_a", 8 * T, rows("a", 3))],  # decayed, back smaller
    }
    live_alerts = 0
    for k in range(1, 10):
        at = k * T
        b.update(plan.get(k, []))
        if k == 5:
            b.update([link("ip", "10.0.0.9", 6 * T, rows("d", 5))])  # a verdict of a later boundary: pending
        live_alerts += len(b.evaluate(at))
        deltas.append(orjson.loads(orjson.dumps(b.checkpoint_data(changes=True))))
        again = book(s)
        again.load(base)
        for d in deltas:
            again.apply_changes(d)
        assert _normal(again.export()) == _normal(b.export()), f"after interval {k}"
        probe = [link("payment", "pm_a", at + T, rows("a", 9))]
        again.update(probe)
        twin = book(s)
        twin.load(orjson.loads(orjson.dumps(b.export())))
        twin.update(probe)
        assert again.evaluate(at + T) == twin.evaluate(at + T), f"after interval {k}"
    assert live_alerts > 0
    kinds = [(bool(d["links"]), bool(d["pivoted"]), bool(d["account_cluster"]), bool(d["member_gate"])) for d in deltas]
    assert all(any(k[i] for k in kinds) for i in range(4)), "every part should have changed at some step"
    assert any(v[2] is None for d in deltas for v in d["links"]), "a link should have gone"
    assert any(g[2] is None for d in deltas for g in d["member_gate"]), "a member gate should have been dropped"
    assert any(c is None for d in deltas for c in d["account_cluster"].values()), "an account should have left"
    assert any(p is None for d in deltas for p in d["pivoted"].values()), "a pivot should have expired"


def test_a_pass_of_changes_holds_only_what_changed() -> None:
    b = book()
    b.update([link("payment", "pm_a", T, rows("a", 5)), link("ip", "10.0.0.1", T, rows("b", 5))])
    b.evaluate(T)
    b.checkpoint_data(changes=False)
    assert b.export_changes()["links"] == []  # nothing since
    b.update([link("ip", "10.0.0.1", 2 * T, rows("b", 6))])
    b.evaluate(2 * T)
    changes = b.export_changes()
    assert [(k, v) for k, v, _, _ in changes["links"]] == [("ip", "10.0.0.1")]
    assert set(changes["account_cluster"]) == {"b5"}
    assert {a for _, a, _ in changes["member_gate"]} == {"b5"}  # the new member's alert gate
    assert changes["pivoted"] == {}


def test_changes_are_counted_only_from_the_first_whole_pass_on() -> None:
    # replay and the tests take no checkpoints: a book must not gather every key it ever
    # changed; a pass of changes before any whole pass is refused (it would miss them)
    b = book()
    b.update([link("payment", "pm_a", T, rows("a", 5))])
    b.evaluate(T)
    assert not b.changed.links and not b.changed.clusters and not b.changed.gates
    with pytest.raises(RuntimeError, match="whole"):
        b.export_changes()
    b.checkpoint_data(changes=False)
    b.update([link("payment", "pm_a", 2 * T, rows("a", 6))])
    b.evaluate(2 * T)
    assert b.changed.links == {("payment", "pm_a")} and b.changed.clusters == {"a5"}
    again = book()
    again.load(orjson.loads(orjson.dumps(b.export())))  # a restored book counts from its load
    again.update([link("ip", "10.0.0.1", 3 * T, rows("b", 5))])
    again.evaluate(3 * T)
    assert [(k, v) for k, v, _, _ in again.export_changes()["links"]] == [("ip", "10.0.0.1")]


# --- grouped member alerts (the default) -----------------------------------------------------
def test_members_are_reported_in_one_alert_per_severity_by_default() -> None:
    b = book(Settings(cooldown_s=3600.0))
    members = rows("a", 5) + [row("weak", likeness=0.2)]
    b.update([link("payment", "pm_a", T, members)])
    alerts = valid(b.evaluate(T))
    (c,) = b.clusters
    grouped = [a for a in alerts if a["detectors"] == ["cluster_member"]]
    assert [a["kind"] for a in alerts] == ["cluster"] * 3
    assert [(a["severity"], a["account_ids"]) for a in grouped] == [
        ("critical", ["a0", "a1", "a2", "a3", "a4"]), ("high", ["weak"])]  # a weak likeness: one step lower
    assert all(a["subject"] == c.cluster_id and a["evidence"]["cluster_id"] == c.cluster_id for a in grouped)
    assert grouped[0]["account_count"] == 5 and grouped[0]["evidence"]["members_reported"] == 5
    # the same members as one alert each would be, with the same gates: nothing again at once
    each = book(Settings(cooldown_s=3600.0, cluster_member_alerts="each"))
    each.update([link("payment", "pm_a", T, members)])
    assert sorted((a["subject"], a["severity"]) for a in member_alerts(alerts)) == sorted(
        (a["subject"], a["severity"]) for a in member_alerts(each.evaluate(T)))
    assert b.member_gates == each.member_gates
    assert member_alerts(b.evaluate(T + 900)) == []


def test_members_joining_later_are_reported_in_one_alert_not_one_each() -> None:
    b = book(Settings(cooldown_s=3600.0))
    b.update([link("payment", "pm_a", T, rows("a", 6))])
    b.evaluate(T)
    b.update([link("payment", "pm_a", T + 900, rows("a", 8))])  # two joined: no growth by 1.5x
    later = valid(b.evaluate(T + 900))
    assert [(a["detectors"], a["account_ids"]) for a in later] == [(["cluster_member"], ["a6", "a7"])]


def test_a_large_group_is_split_into_parts_with_their_own_ids() -> None:
    b = book(Settings(cooldown_s=3600.0, cluster_alert_max_ids=4))
    b.update([link("payment", "pm_a", T, rows("a", 10))])
    grouped = [a for a in valid(b.evaluate(T)) if a["detectors"] == ["cluster_member"]]
    assert [len(a["account_ids"]) for a in grouped] == [4, 4, 2]
    assert [(a["evidence"]["part"], a["evidence"]["parts"]) for a in grouped] == [(1, 3), (2, 3), (3, 3)]
    assert len({a["alert_id"] for a in grouped}) == 3
    assert sorted(x for a in grouped for x in a["account_ids"]) == sorted(f"a{i}" for i in range(10))


def test_cluster_member_alerts_setting_is_checked() -> None:
    with pytest.raises(SettingsError, match="cluster_member_alerts"):
        Settings.from_env({"STREAM_GUARD_CLUSTER_MEMBER_ALERTS": "some"})
