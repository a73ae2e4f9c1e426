"""Reading ahead in a child process (stream_guard.input_process) and ``replay`` with its
input read there: the same items in the same order, bounded, and errors that say what
happened; the same report (alerts, bad lines, late events, counts) as one process."""

from __future__ import annotations

import gzip
import os
import random
import signal
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from stream_guard.input_process import InputProcess, InputProcessError
from stream_guard.loadgen.generator import Generator
from stream_guard.loadgen.scenarios import scenario
from stream_guard.replay import BadLine, ReplayError, ReplayReport, replay
from stream_guard.settings import Settings

T0 = 1772323200.0  # 2026-03-01T00:00:00Z
NOW = T0 + 30 * 86400


def numbers(n: int, fail_at: int | None = None) -> Iterator[int]:
    for i in range(n):
        if i == fail_at:
            raise ValueError(f"no {i}")
        yield i


def slow() -> Iterator[int]:
    yield 1
    time.sleep(60)


def test_items_come_in_order_through_a_small_bounded_queue() -> None:
    with InputProcess(partial(numbers, 10_000), batch=7, max_batches=2) as reader:
        assert reader.peak_rss_bytes == 0
        assert list(reader) == list(range(10_000))
        assert reader.peak_rss_bytes > 0  # the child's own, told with its last item


def test_an_error_in_the_source_is_raised_with_its_type_after_the_items_before_it() -> None:
    got: list[int] = []
    with pytest.raises(InputProcessError, match="no 50") as info, \
            InputProcess(partial(numbers, 100, 50), batch=10) as reader:
        got += reader
    assert info.value.kind == "ValueError" and got == list(range(50))


def test_a_killed_child_is_an_error_not_a_shorter_input() -> None:
    reader = InputProcess(slow, batch=1)
    items = iter(reader)
    assert next(items) == 1
    pid = reader._child.proc.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(InputProcessError, match="ended unexpectedly"):
        next(items)


def event(i: int, ts: float, **extra: Any) -> dict[str, Any]:
    return {"event_id": f"e{i}", "ts": ts, "account_id": f"acct-{i % 7}", "model": "m",
            "input_tokens": 10, "output_tokens": 20, "prompt": f"step by step {i}", **extra}


def summary(report: ReplayReport, bad: list[BadLine]) -> dict[str, Any]:
    return {"alerts": [{k: v for k, v in a.items() if k != "emitted_at"} for a in report.alerts],
            "bad": bad, "counts": (report.events, report.lines, report.late, report.reorder_peak,
                                   dict(report.dead_letters), report.duplicates)}


@pytest.fixture(scope="module")
def messy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated day with campaigns, locally shuffled, with late events, bad lines of every
    kind, an array line and duplicates among them."""
    gen = Generator(scenario("standard", seed=6, duration="1d", benign_accounts=30, hydra_accounts=40))
    lines = [line for _, line in gen.lines()]
    rnd = random.Random(5)
    lines = [lines[i] for i in sorted(range(len(lines)), key=lambda i: i + rnd.uniform(0, 60))]
    lines[500:500] = [b'{"event_id": "x", "ts": ', b"\xff\xfe", orjson.dumps(event(1, "yesterday")),
                      orjson.dumps([event(2, T0 + 10), {"event_id": "y"}]), b"", lines[10], lines[11]]
    lines[3000:3000] = [orjson.dumps(event(3, 1e12)), orjson.dumps(event(4, T0 - 40 * 86400))]
    path = tmp_path_factory.mktemp("messy") / "messy.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize("linking_process", [False, True])
def test_replay_with_its_input_read_in_a_second_process_gives_the_same_report(
    messy_file: Path, linking_process: bool,
) -> None:
    runs = []
    for input_process in (False, True):
        bad: list[BadLine] = []
        report = replay(messy_file, Settings(), partitions=4, now=NOW, reorder_events=300,
                        on_bad_line=bad.append, input_process=input_process, linking_process=linking_process)
        runs.append(summary(report, bad))
        assert (report.input_peak_rss_bytes > 0) == input_process
    alone, piped = runs
    assert alone["alerts"] and alone["bad"] and alone["counts"][2] > 0, "alerts, bad lines and late events expected"
    assert piped == alone


def test_an_unreadable_file_is_a_replay_error_from_the_input_process_too(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(orjson.dumps(event(i, T0 + i)) + b"\n" for i in range(5_000)))[:3_000])
    with pytest.raises(ReplayError, match="unreadable after line"):
        replay(path, Settings(), now=NOW, input_process=True)
