"""Re-reading what a checkpoint does not hold: one partition (of the input topic or of a
cross-account topic), from its marker on.

After a crash, the group's committed offset of a partition is usually ahead of the
offset its last checkpoint covers (Faust commits every couple of seconds, checkpoints are
written every ``checkpoint_interval_s``). The worker that restores the partition reads the
missing stretch with a consumer of its own (no group, no commits) before it handles the
partition's first message from Faust, so the restored state sees every event once, in
offset order. Re-reading with a client of our own, rather than seeking Faust's consumer
back, keeps clear of Faust's offset bookkeeping around rebalances (its read offsets and
acks survive a seek: see docs/monitoring.md, "Stuck offset commits").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition

from stream_guard.settings import Settings
from stream_guard.stream.kafka_config import aiokafka_security

__all__ = ["CatchUps", "InputRecord", "read_range", "standalone_consumer"]

log = logging.getLogger(__name__)


class InputRecord(NamedTuple):
    """One message re-read for a restored partition."""

    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int  # the record's timestamp (producer or broker time)


def standalone_consumer(settings: Settings) -> AIOKafkaConsumer:
    """A consumer of our own for reading partitions back (no group, no commits; assign and
    seek it), not yet started."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # retention removed the start: read what is left
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
        **aiokafka_security(settings),
    )


async def read_range(
    settings: Settings, topic: str, partition: int, start: int, end: int | None, *, timeout_s: float = 120.0
) -> AsyncIterator[InputRecord]:
    """The messages of ``topic``'s ``partition`` from ``start`` up to (not including) ``end``
    (``None``: the partition's end offset when called), in offset order.

    Raises ``TimeoutError`` when the broker does not deliver them within ``timeout_s``.
    """
    tp = TopicPartition(topic, partition)
    consumer = standalone_consumer(settings)
    await asyncio.wait_for(consumer.start(), timeout_s)
    try:
        consumer.assign([tp])
        if end is None:
            end = int((await asyncio.wait_for(consumer.end_offsets([tp]), timeout_s))[tp])
        if end <= start:
            return
        consumer.seek(tp, start)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"re-reading partition {partition} [{start}, {end}) timed out")
            batch = await consumer.getmany(tp, timeout_ms=int(min(left, 1.0) * 1000), max_records=10_000)
            for msg in batch.get(tp, ()):
                if msg.offset >= end:
                    return
                yield InputRecord(msg.offset, msg.key, msg.value, msg.timestamp)
            if await consumer.position(tp) >= end:
                return
    finally:
        await consumer.stop()


#: A stage's handler of one re-read message: (partition, record).
Handler = Callable[[int, InputRecord], Awaitable[None]]


class _Stage(NamedTuple):
    topic: str
    resume_at: Callable[[], dict[int, int]]  # the stage's partitions still to re-read, from where
    handle: Handler
    retry: bool  # a failed re-read is tried again (idle_s later) instead of failing the worker


class CatchUps:
    """The re-reads of restored partitions, per stage (input, link profiles, link verdicts).

    A stage's partition is re-read once, by the first of: its next message from Faust
    (:meth:`before_message`, which waits for the re-read), or :meth:`start_idle` once it
    has been silent for ``idle_s`` since its restore. A failed re-read started by
    :meth:`start_idle` calls ``fail`` with its exception (one awaited by
    :meth:`before_message` raises there).
    """

    def __init__(self, settings: Settings, fail: Callable[[BaseException], None], idle_s: float) -> None:
        self.s = settings
        self.fail = fail
        self.idle_s = idle_s
        self._stages: dict[str, _Stage] = {}
        self._running: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._restored_at: dict[tuple[str, int], float] = {}

    def stage(self, name: str, topic: str, resume_at: Callable[[], dict[int, int]], handle: Handler, *,
              retry: bool = False) -> None:
        """Register a stage: its topic, its partitions to re-read and the handler of a message.
        With ``retry`` a failed re-read is logged and tried again ``idle_s`` later (the stage's
        messages may be handled meanwhile: its handler must not depend on offset order)."""
        self._stages[name] = _Stage(topic, resume_at, handle, retry)

    def restored(self, name: str, partition: int) -> None:
        """A stage's partition was just restored (its idle clock starts)."""
        self._restored_at[(name, partition)] = time.monotonic()

    async def before_message(self, name: str, partition: int, end: int | None) -> None:
        """Re-read ``partition`` of stage ``name`` up to ``end`` if it is still to be re-read
        (call before handling the message at offset ``end`` from Faust)."""
        key = (name, partition)
        task = self._running.get(key)
        if task is None:
            task = self._running[key] = asyncio.ensure_future(self._read(name, partition, end))
            task.add_done_callback(lambda _: self._running.pop(key, None))
        await task

    def start_now(self, name: str, partition: int) -> None:
        """Start the re-read of a stage's partition now, without waiting for a message or for
        ``idle_s`` (a small stage that holds evaluation back until it is read)."""
        if (name, partition) not in self._running:
            asyncio.ensure_future(self.before_message(name, partition, None)).add_done_callback(self._done)

    def start_idle(self) -> None:
        """Start the re-read of restored partitions that got no message since their restore."""
        for name, stage in self._stages.items():
            for p in list(stage.resume_at()):
                if ((name, p) not in self._running
                        and time.monotonic() - self._restored_at.get((name, p), 0.0) >= self.idle_s):
                    asyncio.ensure_future(self.before_message(name, p, None)).add_done_callback(self._done)

    def _done(self, fut: asyncio.Future[None]) -> None:
        exc = None if fut.cancelled() else fut.exception()
        if exc is not None:
            self.fail(exc)

    async def _read(self, name: str, partition: int, end: int | None) -> None:
        """Handle the messages of a restored partition from its checkpoint's offset to ``end``."""
        topic, resume_at, handle, retry = self._stages[name]
        start = resume_at().get(partition)
        if start is None:
            return
        started, n = time.monotonic(), 0
        log.info("%s partition %d: re-reading from offset %d to %s", topic, partition, start,
                 "its end" if end is None else end)
        try:
            async for rec in read_range(self.s, topic, partition, start, end):
                await handle(partition, rec)
                n += 1
        except Exception as exc:
            if not retry:
                raise
            self._restored_at[(name, partition)] = time.monotonic()  # start_idle tries again idle_s later
            log.warning("%s partition %d: re-reading failed (%s); trying again in %.0f s", topic, partition,
                        type(exc).__name__, self.idle_s)
            return
        resume_at().pop(partition, None)
        log.info("%s partition %d: re-read %d messages from offset %d in %.1f s", topic, partition, n, start,
                 time.monotonic() - started)
