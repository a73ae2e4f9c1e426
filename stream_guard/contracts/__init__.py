"""Contracts: the request-event and alert JSON Schemas, and their orjson codecs.

The schemas ship in this folder (``request_event.schema.json``, ``alert.schema.json``,
``verdict.schema.json``)
and are compiled once with :mod:`jsonschema_rs`; validation never uses hand-written
checks.
"""

from stream_guard.contracts.codec import (
    DeadLetter,
    DeadLetterReason,
    DeadLetterRecord,
    DecodedMessage,
    dead_letter_record,
    decode_message,
    encode_alert,
    parse_time,
    parse_ts,
)
from stream_guard.contracts.schemas import (
    ContractError,
    load_schema,
    validate_alert,
    validate_event,
    validate_verdict,
)

__all__ = [
    "ContractError",
    "DeadLetter",
    "DeadLetterReason",
    "DeadLetterRecord",
    "DecodedMessage",
    "dead_letter_record",
    "decode_message",
    "encode_alert",
    "load_schema",
    "parse_time",
    "parse_ts",
    "validate_alert",
    "validate_event",
    "validate_verdict",
]
