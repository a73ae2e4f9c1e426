"""The request-event codec: what is accepted, and what becomes which dead letter."""

from __future__ import annotations

import orjson
import pytest
from stream_guard.contracts import DeadLetterReason, decode_message, load_schema, parse_ts, validate_event

GOOD = {"event_id": "e1", "ts": "2026-03-01T12:00:00+00:00", "account_id": "a", "model": "m",
        "input_tokens": 1, "output_tokens": 2}


def test_one_event_and_an_array_of_events() -> None:
    assert len(decode_message(orjson.dumps(GOOD)).events) == 1
    msg = decode_message(orjson.dumps([GOOD, dict(GOOD, event_id="e2")]))
    assert [e["event_id"] for e, _ in msg.events] == ["e1", "e2"] and msg.batched


def test_unknown_fields_are_ignored_and_optional_fields_checked() -> None:
    assert decode_message(orjson.dumps(dict(GOOD, something_new={"x": 1}))).events
    assert decode_message(orjson.dumps(dict(GOOD, ip="2001:db8::1", asn=64500, country="DE"))).events
    bad = decode_message(orjson.dumps(dict(GOOD, ip="not-an-ip"))).dead_letters
    assert bad and bad[0].reason is DeadLetterReason.SCHEMA_VIOLATION


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"output_tokens": None}, "output_tokens"),
        ({"input_tokens": -1}, "input_tokens"),
        ({"input_tokens": 1.5}, "input_tokens"),
        ({"ts": "2026-03-01 12:00"}, "ts"),
        ({"ts": "2026-03-01T12:00:00"}, "ts"),  # no offset: ambiguous, refused
        ({"account_id": ""}, "account_id"),
        ({"event_id": "x" * 129}, "event_id"),
        ({"turn_index": -1}, "turn_index"),
    ],
)
def test_schema_violations_say_which_field(change: dict[str, object], needle: str) -> None:
    event = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    dead = decode_message(orjson.dumps(event)).dead_letters
    assert len(dead) == 1 and dead[0].reason is DeadLetterReason.SCHEMA_VIOLATION
    assert needle in dead[0].detail and dead[0].index is None


def test_whole_message_failures_keep_the_original_bytes() -> None:
    for raw, reason in [(b"{nope", "invalid_json"), (b"42", "schema_violation"), (b"x" * 2000, "oversized")]:
        dead = decode_message(raw, max_bytes=1000).dead_letters
        assert [(d.reason.value, d.payload) for d in dead] == [(reason, raw)]


def test_too_many_events_in_one_message_is_oversized() -> None:
    raw = orjson.dumps([GOOD] * 5)
    dead = decode_message(raw, max_batch=4).dead_letters
    assert [(d.reason.value, d.payload) for d in dead] == [("oversized", raw)]


def test_a_bad_element_of_a_batch_is_dead_lettered_alone_with_its_index() -> None:
    msg = decode_message(orjson.dumps([GOOD, {"event_id": 3}, GOOD]))
    assert len(msg.events) == 2 and msg.event_count == 3
    (dead,) = msg.dead_letters
    assert dead.index == 1 and orjson.loads(dead.payload) == {"event_id": 3}


def test_timestamps_epoch_and_rfc3339_agree() -> None:
    assert parse_ts("2026-03-01T12:00:00Z") == parse_ts("2026-03-01T13:00:00+01:00") == 1772366400.0
    assert parse_ts(1772366400) == 1772366400.0


def test_shipped_schemas_load_and_the_pinned_fields_are_required() -> None:
    required = set(load_schema("request_event")["required"])
    assert required == {"event_id", "ts", "account_id", "model", "input_tokens", "output_tokens"}
    alert_required = set(load_schema("alert")["required"])
    assert {"alert_id", "schema_version", "kind", "subject", "account_ids", "account_count", "severity",
            "score", "detectors", "reasons", "window_start", "window_end", "raised_at", "emitted_at",
            "evidence"} <= alert_required
    assert validate_event(GOOD) is GOOD


def test_absurd_numbers_and_huge_integers_are_schema_violations() -> None:
    for field, bad in (("input_tokens", 10**30), ("output_tokens", -1), ("output_tokens", 2**64),
                       ("input_tokens", 100_000_001), ("asn", 2**40), ("top_p", 3.0)):
        msg = decode_message(orjson.dumps(dict(GOOD, **{field: bad})) if bad < 2**63 else
                             orjson.dumps(GOOD)[:-1] + f',"{field}":{bad}}}'.encode())
        assert [d.reason for d in msg.dead_letters] == [DeadLetterReason.SCHEMA_VIOLATION], (field, bad)
        assert field in msg.dead_letters[0].detail


def test_dead_letter_records_fit_under_the_producer_limit() -> None:
    from stream_guard.contracts import DeadLetter, dead_letter_record

    dl = DeadLetter(DeadLetterReason.OVERSIZED, "big", b"y" * 2_000_000)
    rec = dead_letter_record(dl, b"k" * 5000, 1, 9, limit=1_048_576)
    headers = dict(rec.headers)
    assert len(rec.value or b"") + len(rec.key or b"") + sum(len(k) + len(v) for k, v in rec.headers) < 1_048_576
    assert headers["stream-guard-original-size"] == b"2000000" and headers["stream-guard-truncated"] == b"1"
    assert headers["stream-guard-key-truncated"] == b"5000" and headers["stream-guard-reason"] == b"oversized"
    small = dead_letter_record(DeadLetter(DeadLetterReason.INVALID_JSON, "x", b"{"), b"k", 0, 1, limit=1_048_576)
    assert small.value == b"{" and small.key == b"k" and not small.truncated
