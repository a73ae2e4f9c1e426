"""Analyst verdicts through the real worker and the real Kafka broker: `stream-guard label`
publishes, the worker applies within seconds, bad verdicts are dead-lettered, a replay with
the same verdicts gives the same alerts, and a restarted worker has the verdicts back."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from stream_guard.core.partitioning import partition_for
from traffic import START, benign_events, extractor_events, hydra_events, to_messages

from harness_common import (
    WorkerProcess,
    clean_env,
    consume_all,
    create_topics,
    metric,
    produce,
    sg,
    unique_names,
    wait_for,
)

PARTITIONS = 4
TEST_ENV = {"STREAM_GUARD_CHECKPOINT_INTERVAL_S": "1", "STREAM_GUARD_TOPIC_PARTITIONS": str(PARTITIONS)}
ALLOWED, OTHER = "acct-allowed-1", "acct-extractor-2"
ALLOW_ENDS = "2026-03-01T01:00:00.000Z"  # START + 1 h


def _comparable(alert: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in alert.items() if k != "emitted_at"}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(sg(*args), env=env, capture_output=True, timeout=120, check=False)


def _bad_verdicts(topic_partitions: int) -> list[tuple[int, bytes, bytes]]:
    """Three bad messages: not JSON, a contract violation (no analyst), and a good account
    verdict written to a partition its account's events do not go to (a wrong key)."""
    good = {"verdict_id": "misrouted", "subject": "acct-q", "subject_kind": "account", "verdict": "benign",
            "at": START, "reason": "r", "analyst": "a"}
    wrong = (partition_for("acct-q", topic_partitions) + 1) % topic_partitions
    no_analyst = {k: v for k, v in good.items() if k != "analyst"} | {"subject": "acct-z"}
    return [(partition_for("x", topic_partitions), b"x", b"{nope"),
            (partition_for("acct-z", topic_partitions), b"acct-z", orjson.dumps(no_analyst)),
            (wrong, b"acct-q", orjson.dumps(good))]


