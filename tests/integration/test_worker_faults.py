"""Faults around the real worker on the real broker: a broker that refuses dead letters, a
broker outage, and where the consumer-lag metrics come from (processing and committed lag)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
from stream_guard.settings import Settings
from stream_guard.stream.probe import BrokerProbe, LagTracker, PartitionLag
from traffic import START, benign_events, to_messages

from harness_common import WorkerProcess, create_topics, metric, produce, unique_names, wait_for


def _recent(events: list[dict], now: float) -> list[dict]:
    """The same events moved to end a few minutes before ``now`` (the worker refuses the future)."""
    shift = now - 600 - max(e["ts"] for e in events)
    return [dict(e, ts=e["ts"] + shift) for e in events]


def _accounted(worker: WorkerProcess) -> float:
    m = worker.metrics()
    return sum(metric(m, "stream_guard_events_total", outcome=o)
               for o in ("processed", "dead_lettered", "duplicate", "untracked"))


def _committed_lag(worker: WorkerProcess) -> tuple[float, float] | None:
    """(sum of stream_guard_consumer_committed_lag_messages, max of
    stream_guard_consumer_commit_stalled_seconds) over the worker's partitions; None until
    every input partition (2) is reported."""
    m = worker.metrics()
    lags = {dict(labels)["partition"]: v for (name, labels), v in m.items()
            if name == "stream_guard_consumer_committed_lag_messages"}
    stalls = [v for (name, _), v in m.items() if name == "stream_guard_consumer_commit_stalled_seconds"]
    return (sum(lags.values()), max(stalls, default=0.0)) if len(lags) == 2 else None


def test_a_dead_letter_the_broker_refuses_stops_the_worker_with_exit_code_1(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    names = unique_names("dlqrefuse")
    create_topics(kafka_bootstrap, [names["STREAM_GUARD_INPUT_TOPIC"]], 1)
    # a DLQ that takes records of at most 2,000 bytes: the 10 kB dead letter cannot land
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    async def small_dlq() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(names["STREAM_GUARD_DLQ_TOPIC"], 1, 1,
                                                topic_configs={"max.message.bytes": "2000"})])
        finally:
            await admin.close()

    asyncio.run(small_dlq())
    worker = WorkerProcess(kafka_bootstrap, {**names, "STREAM_GUARD_TOPIC_PARTITIONS": "1"},
                           tmp_path / "data", tmp_path / "worker.log").start()
    try:
        produce(kafka_bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], [(b"acct-x", b"{" + b"x" * 10_000)])
        wait_for(lambda: not worker.alive(), timeout=90, what="the worker to exit")
        assert worker.proc is not None and worker.proc.returncode == 1, worker.log_tail()
        log = worker.log_tail(400)
        assert "ingest agent failed" in log and "dead letter not delivered" in log, log
    finally:
        worker.stop()


def test_broker_outage_turns_readyz_503_then_the_worker_resumes(kafka_local, tmp_path: Path) -> None:
    data = tmp_path / "kafka"
    bootstrap = kafka_local.start(data, timeout=120, die_with_parent=True)
    names = unique_names("outage")
    env = {**names, "STREAM_GUARD_TOPIC_PARTITIONS": "2", "STREAM_GUARD_BROKER_PROBE_INTERVAL_S": "2",
           "STREAM_GUARD_BROKER_LOST_AFTER_S": "6"}
    worker = WorkerProcess(bootstrap, env, tmp_path / "data", tmp_path / "worker.log")
    try:
        worker.start()
        first = _recent(benign_events(5, START, 3600, per_hour=20, seed=3), time.time())
        produce(bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], to_messages(first, batch=1))
        wait_for(lambda: _accounted(worker) >= len(first), timeout=60, what="first events")
        wait_for(lambda: metric(worker.metrics(), "stream_guard_broker_up") == 1, timeout=30, what="broker_up")
        assert worker.status("/readyz") == 200
        # the processed offsets get committed: nothing left after the group's committed offsets
        wait_for(lambda: _committed_lag(worker) == (0.0, 0.0), timeout=30, what="offsets committed")

        kafka_local.stop(data)
        lines_before = len(worker.log_path.read_text(errors="replace").splitlines())
        outage_started = time.monotonic()
        wait_for(lambda: worker.status("/readyz") == 503, timeout=60, what="/readyz 503 without a broker")
        time.sleep(20)
        assert worker.alive(), worker.log_tail()
        assert worker.status("/healthz") == 200  # alive: waiting for the broker is not a failure
        m = worker.metrics()
        assert metric(m, "stream_guard_broker_up") == 0 and metric(m, "stream_guard_ready") == 0
        assert metric(m, "stream_guard_broker_probe_failures_total") >= 1
        outage_s = time.monotonic() - outage_started
        lines = len(worker.log_path.read_text(errors="replace").splitlines()) - lines_before
        # rate-limited: a few lines per distinct message per 10 s, not tens per second
        assert lines / outage_s < 5, f"{lines} log lines in {outage_s:.0f} s:\n{worker.log_tail(80)}"

        assert kafka_local.start(data, timeout=120, die_with_parent=True) == bootstrap
        wait_for(lambda: worker.status("/readyz") == 200, timeout=120, what="/readyz 200 after the outage")
        second = [dict(e, event_id=e["event_id"] + "-after") for e in first]
        produce(bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], to_messages(second, batch=1))
        wait_for(lambda: _accounted(worker) >= len(first) + len(second), timeout=120,
                 what="events sent after the outage")
        assert metric(worker.metrics(), "stream_guard_events_total", outcome="processed") == len(first) + len(second)
        # and commits resume after the outage (a committed lag that stays up is issue 10's stuck commits)
        wait_for(lambda: _committed_lag(worker) == (0.0, 0.0), timeout=30, what="offsets committed after the outage")
    finally:
        worker.stop()
        kafka_local.stop(data)


def test_the_probe_reads_end_and_committed_offsets_from_the_broker(kafka_bootstrap: str) -> None:
    names = unique_names("probe")
    topic = names["STREAM_GUARD_INPUT_TOPIC"]
    create_topics(kafka_bootstrap, [topic], 2)
    produce(kafka_bootstrap, topic, [(b"a", orjson.dumps({"n": i})) for i in range(7)])
    settings = Settings(broker=kafka_bootstrap, input_topic=topic, app_id=names["STREAM_GUARD_APP_ID"])

    async def probe_twice() -> tuple[dict[int, tuple[int, int | None]], dict[int, tuple[int, int | None]]]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        probe = BrokerProbe(settings)
        try:
            before = await probe.next_offsets([0, 1])
            group = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=settings.app_id,
                                     enable_auto_commit=False)
            await group.start()
            try:
                tp = next(TopicPartition(topic, p) for p, (end, _) in before.items() if end)
                group.assign([tp])
                await group.commit({tp: 3})
            finally:
                await group.stop()
            return before, await probe.next_offsets([0, 1])
        finally:
            await probe.close()

    before, after = asyncio.run(asyncio.wait_for(probe_twice(), 60))
    assert sorted(end for end, _ in before.values()) == [0, 7]  # one key: one partition holds all 7
    assert all(committed is None for _, committed in before.values())
    assert sorted(c for _, c in after.values() if c is not None) == [3]

    # the lag metrics of those answers: all 7 handled; committed lag 7 before the commit, 4 after
    full = next(p for p, (end, _) in before.items() if end)
    lag = LagTracker()
    first = lag.observe(before, {full: 6}, now=0.0)
    assert first[full] == PartitionLag(lag=0, committed_lag=7, commit_stalled_s=0.0)
    assert lag.observe(before, {full: 6}, now=9.0)[full].commit_stalled_s == 9.0  # still no commit
    assert lag.observe(after, {full: 6}, now=10.0)[full] == PartitionLag(lag=0, committed_lag=4, commit_stalled_s=0.0)
    assert all(lag.observe(after, {}, now=10.0)[p] == PartitionLag(0, 0, 0.0) for p in after if p != full)
