"""kill -9 of the worker on the real broker: the next worker restores the last checkpoint
(per-account state and the cross-account stages), re-reads the input and the internal
topics from the offsets it covers, and the alerts, per account and per cluster, equal
those of an uninterrupted offline replay of the same traffic (by alert_id).

The crash is placed where it hurts: after a checkpoint pass, then more input processed
and its offsets committed, then kill -9 before the next pass. Without the re-read those
events would be missing from the restored state."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from stream_guard.loadgen.generator import Generator
from stream_guard.loadgen.scenarios import scenario

from harness_common import (
    WorkerProcess,
    consume_all,
    create_topics,
    metric,
    metric_sum,
    produce,
    samples_of,
    unique_names,
    wait_for,
    wait_steady,
)

PARTITIONS = 4
CHECKPOINT_S = 30.0


def processed(worker: WorkerProcess) -> float:
    m = worker.metrics()
    return sum(metric(m, "stream_guard_events_total", outcome=o) for o in ("processed", "duplicate", "untracked"))


def _judged_and_alerted(worker: WorkerProcess) -> tuple[float, float]:
    m = worker.metrics()
    return metric_sum(m, "stream_guard_linking_duration_seconds_count"), metric_sum(m, "stream_guard_alerts_total")


def passes(worker: WorkerProcess) -> float:
    return metric(worker.metrics(), "stream_guard_checkpoint_duration_seconds_count")


def test_kill_9_then_restart_gives_the_alerts_of_an_uninterrupted_run(kafka_bootstrap: str, tmp_path: Path) -> None:
    gen = Generator(scenario("standard", seed=31, duration="1d", benign_accounts=60, campaigns="blunt,hydra,slow_cot"))
    lines = list(gen.lines())
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"".join(line + b"\n" for _, line in lines))
    messages = [(key, line) for key, line in lines]  # one event per message, keyed by account
    cut1, cut2 = len(messages) * 2 // 5, len(messages) * 7 // 10
    names = unique_names("crash")
    create_topics(kafka_bootstrap, [names["STREAM_GUARD_INPUT_TOPIC"]], PARTITIONS)
    env = {**names, "STREAM_GUARD_TOPIC_PARTITIONS": str(PARTITIONS),
           "STREAM_GUARD_CHECKPOINT_INTERVAL_S": str(CHECKPOINT_S)}

    first = WorkerProcess(kafka_bootstrap, env, tmp_path / "data1", tmp_path / "worker1.log").start()
    try:
        produce(kafka_bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], messages[:cut1])
        wait_for(lambda: processed(first) >= cut1, timeout=180, what="part 1 processed")
        before = passes(first)
        wait_for(lambda: passes(first) > before, timeout=3 * CHECKPOINT_S, what="a checkpoint pass after part 1")
        covered = passes(first)
        produce(kafka_bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], messages[cut1:cut2])
        wait_for(lambda: processed(first) >= cut2, timeout=180, what="part 2 processed")
        # wait until Faust committed part 2 (it commits every 2 s): a crash now loses it from
        # the state unless the restore re-reads it
        wait_for(lambda: sum(samples_of(first.metrics(), "stream_guard_consumer_committed_lag_messages").values()) == 0,
                 timeout=30, what="part 2 committed")
        raced = passes(first) != covered  # a pass after part 2: the test still holds, but weaker
    finally:
        assert first.proc is not None
        os.killpg(first.proc.pid, signal.SIGKILL)
        first.proc.wait(10)

    out = tmp_path / "replay.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "stream_guard", "replay", str(events_file), "--out", str(out),
         "--partitions", str(PARTITIONS)],
        capture_output=True, timeout=600, check=False,
        env={**os.environ, "STREAM_GUARD_TOPIC_PARTITIONS": str(PARTITIONS)},
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    replayed = {a["alert_id"]: a for a in map(orjson.loads, out.read_bytes().splitlines())}
    kinds = {a["kind"] for a in replayed.values()}
    assert kinds == {"account", "cluster"}, "the scenario raises account and cluster alerts"

    def live_alerts() -> dict[str, dict[str, Any]]:
        alerts: dict[str, dict[str, Any]] = {}
        for rec in consume_all(kafka_bootstrap, names["STREAM_GUARD_ALERTS_TOPIC"], idle_s=3):
            alert = orjson.loads(rec.value)
            alerts[alert["alert_id"]] = alert  # re-emitted alerts of the re-read stretch: one id each
        return alerts

    second = WorkerProcess(kafka_bootstrap, env, tmp_path / "data2", tmp_path / "worker2.log").start()
    try:
        produce(kafka_bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], messages[cut2:])
        wait_for(lambda: processed(second) >= len(messages) - cut2, timeout=180, what="part 3 processed")
        # the re-read stretch counts too: wait until every offset is committed as well
        wait_for(lambda: sum(samples_of(second.metrics(),
                                        "stream_guard_consumer_committed_lag_messages").values()) == 0,
                 timeout=60, what="everything committed")
        # idle: the watermark passes the newest event and everything is finalised, down the
        # cross-account chain (profiles -> attribute index -> verdicts -> cluster book, a
        # tick per hop): wait until no stage judges anything new and no alert is added
        time.sleep(12)
        wait_steady(lambda: _judged_and_alerted(second), steady_s=10, timeout=120, what="the stages to settle")
        # A quiet spell is not the end: a hop of the chain may wait for a source to fall idle
        # (30 s) before it judges the last boundaries (a run once stopped here without the
        # hydra's last cluster alert, raised later). So the live alerts are read until they
        # hold every replayed one or nothing came for a while; the comparison stays exact.
        live = live_alerts()
        deadline = time.monotonic() + 90
        while not set(replayed) <= set(live) and time.monotonic() < deadline:
            time.sleep(5)
            live = live_alerts()
        log = second.log_path.read_text(errors="replace")
    finally:
        assert second.stop() == 0, second.log_tail()
    reread = sum(int(n) for n in re.findall(r"re-read (\d+) messages", log))
    if not raced:
        assert reread > 0, log[-3000:]
    live = live_alerts()  # (and whatever the worker sent while it stopped)
    # the cross-account stages were restored too: the hydra's clusters kept their ids and
    # cooldowns (lost, they would be alerted anew after the restart)
    (tmp_path / "live.jsonl").write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in live.values()))

    def summary(ids: set[str], alerts: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str]]:
        return sorted((alerts[i]["raised_at"], alerts[i]["kind"], "+".join(alerts[i]["detectors"]),
                       alerts[i]["subject"])
                      for i in ids)[:20]

    assert set(live) == set(replayed), (summary(set(replayed) - set(live), replayed),
                                        summary(set(live) - set(replayed), live))
