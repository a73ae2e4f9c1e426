"""Metrics.report_lag: the per-partition lag gauges follow the broker probe's answer."""

from __future__ import annotations

import itertools

from prometheus_client.parser import text_string_to_metric_families
from stream_guard.metrics import Metrics

LAG_FAMILIES = (
    "stream_guard_consumer_lag_messages",
    "stream_guard_consumer_committed_lag_messages",
    "stream_guard_consumer_commit_stalled_seconds",
)


def lag_samples(m: Metrics) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {name: {} for name in LAG_FAMILIES}
    for family in text_string_to_metric_families(m.exposition().decode()):
        if family.name in out:
            for s in family.samples:
                out[family.name][s.labels["partition"]] = s.value
    return out


def test_report_lag_sets_the_three_gauges_per_partition() -> None:
    m = Metrics()
    m.report_lag({0: (5, 140_900, 300.0), 3: (0, 12, 1.5)})
    assert lag_samples(m) == {
        "stream_guard_consumer_lag_messages": {"0": 5, "3": 0},
        "stream_guard_consumer_committed_lag_messages": {"0": 140_900, "3": 12},
        "stream_guard_consumer_commit_stalled_seconds": {"0": 300.0, "3": 1.5},
    }


def test_partitions_no_longer_reported_lose_their_series() -> None:
    """A revoked partition must not keep its last value (a frozen committed lag would page
    the worker that gave it up, and sums over workers would count it twice)."""
    m = Metrics()
    m.report_lag({0: (1, 2, 3.0), 1: (4, 5, 6.0)})
    m.report_lag({1: (7, 8, 9.0)})
    assert lag_samples(m) == {name: {"1": v} for name, v in zip(LAG_FAMILIES, (7, 8, 9.0), strict=True)}
    m.report_lag({})
    assert lag_samples(m) == {name: {} for name in LAG_FAMILIES}
    m.report_lag({0: (0, 0, 0.0)})
    assert lag_samples(m)["stream_guard_consumer_committed_lag_messages"] == {"0": 0}


def test_alert_series_are_pre_created_under_the_same_names() -> None:
    """Every (kind, severity, detector) series of stream_guard_alerts_total exists from the
    start (the names come from core/vocabulary.py; written out here so that a rename shows)."""
    severities = ("low", "medium", "high", "critical")
    per_account = ("evidence_score", "pattern_rule", "population_model", "supervised_model", "volume_rule")
    combos = ["+".join(c) for n in range(1, 6) for c in itertools.combinations(per_account, n)]
    account = (*combos, "cluster_member", "cluster_verdict", "mixture_rule", "model_pivot")
    assert "evidence_score+population_model" in combos and len(combos) == 31
    expected = {("account", s, d) for s in severities for d in account}
    expected |= {("cluster", s, d) for s in severities for d in ("cluster", "cluster_member")}
    got = set()
    for family in text_string_to_metric_families(Metrics().exposition().decode()):
        if family.name == "stream_guard_alerts":
            got |= {(s.labels["kind"], s.labels["severity"], s.labels["detector"]) for s in family.samples}
    assert got == expected
