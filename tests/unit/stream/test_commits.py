"""The stuck-commit repair against Faust's own consumer bookkeeping (no broker: the
driver's commit call is replaced by a recorder; Faust's ``_commit_offsets`` and
``_new_offset`` run as they are)."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import pytest
from faust.types import TP
from stream_guard.stream.commits import CommitAdvancer, align_bookkeeping

TOPIC = "in"


@pytest.fixture
def consumer() -> Any:
    app = faust.App("commits-test", broker="kafka://127.0.0.1:1", store="memory://", web_enabled=False)
    c = app.consumer
    c.committed_to_broker = {}

    async def driver_commit(offsets: dict[TP, int]) -> bool:  # what reaches the group coordinator
        c.committed_to_broker.update(offsets)
        return True

    async def flush() -> None:
        return None

    c._commit = driver_commit
    c.assignment = lambda: {TP(TOPIC, 0), TP(TOPIC, 1)}
    app.producer.flush = flush
    return c


def ack(c: Any, tp: TP, offsets: range) -> None:
    for o in offsets:
        c._acked[tp].append(o)
        c._acked_index[tp].add(o)


def test_faust_stops_committing_at_a_head_gap_and_the_repair_unsticks_it(consumer: Any) -> None:
    tp = TP(TOPIC, 0)
    consumer._committed_offset[tp] = 100
    ack(consumer, tp, range(103, 110))  # 100..102 were never acknowledged
    assert consumer._new_offset(tp) is None  # Faust's own commit of the partition is stuck

    advancer = CommitAdvancer(TOPIC, after_s=60.0)
    assert asyncio.run(advancer.repair(consumer, {0: (110, 100)}, {0: 105}, 0.0)) == {}  # too early to tell
    done = asyncio.run(advancer.repair(consumer, {0: (110, 100)}, {0: 109}, 61.0))

    assert done == {0: 110} and consumer.committed_to_broker == {tp: 110}
    assert consumer._committed_offset[tp] == 110 and list(consumer._acked[tp]) == []
    ack(consumer, tp, range(110, 115))  # and Faust goes on committing by itself
    assert consumer._new_offset(tp) == 115


def test_no_repair_while_commits_follow_or_nothing_was_handled_beyond_them(consumer: Any) -> None:
    advancer = CommitAdvancer(TOPIC, after_s=60.0)
    # Faust commits every 2 s: the committed offset passes what was handled a minute ago
    for t in range(0, 300, 5):
        assert asyncio.run(advancer.repair(consumer, {0: (1000 + t * 10, 990 + t * 10)}, {0: 995 + t * 10}, t)) == {}
    # a worker that handles nothing (slow or stopped): the commit is at what it handled
    for t in range(0, 300, 5):
        assert asyncio.run(advancer.repair(consumer, {1: (5000 + t, 100)}, {1: 99}, t)) == {}
    assert consumer.committed_to_broker == {} and advancer.advanced == 0


def test_commits_that_creep_forward_one_offset_at_a_time_are_repaired_too(consumer: Any) -> None:
    # Faust's other failure: a repeated acknowledgement makes it commit one offset per interval
    advancer = CommitAdvancer(TOPIC, after_s=60.0)
    done = {}
    for t in range(0, 120, 5):
        done = asyncio.run(advancer.repair(consumer, {0: (10_000, 100 + t)}, {0: 1000 + 50 * t}, t))
        if done:
            break
    assert done == {0: 1000 + 50 * 60 + 1} and t == 60


def test_a_partition_revoked_meanwhile_is_neither_committed_nor_aligned(consumer: Any) -> None:
    gone = TP(TOPIC, 7)
    consumer._committed_offset[gone] = 5
    ack(consumer, gone, range(8, 10))
    advancer = CommitAdvancer(TOPIC, after_s=60.0)
    asyncio.run(advancer.repair(consumer, {7: (12, 5)}, {7: 9}, 0.0))
    assert asyncio.run(advancer.repair(consumer, {7: (12, 5)}, {7: 9}, 61.0)) == {}
    assert consumer.committed_to_broker == {} and consumer._committed_offset[gone] == 5
    align_bookkeeping(consumer, {gone: 10})
    assert list(consumer._acked[gone]) == [8, 9]


def test_a_partition_read_again_from_an_older_offset_starts_its_history_afresh() -> None:
    advancer = CommitAdvancer(TOPIC, after_s=60.0)
    advancer.due({0: (500, 100)}, {0: 400}, now=0.0)
    assert advancer.due({0: (500, 100)}, {0: 150}, now=61.0) == {}  # re-assigned, re-read from 100
    assert advancer.due({0: (500, 100)}, {0: 160}, now=122.0) == {0: 161}
