"""The worker's cross-account stages, free of Faust: message packing, the attribute stage and
the cluster stage.

Three hops, each a Kafka topic (see ``docs/cross-account.md``):

1. the ingest side's :class:`ProfileOutbox` (the flow's profile transport, see
   :mod:`stream_guard.core.flow`) re-keys each closed
   :class:`~stream_guard.core.linking.AccountProfile` by attribute value: the profile is
   split by the partition each ``kind/value`` hashes to and sent there, batched, on
   ``<app_id>-link-profiles``. Every tick it also tells every partition how far its
   profiles are complete (``through``);
2. :class:`AttributeStage` (one :class:`~stream_guard.core.linking.AttributeIndex` per
   partition of that topic) judges its values once every source is complete up to a
   boundary, and sends the verdicts to ``<app_id>-link-verdicts`` (ONE partition);
3. :class:`ClusterStage` (one :class:`~stream_guard.core.linking.ClusterBook`) builds the
   clusters and returns the alerts.

Messages are JSON objects ``{"src": ..., "through": ..., "items": [...]}``, at most
:data:`MAX_MESSAGE_BYTES` each.

>>> pack("w1", 900.0, [b'[1]', b'[2]'])
[b'{"src":"w1","through":900.0,"items":[[1],[2]]}']
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import orjson
import xxhash

from stream_guard.core.alerts import Alert
from stream_guard.core.checkpoint import BlobCheckpoints, RestoredBlob, restore_blob
from stream_guard.core.linking import (
    AccountProfile,
    AttributeIndex,
    ClusterBook,
    Frontier,
    verdict_from_wire,
)
from stream_guard.core.linking.pipeline import boundaries
from stream_guard.core.verdicts import AnalystVerdict
from stream_guard.metrics import Metrics
from stream_guard.settings import Settings
from stream_guard.stream.verdicts import forwarded_verdict

__all__ = [
    "CLUSTER_CHECKPOINT", "MAX_MESSAGE_BYTES", "AttributeStage", "ClusterStage", "ProfileOutbox",
    "attributes_checkpoint", "pack", "split_by_value", "unpack", "value_partition",
]

log = logging.getLogger(__name__)

#: Upper bound of one packed message (Kafka's default message.max.bytes is ~1 MB).
MAX_MESSAGE_BYTES = 512 * 1024
#: A source that sent nothing for this many wall seconds no longer holds a frontier back.
SOURCE_IDLE_S = 30.0
#: Wall seconds between heartbeats of a stage that has nothing new to say.
HEARTBEAT_S = 5.0
#: Most checkpoint passes of changes after a whole attribute index (or cluster book) before
#: the next whole one (also written once the changes' blobs add up to the whole one's size):
#: bounds what a restore reads and applies.
DELTA_PASSES = 30


#: Distinct attribute values whose link-profiles partition the outbox remembers before it
#: forgets them all (a cache: ~150 B apiece).
OWNER_CACHE = 200_000

#: Name of the cluster stage's checkpoint (in its own one-partition checkpoint topic).
CLUSTER_CHECKPOINT = "clusters"


def attributes_checkpoint(partition: int) -> str:
    """Name of the checkpoint of one attribute index (in the state checkpoint topic's
    partition of the same number as its link-profiles partition)."""
    return f"{partition}@attributes"


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _boundary(x: float | None) -> float:
    return float("-inf") if x is None else float(x)


def pack(source: str, through: float, items: Iterable[bytes], earlier: float = 0.0) -> list[bytes]:
    """Serialized items packed into messages of at most :data:`MAX_MESSAGE_BYTES`
    (always at least one message, so that an empty one still carries ``through``).

    Only the last message carries ``through``; the ones before it carry ``earlier`` (what
    the source said before, or 0): a stage must not judge boundary ``through`` after the
    first message of a delivery while the rest of its items are still on their way.

    >>> [unpack(m)[1] for m in pack("w", 900.0, [b'"x"'] * 3)]   # one message
    [900.0]
    >>> [unpack(m)[1] for m in pack("w", 900.0, [b'"' + b"x" * 1000 + b'"'] * 1000, earlier=0.0)]
    [0.0, 900.0]
    """
    def head(value: float) -> bytes:
        return b'{"src":' + orjson.dumps(source) + b',"through":' + orjson.dumps(value) + b',"items":['

    early = head(earlier if math.isfinite(earlier) else 0.0)
    out: list[bytes] = []
    chunk: list[bytes] = []
    size = len(early)
    for item in items:
        if chunk and size + len(item) + 3 > MAX_MESSAGE_BYTES:
            out.append(early + b",".join(chunk) + b"]}")
            chunk, size = [], len(early)
        chunk.append(item)
        size += len(item) + 1
    out.append(head(through) + b",".join(chunk) + b"]}")
    return out


def unpack(raw: bytes) -> tuple[str, float, list[Any]]:
    """(source, through, items) of a packed message."""
    data = orjson.loads(raw)
    return data["src"], float(data["through"]), data["items"]


def value_partition(kind: str, value: str, partitions: int) -> int:
    """Partition of the link-profiles topic that owns attribute value ``kind/value``."""
    return xxhash.xxh3_64_intdigest(f"{kind}\x1f{value}".encode()) % partitions


def split_by_value(profile: AccountProfile, partitions: int) -> dict[int, AccountProfile]:
    """``profile`` cut into one profile per link-profiles partition, each holding the values
    that partition owns (:func:`value_partition`): what :meth:`ProfileOutbox.deliver` writes
    for each partition (without building the parts; the outbox's tests compare the two).

    >>> p = AccountProfile("a", 900.0, 2, [("ip", "h:1", 2), ("model", "m", 2)], 2.0, 0.5, -1.0, 1)
    >>> sorted(v for part in split_by_value(p, 4).values() for v in part.values) == p.values
    True
    """
    values: dict[int, list[tuple[str, str, int]]] = {}
    for kind, value, n in profile.values:
        values.setdefault(value_partition(kind, value, partitions), []).append((kind, value, n))
    return {p: dataclasses.replace(profile, values=v) for p, v in values.items()}


class _ChainedState(Protocol):
    """A state checkpointed as a whole pass and passes of changes (the attribute index, the
    cluster book)."""

    def load(self, data: dict[str, Any]) -> None: ...
    def apply_changes(self, data: dict[str, Any]) -> None: ...


def _load_chain(restored: RestoredBlob, key: str, state: _ChainedState) -> dict[str, Any]:
    """Load ``state`` from a restored checkpoint: its whole pass, then the passes of changes
    after it, in order (each pass holds the state under ``key``); returns the latest pass's
    data (what the stage wrote beside the state: its frontier, how far it judged)."""
    state.load(restored.data[key])
    latest: dict[str, Any] = restored.data
    for changes in restored.deltas:
        state.apply_changes(changes[key])
        latest = changes
    return latest


class ProfileOutbox:
    """The worker's profile transport: closed profiles re-keyed by attribute value into
    packed messages for the link-profiles topic (the app sends what :meth:`take` gives)."""

    def __init__(self, metrics: Metrics, source: str, partitions: int) -> None:
        self.m = metrics
        self.source = source
        self.partitions = partitions
        self.through = 0.0  # the last boundary delivered
        self._messages: list[tuple[int, bytes]] = []
        self._owner: dict[tuple[str, str], int] = {}  # (kind, value) -> its partition (a cache)

    def deliver(self, profiles: list[AccountProfile], through: float) -> list[Alert]:
        """Pack ``profiles`` per partition, with ``through`` (a heartbeat for partitions
        without any); the cluster stage's alerts come later, from its own agent.

        Each partition gets ``split_by_value(profile)[p].to_wire()``, written here without a
        profile object per part, and the partition of each (kind, value) is looked up once
        per cache generation (values repeat across accounts and intervals)."""
        n = self.partitions
        split: list[list[bytes]] = [[] for _ in range(n)]
        owner = self._owner
        if len(owner) > OWNER_CACHE:
            owner.clear()
        dumps = orjson.dumps
        for profile in profiles:
            parts: dict[int, list[list[Any]]] = {}
            for kind, value, count in profile.values:
                key = (kind, value)
                p = owner.get(key)
                if p is None:
                    p = owner[key] = value_partition(kind, value, n)
                part = parts.get(p)
                if part is None:
                    part = parts[p] = []
                part.append([kind, value, count])
            head = [profile.account, profile.at, profile.requests]
            tail = [profile.day_requests, profile.likeness, profile.age_days, profile.hours]
            for p, values in parts.items():
                split[p].append(dumps([*head, values, *tail]))
        self.m.link_profiles.inc(len(profiles))
        earlier, self.through = self.through, max(self.through, through)
        self._messages += [(p, msg) for p in range(self.partitions)
                           for msg in pack(self.source, through, split[p], earlier)]
        return []

    def take(self) -> list[tuple[int, bytes]]:
        """(partition of the link-profiles topic, message) delivered since the last call."""
        out, self._messages = self._messages, []
        return out


class AttributeStage:
    """Attribute indexes of the assigned partitions of the profiles topic."""

    def __init__(self, settings: Settings, metrics: Metrics, source: str) -> None:
        self.s = settings
        self.m = metrics
        self.source = source
        self.indexes: dict[int, AttributeIndex] = {}
        self.frontiers: dict[int, Frontier] = {}
        self.evaluated: dict[int, float] = {}
        self.last_sent: dict[int, float] = {}
        # crash consistency (as for the input: see core/checkpoint.py)
        self.last_offset: dict[int, int] = {}  # the newest offset handled per partition
        self.resume_at: dict[int, int] = {}  # restored partitions still to re-read from here
        self.restored: set[int] = set()
        self.suspended: set[int] = set()  # revoked by a rebalance in progress (as WorkerRuntime's)
        self.checkpoints: dict[int, BlobCheckpoints] = {}
        self.changed: set[int] = set()  # partitions changed since their last checkpoint

    def handle(self, partition: int, raw: bytes, now: float, offset: int = -1) -> None:
        """Take one packed message of profiles (never raises on a bad message); a message at
        or below the partition's newest offset is one this state holds already."""
        if offset >= 0:
            if offset <= self.last_offset.get(partition, -1):
                return
            self.last_offset[partition] = offset
        try:
            source, through, items = unpack(raw)
            profiles = [AccountProfile.from_wire(item) for item in items]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.warning("bad link-profiles message on partition %d: %r", partition, exc)
            self.changed.add(partition)
            return
        index = self.indexes.get(partition)
        if index is None:
            index = self.indexes[partition] = AttributeIndex(self.s)
            self.frontiers[partition] = Frontier(SOURCE_IDLE_S)
        for p in profiles:
            index.observe(p)
        # a heartbeat that moves nothing changes nothing worth a checkpoint pass (which
        # re-serializes the whole index); re-reading it after a crash is harmless
        if self.frontiers[partition].update(source, through, now=now) or profiles:
            self.changed.add(partition)

    def tick(self, now: float) -> list[bytes]:
        """Judge every boundary the partitions' frontiers passed (in order, each once); verdict
        messages for the verdicts topic (and heartbeats)."""
        out: list[bytes] = []
        step = self.s.link_interval_s
        for partition, index in self.indexes.items():
            if partition in self.resume_at:
                continue  # restored, still re-reading what its checkpoint does not hold
            target = self.frontiers[partition].value(now=now)
            done = self.evaluated.get(partition, float("-inf"))
            src = f"{self.source}/{partition}"
            last = sent = None
            if target is not None:
                for b in boundaries(done, target, step, index.next_pending, index.holding):
                    started = time.perf_counter()
                    links, pivots = index.evaluate(b)
                    index.expire(b)
                    self.m.linking_duration.labels("index").observe(time.perf_counter() - started)
                    items = [orjson.dumps(v.to_wire()) for v in links] + [orjson.dumps(v.to_wire()) for v in pivots]
                    if items:
                        out += pack(src, b, items, done if last is None else last)
                        sent = b
                    last = b
            if last is not None:
                if sent != last:  # the frontier still learns how far this partition is judged
                    out += pack(src, last, [])
                self.evaluated[partition] = last
                self.changed.add(partition)
                self.last_sent[partition] = now
            elif partition in self.evaluated and now - self.last_sent.get(partition, 0.0) >= HEARTBEAT_S:
                out += pack(src, done, [])
                self.last_sent[partition] = now
        self.m.attribute_values.set(sum(len(i) for i in self.indexes.values()))
        self.m.attribute_members.set(sum(i.members() for i in self.indexes.values()))
        return out

    def checkpoint(self, partitions: Iterable[int]) -> Iterator[tuple[int, bytes, bytes | None]]:
        """(partition, key, value) of one checkpoint pass of each of ``partitions`` that
        changed since its last pass: the index, its frontier and how far it is judged, with
        the next offset of the profiles topic."""
        for p in sorted(set(partitions) & self.changed):
            last = self.last_offset.get(p)
            if last is None or p not in self.indexes:
                continue
            index = self.indexes[p]
            cp = self.checkpoints.setdefault(p, BlobCheckpoints(attributes_checkpoint(p)))
            # the values changed since the last pass, unless the chain of changes has grown
            # as large as the whole index (or as long as DELTA_PASSES): then the whole index
            # again (the first pass, and the one after a pass that was cut short, too)
            delta = cp.changes_will_do(DELTA_PASSES)
            data = {"index": index.checkpoint_data(changes=delta), "frontier": self.frontiers[p].export(),
                    "evaluated": _finite(self.evaluated.get(p, float("-inf")))}
            for record in cp.records(data, last + 1, delta=delta):
                yield p, record.key, record.value
            self.changed.discard(p)

    def restore(self, partition: int, items: Iterable[tuple[bytes, bytes]], now: float) -> RestoredBlob:
        """Take over ``partition`` from its checkpoint (the state topic's pairs of that
        partition); messages handled before (provisionally) are replaced when there is one."""
        restored = restore_blob(attributes_checkpoint(partition), items)
        self.restored.add(partition)
        self.checkpoints[partition] = restored.checkpoints
        if restored.data is None or restored.resume_at is None:
            return restored
        self.drop([partition], keep_restored=True)
        index = self.indexes[partition] = AttributeIndex(self.s)
        latest = _load_chain(restored, "index", index)
        frontier = self.frontiers[partition] = Frontier(SOURCE_IDLE_S)
        # restored sources count again once heard from (a re-read or a new message)
        frontier.load(latest["frontier"], now=now - SOURCE_IDLE_S)
        evaluated = latest["evaluated"]
        if evaluated is not None:
            self.evaluated[partition] = float(evaluated)
        self.checkpoints[partition] = restored.checkpoints
        self.last_offset[partition] = restored.resume_at - 1
        self.resume_at[partition] = restored.resume_at
        log.info("link-profiles partition %d: restored %d attribute values (to re-read from offset %d)",
                 partition, len(index), restored.resume_at)
        return restored

    def suspend(self, partitions: Iterable[int]) -> None:
        """As :meth:`WorkerRuntime.suspend`: kept, not checkpointed, until :meth:`keep`."""
        moving = set(partitions) & self.restored
        self.suspended |= moving
        self.restored -= moving

    def keep(self, held: set[int]) -> None:
        """As :meth:`WorkerRuntime.keep`: suspended partitions still held stay as they are."""
        self.restored |= self.suspended & held
        self.suspended.clear()
        self.drop(set(self.indexes) - held)

    def drop(self, partitions: Iterable[int], *, keep_restored: bool = False) -> None:
        """Forget revoked partitions (after their final checkpoint)."""
        for p in partitions:
            if not keep_restored:
                self.suspended.discard(p)
            self.indexes.pop(p, None)
            self.frontiers.pop(p, None)
            self.evaluated.pop(p, None)
            self.last_sent.pop(p, None)
            self.last_offset.pop(p, None)
            self.resume_at.pop(p, None)
            self.changed.discard(p)
            if not keep_restored:
                self.restored.discard(p)
                self.checkpoints.pop(p, None)


class ClusterStage:
    """The cluster book (the verdicts topic has one partition: one owner at a time)."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.s = settings
        self.m = metrics
        self.book = ClusterBook(settings)
        self.frontier = Frontier(SOURCE_IDLE_S)
        self.evaluated = float("-inf")
        self.last_offset = -1  # the newest offset of the verdicts topic handled
        self.resume_at: dict[int, int] = {}  # {0: offset} while a restored stage re-reads
        self.restored = False
        self.checkpoints = BlobCheckpoints(CLUSTER_CHECKPOINT)
        self.changed = False

    def handle(self, raw: bytes, now: float, offset: int = -1) -> None:
        """Take one packed message of verdicts (applied when its boundary is judged); a
        message at or below the newest offset is one this state holds already."""
        if offset >= 0:
            if offset <= self.last_offset:
                return
            self.last_offset = offset
        analyst = forwarded_verdict(raw)
        if analyst is not None:  # an analyst verdict forwarded by the worker that read it
            self.changed = self.book.judged.add(analyst) or self.changed
            return
        try:
            source, through, items = unpack(raw)
            verdicts = [verdict_from_wire(item) for item in items]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.warning("bad link-verdicts message: %r", exc)
            self.changed = True
            return
        self.book.update(verdicts)
        if self.frontier.update(source, through, now=now) or verdicts:  # (as AttributeStage.handle)
            self.changed = True

    def take_given(self) -> list[AnalystVerdict]:
        """The member verdicts cluster verdicts gave since the last call (for the verdicts topic)."""
        return self.book.judged.take_given()

    def reset_gauges(self) -> None:
        """Zero this worker's cluster gauges (it no longer owns the verdicts partition)."""
        self.m.clusters.set(0)
        self.m.clustered_accounts.set(0)
        for kind in self.s.link_weights:
            self.m.linked_values.labels(kind).set(0)

    def tick(self, now: float) -> list[Alert]:
        """Judge every boundary every active source has completed (in order, each once)."""
        target = self.frontier.value(now=now)
        if target is None or self.resume_at:  # (restored, still re-reading)
            return []
        alerts: list[Alert] = []
        last = None
        for b in boundaries(self.evaluated, target, self.s.link_interval_s, self.book.next_pending, self.book.holding):
            started = time.perf_counter()
            alerts += self.book.evaluate(b)
            self.m.linking_duration.labels("clusters").observe(time.perf_counter() - started)
            last = b
        if last is None:
            return []
        self.evaluated = last
        self.changed = True
        big = [c for c in self.book.clusters if len(c.members) >= self.s.cluster_min_accounts]
        self.m.clusters.set(len(big))
        self.m.clustered_accounts.set(sum(len(c.members) for c in big))
        kinds: dict[str, int] = {}
        for kind, _ in self.book.links:
            kinds[kind] = kinds.get(kind, 0) + 1
        for kind in self.s.link_weights:
            self.m.linked_values.labels(kind).set(kinds.get(kind, 0))
        return alerts

    def checkpoint(self) -> Iterator[tuple[bytes, bytes | None]]:
        """(key, value) of one checkpoint pass if anything changed since the last: the
        cluster book (links, cluster ids, cooldowns), the frontier and how far it is
        judged, with the next offset of the verdicts topic."""
        if not self.changed or self.last_offset < 0:
            return
        # what changed since the last pass, or the whole book (as AttributeStage.checkpoint)
        delta = self.checkpoints.changes_will_do(DELTA_PASSES)
        data = {"book": self.book.checkpoint_data(changes=delta), "frontier": self.frontier.export(),
                "evaluated": _finite(self.evaluated)}
        for record in self.checkpoints.records(data, self.last_offset + 1, delta=delta):
            yield record.key, record.value
        self.changed = False

    def restore(self, items: Iterable[tuple[bytes, bytes]], now: float) -> RestoredBlob:
        """Take over the cluster stage from its checkpoint (the cluster topic's pairs)."""
        restored = restore_blob(CLUSTER_CHECKPOINT, items)
        self.restored = True
        self.checkpoints = restored.checkpoints
        if restored.data is None or restored.resume_at is None:
            return restored
        self.book = ClusterBook(self.s)
        latest = _load_chain(restored, "book", self.book)
        self.frontier = Frontier(SOURCE_IDLE_S)
        self.frontier.load(latest["frontier"], now=now - SOURCE_IDLE_S)
        self.evaluated = _boundary(latest["evaluated"])
        self.last_offset = restored.resume_at - 1
        self.resume_at = {0: restored.resume_at}
        self.changed = False
        log.info("link-verdicts: restored %d links and %d cluster cooldowns (to re-read from offset %d)",
                 len(self.book.links), len(self.book.cluster_gate), restored.resume_at)
        return restored
