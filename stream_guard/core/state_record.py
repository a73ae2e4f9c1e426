"""The checkpoint record of one account state: a compact binary value, written and read in µs.

A checkpoint pass writes one record per account that changed since the last pass, so under
load (tens of thousands of accounts touched every pass) its cost is paid per event. A
JSON picture of a state is ~1.3 KB and costs ~50 µs with its ~150 Python objects (108
float counters alone); this record is ~0.9 KB, built from the state's arrays as they are
(``array.tobytes``), with no per-counter objects.

Layout (little-endian, version 2)::

    b"\\x02"                       version
    <IqddddBBq                     hour_mask, last_hour, first_seen, last_ts, created_at,
                                   next_eval, pending, sketch_seq, upto (NaN: None)
    <H account_id (UTF-8)
    <BB  horizons H, counters C; H doubles (lengths); H int64 (generations);
         2*H*C float32 (the counters); <dQQ prev_distinct, cats, prev_cats;
         <I + HLL sketch bytes (0: no sketch)
    <HB  ring slots S, positions P; S uint32; P bytes
    <I   staged evaluations; each <dH boundary, feature count F (0xFFFF: screened out,
         no features) + F doubles in :data:`~stream_guard.core.features.FEATURES` order
    <H   active alerts and evaluator memory; each <H name (UTF-8) + <dd: a gate's severity
         rank and active until, or (name prefixed ``~``) an evaluator's two numbers
    <I + orjson of the extra data (the linking stage's open interval; 0: none)

:func:`decode_state` also reads version 1, which counted the staged evaluations and the
active alerts in one byte each (an account with more than 255 staged evaluations, boundaries
waiting for a watermark held back by a lagging partition while a backlog drains, failed its
checkpoint and stopped the worker), and the JSON records of earlier versions (they start
with ``{``).

>>> from stream_guard.core.state import AccountState
>>> st = AccountState("acct-1", (300.0, 3600.0, 86400.0))
>>> _ = st.add({"model": "m", "input_tokens": 10, "output_tokens": 900, "prompt": "Think step by step."}, 100.0)
>>> value = encode_state(st, {"open": None, "mix": None})
>>> again, extra = decode_state(value)
>>> again.windows.snapshot(120.0) == st.windows.snapshot(120.0), extra, len(value)
(True, {'open': None, 'mix': None}, 938)
>>> decode_state(orjson.dumps(st.to_dict()))[0].windows.snapshot(120.0) == st.windows.snapshot(120.0)
True
"""

from __future__ import annotations

import math
import struct
from array import array
from typing import Any

import datasketches
import orjson

from stream_guard.core.alerts import Cooldown
from stream_guard.core.features import FEATURES
from stream_guard.core.recent import Recent
from stream_guard.core.state import AccountState
from stream_guard.core.window import Windows

__all__ = ["MEMORY_PREFIX", "StateRecordError", "decode_state", "encode_state"]

#: Names in the record's pair map that are evaluator memory, not alert gates.
MEMORY_PREFIX = "~"

VERSION = 2
_HEAD = struct.Struct("<IqddddBBq")
_SCREENED = 0xFFFF  # feature count of a staged evaluation screened out (no features)
_NAN = math.nan


class StateRecordError(ValueError):
    """A checkpoint record that is not an account state this version can read."""


def _opt(x: float | None) -> float:
    return _NAN if x is None else x


def _unopt(x: float) -> float | None:
    return None if math.isnan(x) else x


def _text(s: str) -> bytes:
    data = s.encode("utf-8", "surrogatepass")
    return struct.pack("<H", len(data)) + data


