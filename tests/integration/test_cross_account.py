"""Cross-account detection end to end: the real `stream-guard worker` on the real Kafka
broker re-keys profiles by attribute value through its internal topics, links a small
hydra into a cluster and alerts it, while a corporate NAT that shares an address, a card
and a proxy fingerprint is left alone."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from stream_guard.contracts import validate_alert
from traffic import START, hydra_events, nat_events, to_messages

from harness_common import WorkerProcess, consume_all, create_topics, metric, produce, unique_names, wait_for

PARTITIONS = 4
HYDRA = 30
SPAN_S = 4 * 3600


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("cross")
    names = unique_names("cross")
    create_topics(kafka_bootstrap, [names["STREAM_GUARD_INPUT_TOPIC"]], PARTITIONS)
    hydra = hydra_events(HYDRA, START, SPAN_S, every_s=600.0, seed=11)
    nat = nat_events(25, START, SPAN_S, per_hour=20, seed=12)
    env = {**names, "STREAM_GUARD_TOPIC_PARTITIONS": str(PARTITIONS)}
    worker = WorkerProcess(kafka_bootstrap, env, tmp / "data", tmp / "worker.log").start()
    try:
        produce(kafka_bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], to_messages(hydra + nat, batch=10))
        total = len(hydra) + len(nat)
        wait_for(lambda: metric(worker.metrics(), "stream_guard_events_total", outcome="processed") >= total,
                 timeout=120, what=f"{total} events processed")
        wait_for(lambda: metric(worker.metrics(), "stream_guard_clusters") >= 1, timeout=90,
                 what="a cluster formed", interval=1.0)

        def alerts_with_a_cluster() -> list[Any]:
            records = consume_all(kafka_bootstrap, names["STREAM_GUARD_ALERTS_TOPIC"], idle_s=3)
            return records if any(orjson.loads(r.value)["kind"] == "cluster" for r in records) else []

        records = wait_for(alerts_with_a_cluster, timeout=90, what="a cluster alert")
        samples = worker.metrics()
    finally:
        assert worker.stop() == 0, worker.log_tail()
    return {"alerts": [orjson.loads(r.value) for r in records], "keys": [r.key for r in records],
            "metrics": samples, "log": worker.log_tail(100)}


def test_the_hydra_is_one_cluster_alert_and_the_nat_is_not(run: dict[str, Any]) -> None:
    clusters = [a for a in run["alerts"] if a["detectors"] == ["cluster"]]
    assert clusters, run["log"]
    for alert in run["alerts"]:
        validate_alert(alert)
    named = {acct for a in clusters for acct in a["account_ids"]}
    hydra = {f"acct-hydra-{i:03d}" for i in range(HYDRA)}
    assert len(named & hydra) >= 0.9 * HYDRA
    assert not any(a.startswith("acct-corp") for a in named)
    first = min(clusters, key=lambda a: a["raised_at"])
    assert first["account_count"] == len(first["account_ids"])
    assert first["subject"].startswith("cluster-")
    shared = {r["signal"] for r in first["reasons"] if r["signal"].startswith("shared_")}
    assert shared & {"shared_payment", "shared_client", "shared_ip"}, first["reasons"]
    # the cluster alert is keyed by its stable cluster id
    assert first["subject"].encode() in run["keys"]


def test_members_are_reported_and_no_benign_account_is(run: dict[str, Any]) -> None:
    members = [a for a in run["alerts"] if a["detectors"] == ["cluster_member"]]
    hydra = {f"acct-hydra-{i:03d}" for i in range(HYDRA)}
    # grouped (the default): one alert per cluster and severity names the members reported
    assert all(a["kind"] == "cluster" for a in members)
    assert len({acct for a in members for acct in a["account_ids"]} & hydra) >= 0.9 * HYDRA
    assert not [a for a in run["alerts"] if a["kind"] == "account" and a["subject"].startswith("acct-corp")]
    for a in members:
        assert a["evidence"]["cluster_id"].startswith("cluster-")


def test_cross_account_metrics(run: dict[str, Any]) -> None:
    m = run["metrics"]
    assert metric(m, "stream_guard_link_profiles_total") > 0
    assert metric(m, "stream_guard_attribute_values") > 0
    assert metric(m, "stream_guard_clustered_accounts") >= 0.9 * HYDRA
    assert metric(m, "stream_guard_linked_values", kind="payment") >= 1
    assert metric(m, "stream_guard_linking_duration_seconds_count", stage="clusters") >= 1
    counted = sum(v for (name, labels), v in m.items()
                  if name == "stream_guard_alerts_total" and dict(labels).get("kind") == "cluster")
    assert counted == len([a for a in run["alerts"] if a["kind"] == "cluster"])
