"""Crash consistency without Kafka: a runtime killed after a checkpoint and restored from the
records it wrote (as a compacted changelog holds them), re-reading its input from the
checkpoint's offsets, raises the same alerts and ends in the same state as a runtime that
never stopped. (The real-broker kill -9 test is tests/integration/test_crash_recovery.py.)"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import orjson
import pytest
from stream_guard.core.alerts import Alert
from stream_guard.core.checkpoint import by_partition
from stream_guard.core.linking import AccountProfile
from stream_guard.core.partitioning import partition_for
from stream_guard.loadgen.generator import Generator
from stream_guard.loadgen.scenarios import scenario
from stream_guard.metrics import Metrics
from stream_guard.settings import Settings
from stream_guard.stream.runtime import WorkerRuntime

PARTITIONS = 2
BATCH = 25  # events per input message
TICK_EVERY = 20  # messages between ticks (both runs tick at the same messages)

Message = tuple[int, int, bytes]  # (partition, offset, value): the input log, in arrival order


@pytest.fixture(scope="module")
def log() -> list[Message]:
    gen = Generator(scenario("standard", seed=23, duration="1d", benign_accounts=60, campaigns="blunt,hydra,slow_cot",
                             hydra_accounts=40))
    pending: dict[int, list[bytes]] = defaultdict(list)
    offsets = [0] * PARTITIONS
    out: list[Message] = []
    for key, line in gen.lines():
        p = partition_for(key.decode(), PARTITIONS)
        pending[p].append(line)
        if len(pending[p]) == BATCH:
            out.append((p, offsets[p], b"[" + b",".join(pending.pop(p)) + b"]"))
            offsets[p] += 1
    for p, lines in sorted(pending.items()):
        out.append((p, offsets[p], b"[" + b",".join(lines) + b"]"))
        offsets[p] += 1
    return out


class Run:
    """A runtime driven over the log: alerts by id, profiles, the changelog it wrote."""

    def __init__(self, settings: Settings) -> None:
        self.rt = WorkerRuntime(settings, Metrics(), self)
        self.alerts: set[str] = set()
        self.profiles: set[tuple[str, float]] = set()
        self.passes: list[list[tuple[bytes, bytes | None]]] = []

    def deliver(self, profiles: list[AccountProfile], through: float) -> list[Alert]:
        """The runtime's profile transport: remember which profiles were closed."""
        self.profiles |= {(p.account, p.at) for p in profiles}
        return []

    def tick(self) -> None:
        self.alerts |= {a["alert_id"] for a in self.rt.tick(time.time())}

    def checkpoint(self) -> None:
        self.passes.append([(k, v) for _, k, v in self.rt.checkpoint()])

    def drive(self, log: list[Message], start: int, stop: int, checkpoint_at: frozenset[int] = frozenset()) -> None:
        for i in range(start, stop):
            p, offset, value = log[i]
            self.rt.handle(p, offset, value)
            if (i + 1) % TICK_EVERY == 0:
                self.tick()
                if i + 1 in checkpoint_at:
                    self.checkpoint()

    def finish(self) -> None:
        for _ in range(3):  # every partition idle: the watermark moves past the newest event
            self.alerts |= {a["alert_id"] for a in self.rt.tick(time.time() + 3600)}


def changelog(passes: list[list[tuple[bytes, bytes | None]]]) -> dict[bytes, bytes]:
    """What a compacted changelog holds after these passes."""
    table: dict[bytes, bytes] = {}
    for records in passes:
        for key, value in records:
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
    return table


def restored_run(settings: Settings, table: dict[bytes, bytes], log: list[Message]) -> tuple[Run, int]:
    """A new runtime restored from ``table``; the log index to re-read from."""
    run = Run(settings)
    groups = by_partition(table.items())
    resume = {p: run.rt.restore(p, groups.get(p, [])).resume_at for p in range(PARTITIONS)}
    assert all(offset is not None for offset in resume.values())
    # the re-read goes through the normal path below, interleaved with the original run's
    # ticks (the worker re-reads each partition on its own with ticks held, then resumes)
    run.rt.resume_at.clear()
    start = min(i for i, (p, offset, _) in enumerate(log) if offset == resume[p])
    return run, start - start % TICK_EVERY  # re-read from a tick boundary, as the original run ticked


def state(run: Run) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p, det in run.rt.detectors.items():
        for account, st in det.accounts.items():
            data = st.to_dict()
            data.pop("upto")
            out[f"{p}/{account}"] = orjson.loads(orjson.dumps(data))
        out[f"{p}#models"] = det.scorer.models.learned()
        out[f"{p}#ids"] = (det.ids_generation, len(det._ids_cur), len(det._ids_prev))
    return out


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(dedup_window=2_000)  # small: the id memory turns over during the run


@pytest.fixture(scope="module")
def uninterrupted(log: list[Message], settings: Settings) -> Run:
    run = Run(settings)
    run.drive(log, 0, len(log))
    run.finish()
    assert len(run.alerts) >= 5 and run.profiles  # the scenario raises alerts worth comparing
    return run


@pytest.mark.parametrize("cut_short", [False, True], ids=["crash-between-passes", "crash-inside-a-pass"])
def test_kill_after_a_checkpoint_then_restore_gives_the_same_alerts_and_state(
    log: list[Message], settings: Settings, uninterrupted: Run, cut_short: bool
) -> None:
    n = len(log)
    passes = frozenset(range(TICK_EVERY * 5, n, TICK_EVERY * 7))
    crash_at = n * 2 // 3
    crashed = Run(settings)
    crashed.drive(log, 0, crash_at, passes)
    assert len(crashed.passes) >= 3
    written = crashed.passes
    if cut_short:  # the last pass reached the changelog only in part: half its records, no marker
        last = [r for r in written[-1] if not r[0].endswith(b"#marker")]
        written = [*written[:-1], last[: len(last) // 2]]
    run, start = restored_run(settings, changelog(written), log)
    assert start > 0
    run.drive(log, start, n)
    run.finish()
    assert crashed.alerts | run.alerts == uninterrupted.alerts
    assert crashed.profiles | run.profiles == uninterrupted.profiles
    if not cut_short:  # (a pass cut short may leave its accounts' part in that interval's models out)
        assert state(run) == state(uninterrupted)
    else:
        got, want = state(run), state(uninterrupted)
        assert {k: v for k, v in got.items() if "#models" not in k} == {
            k: v for k, v in want.items() if "#models" not in k}


def test_a_restore_without_the_re_read_would_lose_events(log: list[Message], settings: Settings,
                                                          uninterrupted: Run) -> None:
    """The control: resuming where the input was consumed (not at the checkpoint) differs."""
    crashed = Run(settings)
    crash_at = len(log) * 2 // 3
    crashed.drive(log, 0, crash_at, frozenset(range(TICK_EVERY * 5, len(log), TICK_EVERY * 7)))
    run, _ = restored_run(settings, changelog(crashed.passes), log)
    run.drive(log, crash_at, len(log))
    run.finish()
    assert state(run) != state(uninterrupted)
