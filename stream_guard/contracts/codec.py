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
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from stream_guard.contracts.schemas import ContractError, validate_event

__all__ = ["DeadLetter", "DeadLetterReason", "DecodedMessage", "decode_message", "encode_alert", "parse_ts"]


class DeadLetterReason(enum.Enum):
    """Why an input went to the dead-letter topic (a bounded set: a metric label)."""

    INVALID_JSON = "invalid_json"
    OVERSIZED = "oversized"
    SCHEMA_VIOLATION = "schema_violation"
    PROCESSING_ERROR = "processing_error"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One input that could not be processed.

    ``payload`` is the original message bytes, untouched, when the whole message failed
    (``index is None``); for one bad element of a JSON array it is that element,
    re-encoded, and ``index`` is its position in the array.
    """

    reason: DeadLetterReason
    detail: str
    payload: bytes
    index: int | None = None


@dataclass(slots=True)
class DecodedMessage:
    """The valid events of one message, each with its event time, and its dead letters."""

    events: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    batched: bool = False  # the value was a JSON array of events

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


def decode_message(
    raw: bytes, *, max_bytes: int = 1_048_576, max_batch: int = 10_000
) -> DecodedMessage:
    """Decode and validate one message value; never raises on bad input."""
    out = DecodedMessage()
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
            _accept(item, out, index, None)
    else:
        _accept(value, out, None, raw)
    return out


def _accept(item: Any, out: DecodedMessage, index: int | None, raw: bytes | None) -> None:
    try:
        event = validate_event(item)
        ts = parse_ts(event["ts"])
    except (ContractError, ValueError, OverflowError, OSError) as exc:
        payload = raw if raw is not None else orjson.dumps(item)
        out.dead_letters.append(DeadLetter(DeadLetterReason.SCHEMA_VIOLATION, str(exc), payload, index))
        return
    out.events.append((event, ts))


def encode_alert(alert: dict[str, Any]) -> bytes:
    """An alert as JSON bytes."""
    return orjson.dumps(alert)
