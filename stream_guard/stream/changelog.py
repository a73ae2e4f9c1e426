"""Reading the state checkpoints back: the latest record of every key in some partitions of
a compacted checkpoint topic (``<app_id>-account-state-changelog``,
``<app_id>-cluster-state-changelog``).

The worker writes its checkpoint records straight to these topics through the producer and
reads them back itself when it takes a partition over, with a consumer of its own (no
group, no commits), from the partition's start to its end offset at the time of the call.
It does not use Faust's tables for this: their changelog recovery runs inside Faust's
rebalance with Faust's own consumer and can hang for good waiting for records it never
gets (seen in our rebalance test under CPU load; faust-streaming #155/#597), and it
re-reads every record written since the last rebalance into a second in-memory copy even
for partitions the worker keeps. Here only the partitions the worker did not hold are
read, and their records are handed to the restore once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import TopicPartition

from stream_guard.settings import Settings
from stream_guard.stream.catchup import standalone_consumer

__all__ = ["read_latest"]

log = logging.getLogger(__name__)

#: how often a long read logs how far it got
PROGRESS_EVERY_S = 10.0


async def read_latest(settings: Settings, topic: str, partitions: Iterable[int], *,
                      idle_timeout_s: float = 120.0) -> dict[bytes, bytes]:
    """The latest value of every key in ``partitions`` of ``topic`` (a key whose latest
    record is a deletion is left out), read up to each partition's end offset at the call.

    Raises ``TimeoutError`` when the broker delivers nothing for ``idle_timeout_s`` while
    records are still to be read (a large partition may take longer than that in all; it
    only has to keep moving).
    """
    wanted = sorted(set(partitions))
    if not wanted:
        return {}
    latest: dict[bytes, bytes | None] = {}
    tps = [TopicPartition(topic, p) for p in wanted]
    consumer = standalone_consumer(settings)
    await asyncio.wait_for(consumer.start(), idle_timeout_s)
    try:
        consumer.assign(tps)
        ends = await asyncio.wait_for(consumer.end_offsets(tps), idle_timeout_s)
        starts = await asyncio.wait_for(consumer.beginning_offsets(tps), idle_timeout_s)
        left = {tp for tp in tps if ends[tp] > starts[tp]}
        for tp in left:
            consumer.seek(tp, starts[tp])
        loop = asyncio.get_running_loop()
        began = last_progress = last_log = loop.time()
        n = 0
        while left:
            batch = await consumer.getmany(*left, timeout_ms=1000, max_records=10_000)
            now = loop.time()
            for tp, records in batch.items():
                for rec in records:
                    if rec.offset < ends[tp] and rec.key is not None:
                        latest[rec.key] = rec.value
                        n += 1
                last_progress = now
            for tp in list(left):
                if await consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
            if left and now - last_progress >= idle_timeout_s:
                raise TimeoutError(f"reading {topic} partitions {sorted(tp.partition for tp in left)}: "
                                   f"nothing delivered for {idle_timeout_s:.0f} s")
            if left and now - last_log >= PROGRESS_EVERY_S:
                last_log = now
                log.info("%s: %d records read so far (%.0f s), %d of %d partitions left", topic, n, now - began,
                         len(left), len(tps))
    finally:
        await consumer.stop()
    return {k: v for k, v in latest.items() if v is not None}
