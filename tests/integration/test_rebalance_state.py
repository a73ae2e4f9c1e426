"""Account state across rebalances, through real workers and the real Kafka broker: a worker
that keeps partitions through two rebalances (a second worker joins, then leaves) still
holds every account of them, including accounts that went quiet before the first.

Each rebalance revokes every partition (Faust's eager protocol); the worker restores what it
is given from the checkpoint topics. The second restore must see the accounts that no
checkpoint pass rewrote since the first one (a quiet account is not rewritten)."""

from __future__ import annotations

from pathlib import Path

from traffic import START, benign_events, to_messages

from harness_common import (
    WorkerProcess,
    create_topics,
    metric,
    produce,
    unique_names,
    wait_for,
)

PARTITIONS = 4
ACCOUNTS = 24
TEST_ENV = {"STREAM_GUARD_CHECKPOINT_INTERVAL_S": "1", "STREAM_GUARD_TOPIC_PARTITIONS": str(PARTITIONS),
            "STREAM_GUARD_CROSS_ACCOUNT": "false"}


def _tracked(*workers: WorkerProcess) -> float:
    return sum(metric(w.metrics(), "stream_guard_tracked_accounts") for w in workers)


def _assigned(worker: WorkerProcess) -> float:
    return metric(worker.metrics(), "stream_guard_assigned_partitions")


def test_a_worker_keeps_the_quiet_accounts_of_its_partitions_through_two_rebalances(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    names = unique_names("twice")
    create_topics(kafka_bootstrap, [names["STREAM_GUARD_INPUT_TOPIC"]], PARTITIONS)
    env = {**names, **TEST_ENV}
    events = benign_events(ACCOUNTS, START, 1800, per_hour=20, seed=5)
    first = WorkerProcess(kafka_bootstrap, env, tmp_path / "data1", tmp_path / "worker1.log").start()
    second = WorkerProcess(kafka_bootstrap, env, tmp_path / "data2", tmp_path / "worker2.log")
    try:
        produce(kafka_bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], to_messages(events, batch=10))
        wait_for(lambda: metric(first.metrics(), "stream_guard_events_total", outcome="processed") >= len(events),
                 timeout=120, what="the events processed")
        wait_for(lambda: _tracked(first) == ACCOUNTS, timeout=30, what="every account tracked")
        # the accounts are quiet from here on: no checkpoint pass rewrites them
        second.start()
        wait_for(lambda: _assigned(first) >= 1 and _assigned(second) >= 1
                 and _assigned(first) + _assigned(second) == PARTITIONS and _tracked(first, second) == ACCOUNTS,
                 timeout=120, interval=1.0, what="the partitions and accounts split over both workers")
        kept = _tracked(first)
        assert 0 < kept < ACCOUNTS
        assert second.stop() == 0, second.log_tail()
        wait_for(lambda: _assigned(first) == PARTITIONS, timeout=120, interval=1.0,
                 what="the first worker holding every partition again")
        wait_for(lambda: _tracked(first) == ACCOUNTS, timeout=30, interval=1.0,
                 what="the first worker tracking every account again")
    finally:
        second.stop()
        assert first.stop() == 0, first.log_tail()
