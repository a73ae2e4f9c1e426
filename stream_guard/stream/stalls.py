"""Steps of the worker that should finish in well under a second, watched for stalls.

A timer or agent step that awaits the broker (sending alerts, re-reading a restored
partition, writing a checkpoint) can wait for a long time without any error: aiokafka
waits for a topic's metadata or for buffer space up to the producer's request timeout.
Meanwhile the metrics stop moving (the counts are flushed by the tick) and nothing in the
log says why. :class:`StallWatch` records the steps in progress; a timer asks it which
ones have run for too long and logs each with the await chain it is waiting in (code
locations only: no values, so no prompt text or secrets).

>>> import asyncio
>>> async def main():
...     watch = StallWatch(after_s=0.05)
...     async def slow():
...         with watch.step("sending alerts"):
...             await asyncio.sleep(0.2)
...     task = asyncio.ensure_future(slow())
...     await asyncio.sleep(0.1)
...     stalls = watch.stalled()
...     await task
...     return [(s.name, s.seconds >= 0.05, "sleep" in s.waiting_in) for s in stalls], watch.stalled()
>>> asyncio.run(main())
([('sending alerts', True, True)], [])
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

__all__ = ["DeliveryWatch", "Stall", "StallWatch", "StarvedPartition", "await_chain"]


class Stall(NamedTuple):
    """A step that has run for longer than the watch's limit."""

    name: str
    seconds: float
    #: where its task waits: the await chain, outermost first (``file:line function``)
    waiting_in: str


class _Running(NamedTuple):
    started: float
    task: asyncio.Task[Any] | None


def await_chain(task: asyncio.Task[Any] | None, limit: int = 12) -> str:
    """The code locations a suspended task is waiting in, outermost first (``?`` when it
    is not a coroutine task)."""
    coro: Any = task.get_coro() if task is not None else None
    places: list[str] = []
    while coro is not None and len(places) < limit:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            code = frame.f_code
            places.append(f"{code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno} {code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return " > ".join(places) or "?"


class StallWatch:
    """The steps in progress and since when; :meth:`stalled` lists those older than ``after_s``."""

    def __init__(self, after_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.after_s = after_s
        self.clock = clock
        self._running: dict[str, _Running] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Mark ``name`` as running in the current task until the block ends (one at a time
        per name: a step runs in one task)."""
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop (a synchronous caller)
            task = None
        self._running[name] = _Running(self.clock(), task)
        try:
            yield
        finally:
            self._running.pop(name, None)

    def stalled(self) -> list[Stall]:
        """The steps running for ``after_s`` or longer, longest first."""
        now = self.clock()
        out = [Stall(name, now - r.started, await_chain(r.task))
               for name, r in self._running.items() if now - r.started >= self.after_s]
        return sorted(out, key=lambda s: -s.seconds)


class StarvedPartition(NamedTuple):
    """An input partition with messages waiting and none handled for a while."""

    partition: int
    waiting: int  # messages beyond the last one handled (the probe's lag)
    seconds: float  # since the last handled offset last moved


class DeliveryWatch:
    """Input partitions whose messages wait while none is handled: the consumer stopped
    delivering them (faust-streaming's consumers that slowly stop), or the agent is stuck.

    >>> w = DeliveryWatch(after_s=30.0)
    >>> w.observe({0: 5, 1: 0}, {0: 10, 1: 7}, now=0.0)
    []
    >>> w.observe({0: 9, 1: 0}, {0: 10, 1: 7}, now=40.0)   # partition 0: stuck at offset 10
    [StarvedPartition(partition=0, waiting=9, seconds=40.0)]
    >>> w.observe({0: 2, 1: 0}, {0: 17, 1: 7}, now=45.0)   # moving again
    []
    """

    def __init__(self, after_s: float) -> None:
        self.after_s = after_s
        self._since: dict[int, tuple[int, float]] = {}  # partition -> (handled offset, since when)

    def observe(self, lags: dict[int, int], handled: dict[int, int], now: float) -> list[StarvedPartition]:
        """``lags``: messages waiting per partition (the broker probe's); ``handled``: the last
        offset handled per partition; ``now``: a monotonic clock."""
        out: list[StarvedPartition] = []
        for p, lag in lags.items():
            offset = handled.get(p, -1)
            prev = self._since.get(p)
            if prev is None or prev[0] != offset or lag <= 0:
                self._since[p] = (offset, now)
                continue
            if now - prev[1] >= self.after_s:
                out.append(StarvedPartition(p, lag, now - prev[1]))
        for p in set(self._since) - set(lags):
            del self._since[p]
        return out
