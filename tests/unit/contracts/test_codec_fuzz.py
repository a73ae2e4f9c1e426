"""Property tests: :func:`decode_message` never raises and accounts for every input.

For any value (arbitrary bytes, JSON documents of any shape, byte mutations of valid
events, deep nesting, null), the message stands for exactly the events it holds: one for
anything that is not a JSON array (or is too large), one per element of an array; each
of them comes out either valid (schema-checked, finite event time) or as exactly one dead
letter whose payload is the original bytes, or for one bad array element that element
re-encoded. Hypothesis runs derandomized (a fixed seed, no example database), so a run is
reproducible; the seeded corpus of the live fuzz suite is checked here at the codec level.
"""

from __future__ import annotations

import math
import time
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stream_guard.contracts import DeadLetterReason, DecodedMessage, decode_message, validate_event

import fuzz_corpus

MAX_BYTES = 4096
MAX_BATCH = 50
FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=400,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

GOOD = {"event_id": "e1", "ts": 1772366400, "account_id": "a", "model": "m", "input_tokens": 1, "output_tokens": 2}


def assert_accounted(raw: bytes | None, msg: DecodedMessage, max_bytes: int = MAX_BYTES,
                     max_batch: int = MAX_BATCH) -> None:
    """``msg`` stands for exactly the events of ``raw``, each valid or one dead letter."""
    for event, ts in msg.events:
        validate_event(event)
        assert isinstance(ts, float) and math.isfinite(ts), ts
    for dl in msg.dead_letters:
        assert isinstance(dl.reason, DeadLetterReason) and isinstance(dl.detail, str)
    whole = None
    if raw is None or len(raw) > max_bytes:
        whole = 1
    else:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            whole = 1
            assert [d.reason for d in msg.dead_letters] == [DeadLetterReason.INVALID_JSON]
    if whole is None and isinstance(value, list) and len(value) <= max_batch:
        assert msg.batched and msg.event_count == len(value), (msg.event_count, len(value))
        indices = [d.index for d in msg.dead_letters]
        assert len(set(indices)) == len(indices) and all(i is not None and 0 <= i < len(value) for i in indices)
        for dl in msg.dead_letters:
            try:
                encoded = orjson.dumps(value[dl.index])
            except TypeError:  # nested deeper than orjson encodes: the whole message instead
                encoded = raw
            assert dl.payload in (encoded, raw)
        return
    assert msg.event_count == 1, (msg.event_count, msg.events, msg.dead_letters)
    for dl in msg.dead_letters:
        assert dl.index is None and dl.payload == raw


def decode(raw: bytes | None) -> DecodedMessage:
    msg = decode_message(raw, max_bytes=MAX_BYTES, max_batch=MAX_BATCH)  # type: ignore[arg-type]
    assert_accounted(raw, msg)
    return msg


# ------------------------------------------------------------------------- strategies
scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=20))
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=12)
timestamps = (st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**70), 2**70)
              | st.datetimes().map(lambda d: d.isoformat() + "Z") | st.text(max_size=30))


@st.composite
def events(draw: Any) -> dict[str, Any]:
    """A valid event with some fields replaced by anything, dropped, or extra ones added."""
    ev: dict[str, Any] = dict(GOOD, event_id=draw(st.text(min_size=1, max_size=10)), ts=draw(timestamps))
    for field in draw(st.lists(st.sampled_from(sorted(GOOD) + ["ip", "asn", "country", "turn_index"]), max_size=3)):
        action = draw(st.sampled_from(["replace", "drop"]))
        if action == "drop":
            ev.pop(field, None)
        else:
            ev[field] = draw(json_values)
    ev.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
    return ev


def encode(value: Any) -> bytes:
    """orjson where it can; ints beyond 64 bits through the standard library."""
    try:
        return orjson.dumps(value)
    except TypeError:
        import json

        return json.dumps(value).encode()


documents = st.one_of(
    events().map(encode),
    st.lists(events() | json_values, max_size=8).map(encode),
    json_values.map(encode),
)


