"""Crash-consistent checkpoints of one partition's detector, as key/value records.

A checkpoint *pass* writes, for one input partition, in this order:

1. every account state changed since the last pass (``<p>/<account>``), each stamped with
   ``upto``: the next input offset, i.e. the state holds every event of its account at a
   lower offset (tombstones for expired accounts);
2. the event ids remembered since the last pass (``<p>#ids/<generation>/<seq>.<i>``, 64-bit
   ids, at most :data:`IDS_PER_RECORD` per record) and tombstones of id generations that
   fell out of the duplicate window;
3. the population models that learned since the last pass (``<p>#models/<population>/<slot>``,
   two slots per population, written alternately);
4. the *marker* (``<p>#marker``): the pass number, the next input offset, the detector's
   event-time clock, and the model slot of each population.

The records of a partition go to one changelog partition in order, so a marker that
arrived means its whole pass arrived. :func:`restore_partition` rebuilds the detector as
of the latest marker: account states (each knows which events it already holds), the id
memory and the models of that marker, and says where to re-read the input from. A pass
cut short by a crash leaves its account states (newer than the marker: their ``upto``
skips the events they hold) and id records (ignored and deleted: their pass number is
above the marker's); its models went to the slot the marker does not name.

>>> from stream_guard.settings import Settings
>>> s = Settings(cross_account=False)
>>> det = Detector(s, clock=lambda: 0.0)
>>> det.process({"event_id": "e1", "ts": 100, "account_id": "a", "model": "m",
...              "input_tokens": 1, "output_tokens": 2}, 100.0, offset=41)
>>> table = dict(PartitionCheckpoints(0).records(det, next_offset=42))
>>> sorted(k for k in table if b"#models/" not in k)   # and the models (4 populations), once
[b'0#ids/0/1.0', b'0#marker', b'0/a']
>>> again = restore_partition(s, 0, table.items(), clock=lambda: 0.0)
>>> again.resume_at, list(again.detector.accounts), again.stale
(42, ['a'], [])
>>> again.detector.process({"event_id": "e1", "account_id": "a", "model": "m",
...                         "input_tokens": 1, "output_tokens": 2}, 100.0, offset=42)
>>> again.detector.duplicates   # the id memory came back too
1
"""

from __future__ import annotations

import math
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from stream_guard.core.detector import Detector
from stream_guard.core.verdicts import VerdictBook
from stream_guard.settings import Settings

__all__ = [
    "BLOB_PART_BYTES",
    "IDS_PER_RECORD",
    "BlobCheckpoints",
    "CheckpointRecord",
    "PartitionCheckpoints",
    "RestoredBlob",
    "RestoredPartition",
    "by_partition",
    "restore_blob",
    "restore_partition",
]

#: Event ids per id record (8 bytes each: 512 KiB, under Kafka's default 1 MB message limit).
IDS_PER_RECORD = 65_536


class CheckpointRecord(NamedTuple):
    """One changelog record: ``value`` ``None`` is a tombstone."""

    key: bytes
    value: bytes | None


@dataclass(slots=True)
class _ModelSlot:
    slot: int  # the slot the latest marker names
    learned: int  # evaluations learned when it was written


def _account_key(partition: int, account: str) -> bytes:
    return f"{partition}/{account}".encode()


def _marker_key(partition: int) -> bytes:
    return f"{partition}#marker".encode()


def _ids_key(partition: int, generation: int, seq: int, part: int) -> bytes:
    return f"{partition}#ids/{generation}/{seq}.{part}".encode()


def _model_key(partition: int, population: str, slot: int) -> bytes:
    return f"{partition}#models/{population}/{slot}".encode()


