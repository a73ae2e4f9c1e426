"""Stuck offset commits: advance the consumer group's committed offset ourselves.

Faust commits, per input partition, the end of the first run of consecutive offsets it
saw acknowledged. Around a rebalance its bookkeeping can go wrong (docs/monitoring.md,
"Stuck offset commits"): with a hole at the head of that run it stops committing the
partition for good, with a repeated offset it commits one offset per commit interval,
while every message is still processed (measured after a kill -9 failover: one
partition's committed offset stood still for the rest of the run, 134,871 messages
behind). Nothing is lost (our checkpoints carry their own input offsets), but a restart
re-reads the whole stretch, and broker-side lag tools and the committed-lag metric show a
backlog that is not there.

:class:`CommitAdvancer` is the repair. At each broker probe it remembers the offset this
worker had handled per partition; when the group's committed offset is still below what
had been handled ``after_s`` seconds earlier (Faust commits every ``broker_commit_interval``
= 2 s, so a healthy commit is never that far behind), it commits the next offset after the
last handled (every offset below it has its outcome) through Faust's own consumer (the
group's generation fences a commit of a partition that moved away) and aligns Faust's
bookkeeping with it: the committed offset, and acknowledgements below it dropped, so that
Faust's own commits go on from there.

>>> adv = CommitAdvancer("in", after_s=60.0)
>>> adv.due({0: (500, 100)}, {0: 199}, now=0.0)      # nothing to compare with yet
{}
>>> adv.due({0: (800, 100)}, {0: 499}, now=30.0)     # behind, but not for 60 s
{}
>>> adv.due({0: (900, 100)}, {0: 799}, now=61.0)     # still below what was handled at 0 s
{0: 800}
>>> adv.due({0: (900, 700)}, {0: 799}, now=62.0)     # Faust committed again: healthy
{}
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from typing import Any

from faust.types import TP

__all__ = ["CommitAdvancer", "align_bookkeeping"]

log = logging.getLogger(__name__)


def align_bookkeeping(consumer: Any, offsets: Mapping[TP, int]) -> None:
    """After a commit of ``offsets`` outside Faust's own path: record them as committed and
    drop the acknowledgements (and known gaps) below them, so that Faust's next commit of
    each partition starts at the new offset instead of waiting for the missing head."""
    assigned = consumer.assignment()
    for tp, offset in offsets.items():
        if tp not in assigned:  # revoked meanwhile: Faust left it out of the commit
            continue
        consumer._committed_offset[tp] = offset
        acked = consumer._acked.get(tp)
        if acked:
            below = [o for o in acked if o < offset]
            if below:
                acked[:] = [o for o in acked if o >= offset]
                consumer._acked_index[tp].difference_update(below)
        gap = consumer._gap.get(tp)
        if gap:
            gap.chop(0, offset)


class CommitAdvancer:
    """Commits handled offsets of input partitions whose Faust commits fell behind."""

    def __init__(self, topic: str, *, after_s: float) -> None:
        self.topic = topic
        self.after_s = after_s
        #: per partition: (probe time, last offset handled then), oldest first
        self._handled: dict[int, deque[tuple[float, int]]] = {}
        #: partitions committed by the repair so far (for the log, metrics and tests)
        self.advanced = 0

    def due(
        self, offsets: Mapping[int, tuple[int, int | None]], handled: Mapping[int, int], now: float
    ) -> dict[int, int]:
        """Partitions to commit, ``{partition: offset}``: those whose committed offset (from
        the broker probe's ``offsets``, ``{partition: (end, committed)}``) is below what had
        been handled ``after_s`` seconds before ``now`` (a monotonic clock)."""
        out: dict[int, int] = {}
        for p in set(self._handled) - set(handled):
            del self._handled[p]
        for p, last in handled.items():
            history = self._handled.setdefault(p, deque())
            if history and last < history[-1][1]:
                history.clear()  # re-assigned and re-read from an older offset: start afresh
            history.append((now, last))
            # the newest sample at least after_s old is the one to compare with
            while len(history) >= 2 and now - history[1][0] >= self.after_s:
                history.popleft()
            then, handled_then = history[0]
            end, committed = offsets.get(p, (0, None))
            if now - then >= self.after_s and (committed or 0) <= handled_then < end:
                out[p] = last + 1
        return out

    async def repair(
        self, consumer: Any, offsets: Mapping[int, tuple[int, int | None]], handled: Mapping[int, int], now: float
    ) -> dict[int, int]:
        """Commit every partition :meth:`due`; returns the offsets committed."""
        todo = self.due(offsets, handled, now)
        if not todo:
            return {}
        commit = {TP(self.topic, p): o for p, o in todo.items()}
        for tp, offset in commit.items():
            acked = consumer._acked.get(tp) or []
            log.warning(
                "input partition %d: the group's committed offset %s is over %.0f s behind what was handled; "
                "committing offset %d, the next after the last handled (Faust's committed offset %s, "
                "acknowledged head %s, %d acknowledgements pending)",
                tp.partition, offsets[tp.partition][1], self.after_s, offset, consumer._committed_offset.get(tp),
                min(acked) if acked else None, len(acked),
            )
        # Faust's consumer commits through the group's member: a partition revoked meanwhile is
        # left out (Faust's _commit_offsets keeps to the current assignment), a stale generation
        # makes the commit fail instead of overwriting the new owner's offset.
        if not await consumer._commit_offsets(commit, start_new_transaction=False):
            return {}
        align_bookkeeping(consumer, commit)
        self.advanced += len(commit)
        return todo