@st.composite
def mutated(draw: Any) -> bytes:
    """A valid message with a few byte edits: flips, insertions, deletions, truncation."""
    raw = bytearray(draw(documents))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, len(raw)))
        if op == "flip" and at < len(raw):
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            raw[at:at] = draw(st.sampled_from([b"{", b"]", b'"', b"\\", b"NaN", b"\xff", b"\xed\xa0\x80", b"\\ud800",
                                               b"1e999", b"[" * 300]) | st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del raw[at : at + draw(st.integers(1, 6))]
        else:
            del raw[at:]
    return bytes(raw)


# ------------------------------------------------------------------------- properties
@FUZZ
@given(st.binary(max_size=MAX_BYTES + 64))
@example(b"")
@example(b"\xef\xbb\xbf{}")
@example(b'"\\ud800"')
def test_any_bytes(raw: bytes) -> None:
    decode(raw)


@FUZZ
@given(documents)
@example(b'{"event_id":"e1","event_id":5}')
@example(b'{"input_tokens":100000000000000000000000000000}')
@example(b"[NaN, Infinity]")
def test_any_json_document(raw: bytes) -> None:
    decode(raw)


@FUZZ
@given(mutated())
def test_mutations_of_valid_messages(raw: bytes) -> None:
    decode(raw)


@FUZZ
@given(st.integers(1, 3000), st.sampled_from(["[]", "{}"]), st.sampled_from(["top", "element", "field"]))
@example(300, "[]", "element")
@example(2000, "[]", "element")
@example(256, "{}", "field")
@example(1023, "[]", "top")
@example(1024, "[]", "top")
@example(1025, "[]", "top")
@example(1023, "[]", "element")
@example(1024, "[]", "element")
@example(1022, "[]", "field")
@example(1023, "[]", "field")
def test_deep_nesting(depth: int, brackets: str, where: str) -> None:
    open_, close = (b"[", b"]") if brackets == "[]" else (b'{"a":', b"}")
    nest = open_ * depth + b"1" + close * depth
    good = orjson.dumps(GOOD)
    raw = {"top": nest, "element": b"[" + good + b"," + nest + b"]",
           "field": b"[" + good[:-1] + b',"deep":' + nest + b"}]"}[where]
    msg = decode_message(raw, max_bytes=1 << 20, max_batch=MAX_BATCH)
    assert_accounted(raw, msg, max_bytes=1 << 20)
    # levels around the nest: none at the top, the array for an element, array + object for a field
    around = {"top": 0, "element": 1, "field": 2}[where]
    if depth + around > 1024:  # orjson's depth limit: the whole message is not readable JSON
        assert [d.reason for d in msg.dead_letters] == [DeadLetterReason.INVALID_JSON]


@FUZZ
@given(st.integers(0, 3 * MAX_BATCH), st.integers(0, 2 * MAX_BYTES))
def test_limits(batch: int, padding: int) -> None:
    raw = orjson.dumps([GOOD] * batch) + b" " * padding
    msg = decode(raw)
    if len(raw) > MAX_BYTES or batch > MAX_BATCH:
        assert [(d.reason, d.index, d.payload) for d in msg.dead_letters] == [(DeadLetterReason.OVERSIZED, None, raw)]


def test_a_null_value_is_one_dead_letter() -> None:
    msg = decode(None)
    assert len(msg.dead_letters) == 1 and not msg.events
    assert msg.dead_letters[0].reason is DeadLetterReason.INVALID_JSON


def test_the_seeded_corpus_at_the_codec_level() -> None:
    """The live suite's corpus (a slice): accounted for, and each known case's dead letters
    (those the codec decides: event-time bounds are the worker's)."""
    cases = fuzz_corpus.build(20_000, seed=fuzz_corpus.SEED, now=time.time(), max_message_bytes=MAX_BYTES * 16,
                              warmup=0)
    wrong = []
    for case in cases:
        msg = decode_message(case.value, max_bytes=MAX_BYTES * 16)  # type: ignore[arg-type]
        assert_accounted(case.value, msg, max_bytes=MAX_BYTES * 16, max_batch=10_000)
        if case.expect is not None:
            got = sorted(((d.index, d.reason.value) for d in msg.dead_letters), key=repr)
            want = sorted((x for x in case.expect if x[1] != "out_of_range_time"), key=repr)
            if got != want:
                wrong.append(f"got {got}, expected {want}: {fuzz_corpus.describe(case, 100)}")
    assert not wrong, f"{len(wrong)} cases:\n" + "\n".join(wrong[:5])