class PartitionCheckpoints:
    """Writes the checkpoint passes of one partition (see the module docstring)."""

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.seq = 0  # passes written (the latest marker's number)
        self.offset = -1  # the latest marker's offset
        self.models: dict[str, _ModelSlot] = {}
        self.id_keys: dict[int, list[bytes]] = {}  # id generation -> its records' keys
        self.model_seconds = 0.0  # time spent pickling models in the last pass

    def records(self, det: Detector, next_offset: int) -> Iterator[CheckpointRecord]:
        """One pass: the changed state of ``det``, which holds every input event of its
        partition before ``next_offset``, then the marker (no pass when nothing changed)."""
        p, seq = self.partition, self.seq + 1
        wrote = False
        for account, data in det.take_dirty(next_offset).items():
            wrote = True
            yield CheckpointRecord(_account_key(p, account), data)
        for generation, ids in det.take_new_ids():
            wrote = wrote or bool(ids)
            for i in range(0, len(ids), IDS_PER_RECORD):
                key = _ids_key(p, generation, seq, i // IDS_PER_RECORD)
                self.id_keys.setdefault(generation, []).append(key)
                yield CheckpointRecord(key, array("Q", ids[i : i + IDS_PER_RECORD]).tobytes())
        for generation in [g for g in self.id_keys if g < det.ids_generation - 1]:
            for key in self.id_keys.pop(generation):
                yield CheckpointRecord(key, None)
        learned = det.scorer.learned()
        changed = [pop for pop, n in learned.items() if pop not in self.models or self.models[pop].learned != n]
        started = time.perf_counter()
        blobs = det.scorer.dumps(changed) if changed else {}
        self.model_seconds = time.perf_counter() - started
        if not (wrote or blobs or next_offset != self.offset):
            return
        slots: dict[str, int] = {pop: m.slot for pop, m in self.models.items()}
        for pop, blob in blobs.items():
            slot = 1 - self.models[pop].slot if pop in self.models else 0
            slots[pop] = slot
            yield CheckpointRecord(_model_key(p, pop, slot), blob)
        marker = {"seq": seq, "offset": next_offset, "clock": det.clock_state(),
                  "ids_generation": det.ids_generation, "models": slots}
        yield CheckpointRecord(_marker_key(p), orjson.dumps(marker))
        # the pass is complete once its marker is sent: only now does it become the base
        self.seq, self.offset = seq, next_offset
        for pop in blobs:
            self.models[pop] = _ModelSlot(slots[pop], learned[pop])


@dataclass(slots=True)
class RestoredPartition:
    """A partition's detector as of its latest checkpoint marker."""

    detector: Detector
    checkpoints: PartitionCheckpoints
    #: the input offset to re-read from (``None``: no marker, e.g. a checkpoint of an older
    #: version; the consumer's committed offset applies)
    resume_at: int | None
    #: keys of records a cut-short pass left behind (to delete)
    stale: list[bytes] = field(default_factory=list)


def by_partition(items: Iterable[tuple[bytes, bytes | None]]) -> dict[int, list[tuple[bytes, bytes]]]:
    """The table's (key, value) pairs grouped by the partition their key names."""
    out: dict[int, list[tuple[bytes, bytes]]] = {}
    for key, value in items:
        if value is None:
            continue
        digits = len(key) - len(key.lstrip(b"0123456789"))
        if digits == 0:
            continue  # not ours
        out.setdefault(int(key[:digits]), []).append((key, value))
    return out


def restore_partition(
    settings: Settings,
    partition: int,
    items: Iterable[tuple[bytes, bytes]],
    *,
    clock: Callable[[], float] = time.time,
    verdicts: VerdictBook | None = None,
) -> RestoredPartition:
    """Rebuild partition ``partition``'s detector from its checkpoint records (sharing the
    analyst ``verdicts`` of its flow, if given)."""
    prefix = str(partition).encode()
    states: list[bytes] = []
    ids: dict[bytes, bytes] = {}
    models: dict[str, dict[str, bytes]] = {}  # population -> slot -> blob
    marker: dict[str, Any] | None = None
    for key, value in items:
        rest = key[len(prefix):]
        if rest.startswith(b"/"):
            states.append(value)
        elif rest == b"#marker":
            marker = orjson.loads(value)
        elif rest.startswith(b"#ids/"):
            ids[key] = value
        elif rest.startswith(b"#models/"):
            population, _, slot = rest[len(b"#models/"):].decode().partition("/")
            models.setdefault(population, {})[slot] = value
    det = Detector(settings, clock=clock, verdicts=verdicts)
    det.restore(states)
    checkpoints = PartitionCheckpoints(partition)
    restored = RestoredPartition(det, checkpoints, None)
    if marker is None:  # no marker: an older version's checkpoint (one model record each)
        det.scorer.loads({pop: blobs[""] for pop, blobs in models.items() if "" in blobs})
        restored.stale = list(ids)
        return restored
    checkpoints.seq, checkpoints.offset = int(marker["seq"]), int(marker["offset"])
    generation = int(marker["ids_generation"])
    current: list[int] = []
    previous: list[int] = []
    for key, value in ids.items():
        gen_text, _, seq_part = key[len(prefix) + len(b"#ids/"):].decode().partition("/")
        gen, seq = int(gen_text), int(seq_part.partition(".")[0])
        if seq > checkpoints.seq or gen < generation - 1 or gen > generation:
            restored.stale.append(key)
            continue
        (current if gen == generation else previous).extend(array("Q", value))
        checkpoints.id_keys.setdefault(gen, []).append(key)
    det.load_ids(generation, current, previous)
    blobs = {}
    for pop, slot in marker["models"].items():
        blob = models.get(pop, {}).get(str(slot))
        if blob is not None:
            blobs[pop] = blob
    det.scorer.loads(blobs)
    learned = det.scorer.learned()
    checkpoints.models = {pop: _ModelSlot(int(slot), learned.get(pop, -1)) for pop, slot in marker["models"].items()}
    det.load_clock_state(marker["clock"])
    restored.resume_at = int(marker["offset"])
    return restored


#: Bytes per part of a blob checkpoint (under Kafka's default 1 MB message limit).
BLOB_PART_BYTES = 512 * 1024


class BlobCheckpoints:
    """Checkpoints of a state written as compressed JSON blobs (the cross-account stages:
    their state is one object, not many small accounts), whole or as changes.

    A pass writes one blob in parts (``<name>@<seq>.<i>``, at most :data:`BLOB_PART_BYTES`
    each), then the marker (``<name>@marker``: the pass number, the input offset it covers
    and its *chain*: the passes whose blobs make the state, a whole one first, then the
    changes since, in order). A whole pass (:meth:`records`) starts a new chain and deletes
    the previous chain's parts after its marker; a pass of changes (:meth:`records` with
    ``delta=True``) adds its blob to the chain. A pass cut short leaves the previous marker
    and its chain intact; :func:`restore_blob` names the parts no chain holds as stale.

    >>> cp = BlobCheckpoints("0@attributes")
    >>> table = dict(cp.records({"values": [1, 2, 3]}, next_offset=7))
    >>> sorted(table)
    [b'0@attributes@1.0', b'0@attributes@marker']
    >>> table.update(cp.records({"add": [4]}, next_offset=8, delta=True))
    >>> back = restore_blob("0@attributes", [(k, v) for k, v in table.items() if v is not None])
    >>> back.data, back.deltas, back.resume_at
    ({'values': [1, 2, 3]}, [{'add': [4]}], 8)
    >>> table.update(cp.records({"values": [4]}, next_offset=9))
    >>> table[b'0@attributes@1.0'] is None and table[b'0@attributes@2.0'] is None   # the old chain, deleted
    True
    >>> back = restore_blob("0@attributes", [(k, v) for k, v in table.items() if v is not None])
    >>> back.data, back.deltas, back.resume_at, back.checkpoints.seq
    ({'values': [4]}, [], 9, 3)
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.seq = 0  # the latest marker's pass
        self.chain: list[tuple[int, int]] = []  # (pass, part count) of the blobs the latest marker names
        self.delta_bytes = 0  # compressed bytes of the chain's change blobs
        self.base_bytes = 0  # ... and of its whole blob
        # the last pass's records were not all taken: the changes its data holds (taken from
        # the state) may never have been written, so the next pass must be a whole one
        self.cut_short = False

    @property
    def parts(self) -> int:
        """The latest pass's part count (0: none)."""
        return self.chain[-1][1] if self.chain else 0

    def part_key(self, seq: int, part: int) -> bytes:
        return f"{self.name}@{seq}.{part}".encode()

    def changes_will_do(self, max_passes: int) -> bool:
        """Whether the next pass may hold changes only: there is a whole pass, the last pass
        was taken to its end (not :attr:`cut_short`), the chain has fewer than ``max_passes``
        passes and its changes are still smaller than the whole (else a whole pass keeps what
        a restore reads and applies bounded)."""
        return (bool(self.chain) and not self.cut_short and len(self.chain) < max_passes
                and self.delta_bytes < self.base_bytes)

    @property
    def marker_key(self) -> bytes:
        return f"{self.name}@marker".encode()

    def records(self, data: Any, next_offset: int, *, delta: bool = False) -> Iterator[CheckpointRecord]:
        """One pass of ``data`` (JSON-able), which holds every input message before
        ``next_offset``: the whole state, or with ``delta`` its changes since the previous
        pass (there must be one)."""
        if delta and not self.chain:
            raise ValueError(f"checkpoint {self.name}: changes need a whole pass before them")
        self.cut_short = True  # until the pass's last record is taken
        blob = zlib.compress(orjson.dumps(data), 1)
        seq, parts = self.seq + 1, max(1, math.ceil(len(blob) / BLOB_PART_BYTES))
        for i in range(parts):
            yield CheckpointRecord(self.part_key(seq, i), blob[i * BLOB_PART_BYTES : (i + 1) * BLOB_PART_BYTES])
        chain = [*self.chain, (seq, parts)] if delta else [(seq, parts)]
        marker = {"seq": seq, "parts": parts, "offset": next_offset, "bytes": len(blob), "chain": chain}
        yield CheckpointRecord(self.marker_key, orjson.dumps(marker))
        if not delta:
            for old, n in self.chain:
                for i in range(n):
                    yield CheckpointRecord(self.part_key(old, i), None)
        self.seq, self.chain = seq, chain
        if delta:
            self.delta_bytes += len(blob)
        else:
            self.base_bytes, self.delta_bytes = len(blob), 0
        self.cut_short = False


@dataclass(slots=True)
class RestoredBlob:
    """A blob-checkpointed state as of its latest marker."""

    data: Any  # the whole state of the chain's first pass (``None``: no checkpoint)
    checkpoints: BlobCheckpoints
    resume_at: int | None  # the input offset to re-read from (``None``: no checkpoint)
    stale: list[bytes] = field(default_factory=list)  # parts of passes the marker does not name
    deltas: list[Any] = field(default_factory=list)  # the changes of the chain's later passes, in order


def restore_blob(name: str, items: Iterable[tuple[bytes, bytes]]) -> RestoredBlob:
    """The state of checkpoint ``name`` from the table's (key, value) pairs (others are
    ignored): the whole state and the changes after it, as of the latest marker."""
    cp = BlobCheckpoints(name)
    prefix = f"{name}@".encode()
    marker: dict[str, Any] | None = None
    parts: dict[bytes, bytes] = {}
    for key, value in items:
        if key == cp.marker_key:
            marker = orjson.loads(value)
        elif key.startswith(prefix):
            parts[key] = value
    if marker is None:
        return RestoredBlob(None, cp, None, sorted(parts))
    # (markers written before the chains named only their own pass: a whole one)
    chain = [(int(s), int(n)) for s, n in marker.get("chain") or [[marker["seq"], marker["parts"]]]]
    blobs: list[Any] = []
    wanted: list[bytes] = []
    for seq, n in chain:
        keys = [cp.part_key(seq, i) for i in range(n)]
        if any(k not in parts for k in keys):  # cannot happen: the marker follows its parts
            raise ValueError(f"checkpoint {name}: pass {seq} lacks parts")
        raw = b"".join(parts[k] for k in keys)
        blobs.append(orjson.loads(zlib.decompress(raw)))
        wanted += keys
        if len(blobs) == 1:
            cp.base_bytes = len(raw)
        else:
            cp.delta_bytes += len(raw)
    cp.seq, cp.chain = int(marker["seq"]), chain
    return RestoredBlob(blobs[0], cp, int(marker["offset"]), sorted(set(parts) - set(wanted)), blobs[1:])