def encode_state(st: AccountState, extra: Any = None) -> bytes:
    """The record of ``st`` (``extra``: JSON-able data stored with it, e.g. the linking
    stage's export of the account)."""
    w, r = st.windows, st.recent
    n = len(w.lengths)
    parts = [
        bytes([VERSION]),
        _HEAD.pack(st.hour_mask, st.last_hour, _opt(st.first_seen), st.last_ts, _opt(st.created_at),
                   st.next_eval, st.pending, st.sketch_seq, st.upto),
        _text(st.account_id),
        struct.pack(f"<BB{n}d", n, len(w.data) // (2 * n) if n else 0, *w.lengths),
        w.gens.tobytes(),
        w.data.tobytes(),
        struct.pack("<dQQ", w.prev_distinct, w.cats, w.prev_cats),
    ]
    hll = w.hll.serialize_updatable() if w.hll is not None else b""
    parts += [struct.pack("<I", len(hll)), hll, struct.pack("<HB", len(r.slots), len(r.pos)), r.slots.tobytes(),
              bytes(r.pos)]
    staged = st.staged or ()
    parts.append(struct.pack("<I", len(staged)))
    for boundary, features in staged:
        if features is None:
            parts.append(struct.pack("<dH", boundary, _SCREENED))
        else:
            parts += [struct.pack("<dH", boundary, len(features)), features.tobytes()]
    alerts = st.active_alerts or {}
    memory = st.memory or {}
    parts.append(struct.pack("<H", len(alerts) + len(memory)))
    for detector, (rank, until) in alerts.items():
        parts += [_text(detector), struct.pack("<dd", rank, until)]
    for name, (a, b) in memory.items():  # evaluator memory: the same pairs, under a reserved prefix
        parts += [_text(MEMORY_PREFIX + name), struct.pack("<dd", a, b)]
    tail = orjson.dumps(extra) if extra is not None else b""
    parts += [struct.pack("<I", len(tail)), tail]
    return b"".join(parts)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = memoryview(data), 0

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise StateRecordError("truncated account state record")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: struct.Struct | str) -> tuple[Any, ...]:
        s = fmt if isinstance(fmt, struct.Struct) else struct.Struct(fmt)
        return s.unpack(self.take(s.size))

    def text(self) -> str:
        (n,) = self.unpack("<H")
        return bytes(self.take(n)).decode("utf-8", "surrogatepass")


def _array(code: str, data: memoryview) -> array[Any]:
    out = array(code)
    out.frombytes(data)  # array(code, memoryview) would take the bytes one by one
    return out


def decode_state(value: bytes) -> tuple[AccountState, Any]:
    """The state and extra data of a record (:func:`encode_state`, or an earlier version's
    JSON, whose extra data was its ``"link"`` field)."""
    if value[:1] == b"{":
        data = orjson.loads(value)
        return AccountState.from_dict(data), data.get("link")
    if value[:1] not in (b"\x01", bytes([VERSION])):
        raise StateRecordError(f"unknown account state record version {value[:1]!r}")
    rd = _Reader(value)
    # version 1 counted staged evaluations and active alerts in one byte each
    count_staged, count_alerts = ("<B", "<B") if rd.take(1)[0] == 1 else ("<I", "<H")
    hour_mask, last_hour, first_seen, last_ts, created_at, next_eval, pending, sketch_seq, upto = rd.unpack(_HEAD)
    account = rd.text()
    n, per = rd.unpack("<BB")
    lengths = rd.unpack(f"<{n}d")
    w = Windows(lengths)
    # slice assignment keeps the arrays allocated to size (see Windows.__init__)
    w.gens[:] = _array("q", rd.take(8 * n))
    if per != len(w.data) // (2 * n):
        raise StateRecordError(f"account state record with {per} counters per window, this version has "
                               f"{len(w.data) // (2 * n)}")
    w.data[:] = _array("f", rd.take(4 * 2 * n * per))
    w.prev_distinct, w.cats, w.prev_cats = rd.unpack("<dQQ")
    (hll_size,) = rd.unpack("<I")
    if hll_size:
        w.hll = datasketches.hll_sketch.deserialize(bytes(rd.take(hll_size)))
    slots, npos = rd.unpack("<HB")
    r = Recent()
    if slots != len(r.slots) or npos != len(r.pos):
        raise StateRecordError(f"account state record with {slots} ring slots, this version has {len(r.slots)}")
    r.slots[:] = _array("I", rd.take(4 * slots))
    r.pos[:] = rd.take(npos)
    st = AccountState(account, lengths)
    st.windows, st.recent = w, r
    st.hour_mask, st.last_hour, st.first_seen, st.last_ts = hour_mask, last_hour, _unopt(first_seen), last_ts
    st.created_at, st.next_eval, st.pending, st.sketch_seq, st.upto = (
        _unopt(created_at), next_eval, bool(pending), sketch_seq, upto)
    (staged,) = rd.unpack(count_staged)
    if staged:
        st.staged = []
        for _ in range(staged):
            boundary, count = rd.unpack("<dH")
            if count == _SCREENED:
                st.staged.append((boundary, None))
                continue
            if count != len(FEATURES):
                raise StateRecordError(f"staged evaluation with {count} features, this version has {len(FEATURES)}")
            st.staged.append((boundary, _array("d", rd.take(8 * count))))
    (alerts,) = rd.unpack(count_alerts)
    for _ in range(alerts):
        name = rd.text()
        first, second = rd.unpack("<dd")
        if name.startswith(MEMORY_PREFIX):
            if st.memory is None:
                st.memory = {}
            st.memory[name[len(MEMORY_PREFIX):]] = (first, second)
        else:
            if st.active_alerts is None:
                st.active_alerts = {}
            st.active_alerts[name] = Cooldown(first, second)
    (tail,) = rd.unpack("<I")
    extra = orjson.loads(rd.take(tail)) if tail else None
    return st, extra

