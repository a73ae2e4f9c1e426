"""Decoding input messages into validated events, and encoding alerts (orjson).

A message value holds one request event (a JSON object) or a JSON array of them. Each
event comes out valid, with its event time parsed, or as a :class:`DeadLetter` that says
why. Nothing raises on bad input.

>>> good = b'{"event_id":"e1","ts":"2026-03-01T12:00:00Z","account_id":"a","model":"m",'
>>> good += b'"input_tokens":1,"output_tokens":2}'
>>> msg = decode_message(b"[" + good + b', {"event_id": 5}]')
>>> [(ev["event_id"], ts) for ev, ts in msg.events]
[('e1', 1772366400.0)]
>>> [(d.reason.value, d.index) for d in msg.dead_letters]
[('schema_violation', 1)]
>>> decode_message(b"{oops").dead_letters[0].reason.value
'invalid_json'
>>> decode_message(None).dead_letters[0].detail   # a tombstone record
'null value (tombstone record)'

A dead letter travels to the dead-letter topic as :func:`dead_letter_record`: the
original bytes (or the bad array element) and headers with the reason; one larger than
the producer's request limit goes truncated, with its original size:

>>> rec = dead_letter_record(DeadLetter(DeadLetterReason.OVERSIZED, "too big", b"x" * 9000), b"k", 3, 42, limit=4096)
>>> len(rec.value) < 4096, dict(rec.headers)["stream-guard-original-size"], rec.truncated
(True, b'9000', True)
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from stream_guard.contracts.schemas import ContractError, validate_event

__all__ = [
    "DeadLetter",
    "DeadLetterReason",
    "DeadLetterRecord",
    "DecodedMessage",
    "dead_letter_record",
    "decode_message",
    "encode_alert",
    "parse_time",
    "parse_ts",
]


class DeadLetterReason(enum.Enum):
    """Why an input went to the dead-letter topic (a bounded set: a metric label)."""

    INVALID_JSON = "invalid_json"
    OVERSIZED = "oversized"
    SCHEMA_VIOLATION = "schema_violation"
    OUT_OF_RANGE_TIME = "out_of_range_time"
    PROCESSING_ERROR = "processing_error"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One input that could not be processed.

    ``payload`` is the original message bytes, untouched, when the whole message failed
    (``index is None``; ``None`` for a null value); for one bad element of a JSON array it
    is that element, re-encoded, and ``index`` is its position in the array (the whole
    original message when the element cannot be re-encoded, e.g. nested too deeply).
    """

    reason: DeadLetterReason
    detail: str
    payload: bytes | None
    index: int | None = None

    @classmethod
    def of_element(
        cls, reason: DeadLetterReason, detail: str, element: Any, raw: bytes, index: int | None
    ) -> DeadLetter:
        """A dead letter for one element of message ``raw`` (``index`` None: the whole message)."""
        if index is None:
            return cls(reason, detail, raw, None)
        try:
            payload = orjson.dumps(element)
        except (TypeError, orjson.JSONEncodeError):  # nested deeper than orjson encodes
            payload = raw
        return cls(reason, detail, payload, index)


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """What goes to the dead-letter topic for one :class:`DeadLetter`."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @property
    def truncated(self) -> bool:
        """Whether the value or the key had to be cut to fit the request limit."""
        return any(name in ("stream-guard-truncated", "stream-guard-key-truncated") for name, _ in self.headers)


#: Room left for the record's key, headers and framing under the producer's request limit.
RECORD_OVERHEAD = 2048


def dead_letter_record(
    dl: DeadLetter, key: bytes | None, partition: int, offset: int, *, limit: int, topic: str | None = None
) -> DeadLetterRecord:
    """The DLQ record of ``dl`` (input key ``key``, from ``partition``/``offset``; ``topic``
    names the source topic when it is not the input topic, e.g. a bad analyst verdict); a key
    or payload that would not fit under ``limit`` (the producer's request size) is cut, and
    the headers say so and give the original size."""
    headers = [
        ("stream-guard-reason", dl.reason.value.encode()),
        ("stream-guard-detail", dl.detail[:1000].encode("utf-8", "replace")),
        ("stream-guard-source-partition", str(partition).encode()),
        ("stream-guard-source-offset", str(offset).encode()),
    ]
    if topic is not None:
        headers.append(("stream-guard-source-topic", topic.encode()))
    if dl.index is not None:
        headers.append(("stream-guard-batch-index", str(dl.index).encode()))
    if key is not None and len(key) > RECORD_OVERHEAD // 2:
        headers.append(("stream-guard-key-truncated", str(len(key)).encode()))
        key = key[: RECORD_OVERHEAD // 2]
    value = dl.payload
    if value is None:
        headers.append(("stream-guard-null-value", b"1"))
    elif len(value) > limit - RECORD_OVERHEAD:
        headers.append(("stream-guard-original-size", str(len(value)).encode()))
        headers.append(("stream-guard-truncated", b"1"))
        value = value[: max(0, limit - RECORD_OVERHEAD)]
    return DeadLetterRecord(key, value, headers)


@dataclass(slots=True)
class DecodedMessage:
    """The valid events of one message, each with its event time, and its dead letters."""

    events: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    batched: bool = False  # the value was a JSON array of events
    positions: list[int] = field(default_factory=list)  # each valid event's index in the array

    @property
    def event_count(self) -> int:
        """Events this message stood for: valid plus dead-lettered."""
        return len(self.events) + len(self.dead_letters)


def parse_ts(value: float | int | str) -> float:
    """Event time as Unix seconds, from epoch seconds or an RFC 3339 string with offset.

    >>> parse_ts("2026-03-01T12:00:00.5+01:00"), parse_ts(10)
    (1772362800.5, 10.0)
    """
    if isinstance(value, str):
        return datetime.fromisoformat(value).timestamp()
    return float(value)


def parse_time(value: Any) -> float | None:
    """Unix seconds from an RFC 3339 string or epoch seconds, ``None`` if ``value`` is
    neither (a bool, another type, an unparsable string, not finite): :func:`parse_ts` for
    values that may be anything.

    >>> parse_time("2026-01-01T00:00:00Z"), parse_time(5), parse_time("yesterday"), parse_time(True)
    (1767225600.0, 5.0, None, None)
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        ts = parse_ts(value)
    except (ValueError, OverflowError):
        return None
    return ts if math.isfinite(ts) else None


def decode_message(
    raw: bytes | None, *, max_bytes: int = 1_048_576, max_batch: int = 10_000
) -> DecodedMessage:
    """Decode and validate one message value; never raises.

    Whatever goes wrong inside (it should not) makes the whole message one
    ``processing_error`` dead letter, so every message still has an outcome.
    """
    if raw is None:
        return DecodedMessage(
            dead_letters=[DeadLetter(DeadLetterReason.INVALID_JSON, "null value (tombstone record)", None)]
        )
    try:
        return _decode(raw, max_bytes, max_batch)
    except Exception as exc:  # noqa: BLE001 - the contract: an outcome for every message
        return DecodedMessage(
            dead_letters=[DeadLetter(DeadLetterReason.PROCESSING_ERROR, f"decoding failed: {exc!r}", raw)]
        )


def _decode(raw: bytes, max_bytes: int, max_batch: int) -> DecodedMessage:
    out = DecodedMessage()
    if not raw:
        out.dead_letters.append(DeadLetter(DeadLetterReason.INVALID_JSON, "empty value", raw))
        return out
    if len(raw) > max_bytes:
        out.dead_letters.append(
            DeadLetter(DeadLetterReason.OVERSIZED, f"{len(raw)} bytes > limit {max_bytes}", raw)
        )
        return out
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        out.dead_letters.append(DeadLetter(DeadLetterReason.INVALID_JSON, str(exc), raw))
        return out
    if isinstance(value, list):
        out.batched = True
        if len(value) > max_batch:
            detail = f"{len(value)} events in one message > limit {max_batch}"
            out.dead_letters.append(DeadLetter(DeadLetterReason.OVERSIZED, detail, raw))
            return out
        for index, item in enumerate(value):
            _accept(item, out, raw, index)
    else:
        _accept(value, out, raw, None)
    return out


def _accept(item: Any, out: DecodedMessage, raw: bytes, index: int | None) -> None:
    try:
        event = validate_event(item)
        ts = parse_ts(event["ts"])
    except (ContractError, ValueError, OverflowError, OSError) as exc:
        out.dead_letters.append(DeadLetter.of_element(DeadLetterReason.SCHEMA_VIOLATION, str(exc), item, raw, index))
        return
    out.events.append((event, ts))
    out.positions.append(index or 0)


def encode_alert(alert: Mapping[str, Any]) -> bytes:
    """An alert as JSON bytes."""
    return orjson.dumps(alert)