def test_verdicts_apply_within_seconds_are_replayable_and_survive_a_restart(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    names = unique_names("verdicts")
    create_topics(kafka_bootstrap, [names["STREAM_GUARD_INPUT_TOPIC"]], PARTITIONS)
    env = {**names, **TEST_ENV}
    cli_env = clean_env({"STREAM_GUARD_BROKER": kafka_bootstrap, **env})
    events = (extractor_events(ALLOWED, START, 2 * 3600, every_s=2.0, seed=2)
              + extractor_events(OTHER, START, 2 * 3600, every_s=2.0, seed=3)
              + benign_events(10, START, 2 * 3600, per_hour=30, seed=1))
    worker = WorkerProcess(kafka_bootstrap, env, tmp_path / "data", tmp_path / "worker.log").start()
    try:
        published = time.monotonic()
        out = _cli(cli_env, "label", "add", "--account", ALLOWED, "--verdict", "allow", "--at", str(START),
                   "--expires", "1h", "--reason", "evaluation partner", "--analyst", "test")
        assert out.returncode == 0, out.stderr.decode()
        produce(kafka_bootstrap, names["STREAM_GUARD_VERDICTS_TOPIC"], _bad_verdicts(PARTITIONS))
        wait_for(lambda: metric(worker.metrics(), "stream_guard_verdicts_total", outcome="applied") == 1
                 and metric(worker.metrics(), "stream_guard_verdicts_total", outcome="dead_lettered") == 3,
                 timeout=30, interval=0.2, what="the verdicts taken")
        applied_in = time.monotonic() - published
        produce(kafka_bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], to_messages(events, batch=20))
        wait_for(lambda: metric(worker.metrics(), "stream_guard_events_total", outcome="processed") >= len(events),
                 timeout=120, what="events processed")
        wait_for(lambda: metric(worker.metrics(), "stream_guard_watermark_timestamp_seconds")
                 > max(e["ts"] for e in events) + 60, timeout=60, what="watermark past the end")
        alerts = [orjson.loads(r.value) for r in consume_all(kafka_bootstrap, names["STREAM_GUARD_ALERTS_TOPIC"])]
        samples = worker.metrics()
    finally:
        assert worker.stop() == 0, worker.log_tail()
    log = worker.log_path.read_text(errors="replace")
    assert applied_in < 15, f"the verdict took {applied_in:.1f} s"  # (a bound on a broken intake, not a benchmark)

    # the allow-listed extractor is silent while the allow holds, alerted after; the other one throughout
    assert any(a["subject"] == OTHER and a["raised_at"] < ALLOW_ENDS for a in alerts), alerts
    mine = [a for a in alerts if a["subject"] == ALLOWED]
    assert mine and min(a["raised_at"] for a in mine) >= ALLOW_ENDS
    assert metric(samples, "stream_guard_findings_silenced_total") > 0
    assert metric(samples, "stream_guard_events_total", outcome="dead_lettered") == 0  # inputs untouched
    assert "verdict " in log and "evaluation partner" in log and "no alerts until 2026-03-01T01:00" in log

    # every bad verdict is on the dead-letter topic with its reason and source topic
    dlq = consume_all(kafka_bootstrap, names["STREAM_GUARD_DLQ_TOPIC"], idle_s=2)
    heads = [dict(r.headers) for r in dlq]
    assert sorted(h["stream-guard-reason"] for h in heads) == [b"invalid_json", b"schema_violation",
                                                               b"schema_violation"]
    assert {h["stream-guard-source-topic"] for h in heads} == {names["STREAM_GUARD_VERDICTS_TOPIC"].encode()}
    assert any(b"belongs in partition" in h["stream-guard-detail"] for h in heads)

    # `label list` reads them back; a replay given them gives the worker's alerts
    listed = _cli(cli_env, "label", "list", "--all")
    assert listed.returncode == 0 and ALLOWED in listed.stdout.decode(), listed.stderr.decode()
    assert "3 bad messages" in listed.stderr.decode()
    verdicts_file = tmp_path / "verdicts.jsonl"
    exported = _cli(cli_env, "label", "list", "--all", "--json")
    assert exported.returncode == 0, exported.stderr.decode()
    verdicts_file.write_bytes(exported.stdout)
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in sorted(events, key=lambda e: e["ts"])))
    replayed_file = tmp_path / "replayed.jsonl"
    proc = subprocess.run([sys.executable, "-m", "stream_guard", "replay", str(events_file), "--out",
                           str(replayed_file), "--verdicts", str(verdicts_file), "--partitions", str(PARTITIONS)],
                          capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    replayed = [orjson.loads(line) for line in replayed_file.read_bytes().splitlines()]
    key = lambda a: a["alert_id"]  # noqa: E731
    assert sorted(map(_comparable, replayed), key=key) == sorted(map(_comparable, alerts), key=key)

    # a new worker re-reads the verdicts (no second dead letter, no second count)
    again = WorkerProcess(kafka_bootstrap, env, tmp_path / "data2", tmp_path / "worker2.log").start()
    try:
        wait_for(lambda: metric(again.metrics(), "stream_guard_verdicts_held") == 1, timeout=30,
                 what="the verdicts re-read")
        time.sleep(2)
        m = again.metrics()
    finally:
        assert again.stop() == 0, again.log_tail()
    assert metric(m, "stream_guard_verdicts_total", outcome="dead_lettered") == 0
    assert metric(m, "stream_guard_verdicts_total", outcome="applied") == 0
    assert len(consume_all(kafka_bootstrap, names["STREAM_GUARD_DLQ_TOPIC"], idle_s=2)) == 3


def _phase(n: int, start: float, span_s: float, tag: str, seed: int) -> list[dict[str, Any]]:
    events = hydra_events(n, start, span_s, every_s=600.0, seed=seed)
    for i, e in enumerate(events):
        e["event_id"] = f"{tag}-{i}"
    return events


def test_a_cluster_verdict_reaches_the_members_and_a_replacement_is_escalated(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """A hydra is alerted as a cluster; an analyst confirms the cluster; the cluster stage gives
    every member the verdict (published on the verdicts topic with `via`) and, when new accounts
    join the cluster later, alerts them at once (detector `cluster_verdict`)."""
    names = unique_names("clusterverdict")
    create_topics(kafka_bootstrap, [names["STREAM_GUARD_INPUT_TOPIC"]], PARTITIONS)
    env = {**names, **TEST_ENV}
    cli_env = clean_env({"STREAM_GUARD_BROKER": kafka_bootstrap, **env})
    input_topic, alerts_topic = names["STREAM_GUARD_INPUT_TOPIC"], names["STREAM_GUARD_ALERTS_TOPIC"]

    def alerts() -> list[dict[str, Any]]:
        return [orjson.loads(r.value) for r in consume_all(kafka_bootstrap, alerts_topic, idle_s=2)]

    worker = WorkerProcess(kafka_bootstrap, env, tmp_path / "data", tmp_path / "worker.log").start()
    try:
        produce(kafka_bootstrap, input_topic, to_messages(_phase(30, START, 4 * 3600, "p1", 11), batch=10))
        first = wait_for(lambda: [a for a in alerts() if a["detectors"] == ["cluster"]], timeout=120,
                         what="a cluster alert")
        cluster = first[0]["subject"]
        out = _cli(cli_env, "label", "add", "--cluster", cluster, "--verdict", "malicious",
                   "--at", str(START + 4 * 3600), "--reason", "confirmed: shared cards", "--analyst", "test")
        assert out.returncode == 0, out.stderr.decode()
        produce(kafka_bootstrap, input_topic, to_messages(_phase(30, START + 4 * 3600, 3600, "p2", 12), batch=10))

        def member_verdicts() -> list[dict[str, Any]]:
            listed = _cli(cli_env, "label", "list", "--all", "--json")
            got = [orjson.loads(line) for line in listed.stdout.splitlines()]
            return [v for v in got if v.get("via") == cluster] if len(got) > 30 else []

        given = wait_for(member_verdicts, timeout=120, interval=2.0, what="the members given the verdict")
        # three replacement accounts join (same proxies, client and wrapper) with the others
        produce(kafka_bootstrap, input_topic, to_messages(_phase(33, START + 5 * 3600, 3600, "p3", 13), batch=10))
        joined = wait_for(lambda: [a for a in alerts() if a["detectors"] == ["cluster_verdict"]], timeout=120,
                          interval=2.0, what="the replacements alerted")
        samples = worker.metrics()
    finally:
        assert worker.stop() == 0, worker.log_tail()
    assert {v["subject"] for v in given} >= {f"acct-hydra-{i:03d}" for i in range(30)}
    assert all(v["verdict"] == "malicious" and v["subject_kind"] == "account" for v in given)
    assert {a["subject"] for a in joined} <= {"acct-hydra-030", "acct-hydra-031", "acct-hydra-032"} and joined
    assert all(a["severity"] == "high" and a["evidence"]["cluster_id"] == cluster for a in joined)
    assert metric(samples, "stream_guard_verdicts_total", outcome="applied") >= 31  # the cluster's and the members'


def test_after_a_rebalance_the_new_owner_holds_the_verdicts_of_its_partitions(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """Two workers share the partitions: each allow-listed account (one per partition) stays
    silent whichever worker ends up holding it, and the control extractor is alerted."""
    names = unique_names("rebalance")
    create_topics(kafka_bootstrap, [names["STREAM_GUARD_INPUT_TOPIC"]], PARTITIONS)
    env = {**names, **TEST_ENV}
    cli_env = clean_env({"STREAM_GUARD_BROKER": kafka_bootstrap, **env})
    allowed: dict[int, str] = {}
    i = 0
    while len(allowed) < PARTITIONS:  # one allow-listed account per partition
        allowed.setdefault(partition_for(f"acct-allowed-{i}", PARTITIONS), f"acct-allowed-{i}")
        i += 1
    first = WorkerProcess(kafka_bootstrap, env, tmp_path / "data1", tmp_path / "worker1.log").start()
    second = WorkerProcess(kafka_bootstrap, env, tmp_path / "data2", tmp_path / "worker2.log")
    try:
        for account in allowed.values():
            out = _cli(cli_env, "label", "add", "--account", account, "--verdict", "allow", "--at", str(START),
                       "--expires", "30d", "--reason", "evaluation partner", "--analyst", "test")
            assert out.returncode == 0, out.stderr.decode()
        wait_for(lambda: metric(first.metrics(), "stream_guard_verdicts_held") == PARTITIONS, timeout=30,
                 what="the first worker holds the verdicts")
        second.start()

        def split() -> bool:
            a = metric(first.metrics(), "stream_guard_assigned_partitions")
            b = metric(second.metrics(), "stream_guard_assigned_partitions")
            return a >= 1 and b >= 1 and a + b == PARTITIONS

        wait_for(split, timeout=120, interval=1.0, what="the partitions split over both workers")
        # the second worker re-read the verdicts partitions it was given
        wait_for(lambda: metric(second.metrics(), "stream_guard_verdicts_held")
                 >= metric(second.metrics(), "stream_guard_assigned_partitions"), timeout=60,
                 what="the second worker holds the verdicts of its partitions")
        events = [e for n, account in enumerate([*allowed.values(), OTHER])
                  for e in extractor_events(account, START, 2 * 3600, every_s=4.0, seed=20 + n)]
        produce(kafka_bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], to_messages(events, batch=20))

        def processed() -> float:
            return sum(metric(w.metrics(), "stream_guard_events_total", outcome="processed") for w in (first, second))

        wait_for(lambda: processed() >= len(events), timeout=180, what="events processed by both")
        def alerts_once_the_control_is_alerted() -> list[dict[str, Any]]:
            got = [orjson.loads(r.value) for r in consume_all(kafka_bootstrap, names["STREAM_GUARD_ALERTS_TOPIC"],
                                                              idle_s=3)]
            return got if any(a["subject"] == OTHER for a in got) else []

        alerts = wait_for(alerts_once_the_control_is_alerted, timeout=120, interval=2.0,
                          what="the control extractor alerted")
        silenced = sum(metric(w.metrics(), "stream_guard_findings_silenced_total") for w in (first, second))
    finally:
        assert second.stop() == 0, second.log_tail()
        assert first.stop() == 0, first.log_tail()
    assert not [a for a in alerts if a["subject"] in allowed.values()], "an allow-listed account was alerted"
    assert silenced > 0
