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
from collections.abc import AsyncIterator
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition

from stream_guard.settings import Settings
from stream_guard.stream.kafka_config import aiokafka_security

__all__ = ["InputRecord", "read_range"]

log = logging.getLogger(__name__)


class InputRecord(NamedTuple):
    """One message re-read for a restored partition."""

    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int  # the record's timestamp (producer or broker time)


async def read_range(
    settings: Settings, topic: str, partition: int, start: int, end: int | None, *, timeout_s: float = 120.0
) -> AsyncIterator[InputRecord]:
    """The messages of ``topic``'s ``partition`` from ``start`` up to (not including) ``end``
    (``None``: the partition's end offset when called), in offset order.

    Raises ``TimeoutError`` when the broker does not deliver them within ``timeout_s``.
    """
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # retention removed the start: read what is left
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
        **aiokafka_security(settings),
    )
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
