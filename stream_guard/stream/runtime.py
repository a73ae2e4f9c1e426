"""The worker's in-memory side, free of Faust: detectors per partition, watermark, checkpoints.

The Faust agent hands every input message to :meth:`WorkerRuntime.handle`; a timer calls
:meth:`WorkerRuntime.tick` and :meth:`WorkerRuntime.checkpoint`. Per-account state lives in
one :class:`~stream_guard.core.detector.Detector` per input partition, so a partition's
state moves with the partition and is checkpointed to the same partition of the
compacted checkpoint topic (key ``b"<partition>/<account_id>"``).

>>> from stream_guard.settings import Settings
>>> from stream_guard.metrics import Metrics
>>> rt = WorkerRuntime(Settings(), Metrics())
>>> ok = b'{"event_id":"e1","ts":100,"account_id":"a","model":"m","input_tokens":1,"output_tokens":2}'
>>> rt.handle(0, 7, ok).dead_letters
[]
>>> [(p, k) for p, k, _ in rt.checkpoint() if b"#models/" not in k]   # and the 4 models, once
[(0, b'0/a'), (0, b'0#ids/0/1.0'), (0, b'0#marker')]
>>> rt.handle(0, 8, b"not json").dead_letters[0].reason.value
'invalid_json'
>>> rt.handle(0, 8, b"not json").outcomes   # offset 8 again (a re-delivery): already done
0
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from stream_guard.contracts import DeadLetter, DeadLetterReason, decode_message
from stream_guard.core.alerts import Alert
from stream_guard.core.checkpoint import (
    PartitionCheckpoints,
    RestoredPartition,
    restore_partition,
)
from stream_guard.core.detector import Detector
from stream_guard.core.eventtime import TimeBounds
from stream_guard.core.flow import Flow, ProfileTransport
from stream_guard.core.signals import native_panic
from stream_guard.metrics import Metrics
from stream_guard.settings import Settings

__all__ = ["HandleResult", "WorkerRuntime"]

log = logging.getLogger(__name__)
#: a bug in the compiled kernels (a Rust panic, a BaseException): dead-lettered per event like any other
_PANIC = native_panic()

#: A partition with no message for this many wall-clock seconds no longer holds the
#: watermark back (otherwise one idle partition would stop all idle-account evaluation).
IDLE_PARTITION_S = 5.0


@dataclass(slots=True)
class HandleResult:
    """What one input message produced (alerts come from :meth:`WorkerRuntime.tick`)."""

    dead_letters: list[DeadLetter] = field(default_factory=list)
    #: events given an outcome (0 for a message at an offset already handled)
    outcomes: int = 0


class WorkerRuntime:
    """Detectors of the assigned partitions, and the bookkeeping around them."""

    def __init__(self, settings: Settings, metrics: Metrics, links: ProfileTransport | None = None) -> None:
        self.s = settings
        self.m = metrics
        #: the detection flow; ``links`` takes the closed account profiles (the worker's
        #: Kafka outbox, :class:`~stream_guard.stream.linking.ProfileOutbox`)
        self.flow = Flow(settings, links)
        self.checkpoints: dict[int, PartitionCheckpoints] = {}
        #: partitions whose detector came from their checkpoint (or was kept through a
        #: rebalance); a detector created by an early message is only provisional
        self.restored: set[int] = set()
        #: restored partitions revoked by a rebalance in progress: kept in memory (Faust's
        #: eager rebalance revokes every partition and usually hands most of them back) but
        #: not checkpointed until the rebalance says whether they stay (:meth:`keep`)
        self.suspended: set[int] = set()
        #: restored partitions whose input is still to be re-read from this offset (the
        #: checkpoint's), before their next message is handled (see stream/catchup.py)
        self.resume_at: dict[int, int] = {}
        self.last_message_wall: dict[int, float] = {}
        self.last_offset: dict[int, int] = {}
        self.ready = False
        self.bounds = TimeBounds.of(settings)
        self._errors_logged_at = float("-inf")
        self._errors_unlogged = 0
        self._evaluations_counted = 0
        self._silenced_counted = 0  # findings silenced by analyst verdicts, counted into the metric
        self._counts = [0, 0, 0, 0, 0]  # messages, processed, duplicate, untracked, dead_lettered
        self.last_watermark: float | None = None
        metrics.max_accounts.set(settings.max_accounts)

    # --- partitions -------------------------------------------------------------------------
    @property
    def detectors(self) -> dict[int, Detector]:
        """The flow's detector per assigned partition."""
        return self.flow.detectors

    def detector(self, partition: int) -> Detector:
        """The detector of ``partition``, created empty on first use."""
        det = self.flow.detectors.get(partition)
        if det is None:
            det = self.flow.detector(partition)
            self.checkpoints[partition] = PartitionCheckpoints(partition)
            self.m.assigned_partitions.set(len(self.detectors))
            self._update_gauges()
        return det

    def restore(self, partition: int, items: Iterable[tuple[bytes, bytes]]) -> RestoredPartition:
        """Take over ``partition`` from its checkpoint records (the checkpoint topic's pairs of
        that partition); the result says where to re-read the input from.

        A provisional detector (messages handled before the restore) is replaced when the
        checkpoint has a marker (the input is re-read from it) and kept otherwise.
        """
        restored = restore_partition(self.s, partition, items, verdicts=self.flow.verdicts)
        if partition in self.detectors and restored.resume_at is None:
            self.restored.add(partition)
            return restored
        self.drop([partition])
        det = self.flow.adopt(partition, restored.detector)
        self.checkpoints[partition] = restored.checkpoints
        self.restored.add(partition)
        if restored.resume_at is not None:
            self.last_offset[partition] = restored.resume_at - 1
            self.resume_at[partition] = restored.resume_at
        # active from its restore on: until it has been silent for IDLE_PARTITION_S, its
        # restored clock holds the watermark (an idle stamp would let the other partitions
        # finalise boundaries whose events this one still has to deliver)
        self.last_message_wall[partition] = time.time()
        n = len(det.accounts)
        log.info("partition %d: restored %d account states (%s)", partition, n,
                 "no checkpoint" if restored.resume_at is None else f"to re-read from offset {restored.resume_at}")
        self.m.restored_states.inc(n)
        self._evaluations_counted += det.evaluations
        self.m.assigned_partitions.set(len(self.detectors))
        self._update_gauges()
        return restored

    def suspend(self, partitions: Iterable[int]) -> None:
        """A rebalance revoked ``partitions`` (after their final checkpoint): their state is
        kept, but no checkpoint of it is written until :meth:`keep` says they stay (another
        worker may be taking them over)."""
        moving = set(partitions) & self.restored
        self.suspended |= moving
        self.restored -= moving

    def keep(self, held: set[int]) -> None:
        """The rebalance's assignment is known: suspended partitions still ``held`` are
        restored as they are (nothing to read back); every other partition is dropped."""
        self.restored |= self.suspended & held
        self.suspended.clear()
        self.drop(set(self.detectors) - held)

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget revoked partitions (after their final checkpoint)."""
        for p in partitions:
            self.suspended.discard(p)
            det = self.flow.drop(p)
            if det is not None:
                self._evaluations_counted -= det.evaluations
                self._silenced_counted -= det.silenced
            self.checkpoints.pop(p, None)
            self.restored.discard(p)
            self.resume_at.pop(p, None)
            self.last_message_wall.pop(p, None)
            self.last_offset.pop(p, None)
        self.m.assigned_partitions.set(len(self.detectors))
        self._update_gauges()

    # --- the per-message path ---------------------------------------------------------------
    def handle(self, partition: int, offset: int, raw: bytes | None, now: float | None = None) -> HandleResult:
        """Decode, validate and process one input message; never raises.

        Every event the message stands for gets exactly one outcome: processed, duplicate,
        untracked or dead-lettered (bad input, event time out of range, or an error while
        processing it). ``now`` is the wall clock (event times far ahead of it are refused).
        A message at an offset of ``partition`` already handled (re-delivered after a
        rebalance) is skipped: it has its outcome.
        """
        if offset <= self.last_offset.get(partition, -1):
            # re-delivered (after a rebalance Faust may start below the checkpoint's offset):
            # the partition is busy, not idle; its clock must keep holding the watermark back
            self.last_message_wall[partition] = time.time()
            return HandleResult()
        started = time.perf_counter()
        det = self.detector(partition)
        msg = decode_message(raw, max_bytes=self.s.max_message_bytes, max_batch=self.s.max_batch_events)
        result = HandleResult(dead_letters=msg.dead_letters)
        dup0, rej0 = det.duplicates, det.rejected
        failed = 0
        reference = time.time() if now is None else now
        for index, (event, ts) in enumerate(msg.events):
            at = msg.positions[index] if msg.batched else None  # the position in the original array
            why = self.bounds.violation(ts, reference=reference, latest=det.max_ts)
            if why is not None:
                failed += 1
                result.dead_letters.append(
                    DeadLetter.of_element(DeadLetterReason.OUT_OF_RANGE_TIME, why, event, raw or b"", at)
                )
                continue
            try:
                det.process(event, ts, offset)
            except (Exception, _PANIC) as exc:  # noqa: BLE001 - a bad event must never stop the worker
                failed += 1
                self._log_processing_error(partition, offset, exc)
                result.dead_letters.append(
                    DeadLetter.of_element(DeadLetterReason.PROCESSING_ERROR, repr(exc)[:500], event, raw or b"", at)
                )
        # counts in plain ints; flush_counts() moves them into Prometheus once per tick
        # (a labelled counter increment takes a lock: too dear per one-event message)
        counts = self._counts
        duplicates, rejected = det.duplicates - dup0, det.rejected - rej0
        result.outcomes = len(msg.events) + len(msg.dead_letters)
        counts[0] += 1
        counts[1] += len(msg.events) - failed - duplicates - rejected
        counts[2] += duplicates
        counts[3] += rejected
        if result.dead_letters:
            counts[4] += len(result.dead_letters)
            for dl in result.dead_letters:
                self.m.dead_letters.labels(dl.reason.value).inc()
        if len(msg.events) > failed:
            # a message with a valid event keeps the partition active (holding the
            # watermark); one that was all dead letters does not: a stream of garbage must
            # not stall event time for the partitions that carry real traffic
            self.last_message_wall[partition] = time.time()
        self.last_offset[partition] = offset
        self.m.processing_latency.observe(time.perf_counter() - started)
        return result

    def _log_processing_error(self, partition: int, offset: int, exc: BaseException) -> None:
        # the exception type and place only: its text may quote event fields
        now = time.monotonic()
        self._errors_unlogged += 1
        if now - self._errors_logged_at >= 10.0:
            log.warning(
                "processing error (%s) in partition %d offset %d; %d such errors since the last report",
                type(exc).__name__, partition, offset, self._errors_unlogged,
            )
            self._errors_logged_at, self._errors_unlogged = now, 0

    def flush_counts(self) -> None:
        """Move the per-message counts into the Prometheus counters."""
        messages, processed, duplicates, rejected, dead = self._counts
        self._counts[:] = [0, 0, 0, 0, 0]
        m = self.m
        m.messages.inc(messages)
        for outcome, n in (("processed", processed), ("duplicate", duplicates), ("untracked", rejected),
                           ("dead_lettered", dead)):
            if n:
                m.events.labels(outcome).inc(n)

    # --- the per-tick path ------------------------------------------------------------------
    def watermark(self, now: float) -> float | None:
        """Minimum over active partitions of their latest event time (None before any).

        A partition is active while it had a valid event (or its restore) within the last
        ``IDLE_PARTITION_S`` seconds of wall time. An active partition that has not yet
        delivered its first event holds the watermark (``None``): the others' clocks must
        not finalise boundaries whose events it is about to deliver (at a worker's start
        Faust hands the partitions their first messages one after another).

        When every partition is idle, the watermark moves one evaluation interval plus the
        grace past the newest event: every pending evaluation is finalised, as at the end of
        a replay, without jumping event time ahead (which would expire idle accounts).
        """
        active = [
            det.max_ts
            for p, det in self.detectors.items()
            if now - self.last_message_wall.get(p, 0.0) < IDLE_PARTITION_S
        ]
        newest = max((d.max_ts for d in self.detectors.values()), default=0.0)
        if newest <= 0:
            return None
        if not active:
            return newest + self.s.eval_interval_s + self.s.idle_grace_s
        lowest = min(active)
        return lowest if lowest > 0 else None

    def tick(self, now: float, *, hold: bool = False) -> list[Alert]:
        """Evaluate quiet accounts up to the watermark; returns the alerts raised. With
        ``hold`` (the verdicts of a partition are still being re-read) nothing is evaluated."""
        self.flush_counts()
        if self.resume_at or hold:
            # a restored partition still re-reads its input: its clock and accounts are
            # behind, so event time must not move on (nor be reported) until it is done
            self._update_gauges()
            return []
        wm = self.last_watermark = self.watermark(now)
        alerts: list[Alert] = []
        if wm is not None:
            self.m.watermark.set(wm)
            self.m.event_lag.set(max(0.0, now - wm))
            alerts = self.flow.advance(wm)
            for score in self.flow.take_scores():
                self.m.evaluation_score.observe(score)
        self._update_gauges()
        return alerts

    def _selected(self, partitions: set[int] | None) -> list[tuple[int, Detector]]:
        return [(p, d) for p, d in self.detectors.items() if partitions is None or p in partitions]

    def checkpoint(self, partitions: set[int] | None = None) -> Iterator[tuple[int, bytes, bytes | None]]:
        """(partition, key, value) of one checkpoint pass of each of ``partitions`` (default
        all; see :mod:`~stream_guard.core.checkpoint`): changed accounts, new event ids,
        models that learned, and the marker with the next input offset. ``None`` values are
        tombstones. A partition with no message handled yet has nothing to write.
        """
        for p, det in self._selected(partitions):
            last = self.last_offset.get(p)
            if last is None:
                continue
            writer = self.checkpoints[p]
            for record in writer.records(det, last + 1):
                yield p, record.key, record.value
            if writer.model_seconds:
                self.m.model_checkpoint_duration.observe(writer.model_seconds)

    def _update_gauges(self) -> None:
        m = self.m
        dets = self.detectors.values()
        m.tracked_accounts.set(sum(len(d.accounts) for d in dets))
        m.cap_reached.set(1 if any(len(d.accounts) >= self.s.max_accounts for d in dets) else 0)
        learned: dict[str, int] = {}
        for d in dets:
            for population, n in d.scorer.models.learned().items():
                learned[population] = learned.get(population, 0) + n
        for population, n in learned.items():
            m.model_learned.labels(population).set(n)
        silenced = sum(d.silenced for d in dets)
        if silenced > self._silenced_counted:
            m.findings_silenced.inc(silenced - self._silenced_counted)
        self._silenced_counted = silenced
        evaluations = sum(d.evaluations for d in dets)
        if evaluations > self._evaluations_counted:
            m.evaluations.inc(evaluations - self._evaluations_counted)
        self._evaluations_counted = evaluations

