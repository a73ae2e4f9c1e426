"""A seeded, deterministic corpus of hostile input messages for the worker's input topic.

Every :class:`Case` is one Kafka record (key and value, ``None`` meaning a null key or a
null/tombstone value) with the kind of input it exercises. The same ``seed`` and ``now``
give the same bytes, so a failure found by the fuzz suite is reproduced by::

    python -c "import sys; sys.path[:0] = ['tests']; import fuzz_corpus, time; \\
               print(fuzz_corpus.build(100_000, seed=20261127, now=time.time())[1234])"

What it holds (the mix is in :data:`WEIGHTS`): valid events (one per message and arrays,
``ts`` a few minutes before ``now`` as epoch seconds or RFC 3339 strings, unicode edge
cases, unknown fields), exact re-sends of valid messages (duplicate ``event_id``),
invalid and truncated JSON, non-UTF-8 bytes, empty and null values, null/empty/binary
keys, wrong JSON types, arrays mixing good and bad events, arrays of arrays, deep nesting
(300 and 2000 levels, at top level and inside an array element), duplicate object keys,
huge integers, NaN/Infinity literals, negative or absurd token counts, strings close to
and above the message size limit (and one value above the producer's request limit),
lone surrogates (escaped and raw), ``ts`` far in the future or the past or not RFC 3339,
and random byte mutations (bit flips, truncations, insertions, deletions, splices) of
valid messages.

Cases whose outcome is known exactly carry it in :attr:`Case.expect`: the dead letters
``(batch index or None, reason)`` the message must produce, an empty tuple for "no dead
letter at all"; ``None`` means "only accounted for" (mutations, for instance). The worker's
wall clock must be close to ``now`` (within the ``STREAM_GUARD_MAX_EVENT_AHEAD_S`` bound)
for the valid events to count as in range.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["MAX_MESSAGE_BYTES", "PRODUCER_LIMIT", "SEED", "WEIGHTS", "Case", "build", "describe", "kinds", "short"]

#: The suite's seed and the worker limits it is built for (set them as
#: STREAM_GUARD_MAX_MESSAGE_BYTES and STREAM_GUARD_PRODUCER_MAX_REQUEST_BYTES): small enough
#: to be fast; the producer limit above the cross-account stage's 512 KiB packed messages
#: and below the broker's 1 MB default.
SEED = 20261127
MAX_MESSAGE_BYTES = 64 * 1024
PRODUCER_LIMIT = 600_000


@dataclass(frozen=True, slots=True)
class Case:
    """One input record and what it stands for."""

    kind: str
    key: bytes | None
    value: bytes | None
    #: exact dead letters ``(index, reason)`` expected, ``()`` none, ``None`` unknown
    expect: tuple[tuple[int | None, str], ...] | None = None
    #: events in it that are valid, unique and in range: must end ``processed``
    clean: int = 0
    #: of them, exact re-sends of an earlier clean event with the same key: ``duplicate``
    resent: int = 0


def describe(case: Case, limit: int = 160) -> str:
    """A one-line reproducer: kind, key and (the start of) the value bytes."""
    return f"{case.kind}: key={short(case.key, 40)} value={short(case.value, limit)}"


def short(data: bytes | None, limit: int = 160) -> str:
    """``repr`` of bytes, cut at ``limit`` with the full length said."""
    if data is None:
        return "None"
    return repr(data[:limit]) + (f"... ({len(data)} bytes)" if len(data) > limit else "")


# ------------------------------------------------------------------------------- events
MODELS = ["claude-x", "gpt-y", "llama-3-70b", "m\u00fcnchen-\u00df", "m" * 256]
PROMPTS = [
    "What is 17 * 23? Think step by step.",
    "Write a Python function that reverses a list, with tests.",
    "Summarise this paragraph in one sentence.",
    "Translate 'good morning' into French.",
    "Hello",
]
UNICODE = [
    "zero\u200bwidth\u200c\u200djoiners\u2060",
    "rtl \u202eevil\u202c \u200fmark\u200e",
    "bom \ufeff inside",
    "emoji \U0001f600\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "combining e\u0301\u0301\u0301 a\u0308",
    "nul \u0000 and controls \u0001\u001f\u007f",
    "cjk \u4e2d\u6587 and hangul \ud55c\uad6d\uc5b4",
    "noncharacters \ufffe\uffff \U0010ffff",
    "line\u2028sep\u2029para",
]
BAD_ELEMENTS: list[Any] = [
    None, 1, -1.5, "an event", True, [], {}, [1, 2], {"event_id": 5},
    {"event_id": "x", "ts": "yesterday", "account_id": "a", "model": "m", "input_tokens": 1, "output_tokens": 1},
]
_SV: tuple[tuple[int | None, str], ...] = ((None, "schema_violation"),)
#: JSON values that are not an event or an array of events, and their exact dead letters
WRONG_JSON_TYPES: list[tuple[bytes, tuple[tuple[int | None, str], ...]]] = [
    (b"1", _SV), (b"-0", _SV), (b'"a string"', _SV), (b"true", _SV), (b"null", _SV), (b"{}", _SV),
    (b"123456789012345678901234567890", _SV), (b'{"event_id": null}', _SV),
    (b"1e400", ((None, "invalid_json"),)),  # a number too large for a double
    (b"[]", ()),  # an empty batch stands for no event at all
    (b"[[]]", ((0, "schema_violation"),)), (b"[null, 1]", ((0, "schema_violation"), (1, "schema_violation"))),
]
NOT_RFC3339 = [
    "yesterday", "2026-03-01", "2026-03-01 12:00", "2026-03-01T12:00:00", "12:00:00Z",
    "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-03-01T25:00:00Z", "2026-03-01T12:00:00+25:00",
    "", " ", "1772366400", "0x1p30", "\u0662\u0660\u0662\u0666-03-01T12:00:00Z",
]
FAR_FUTURE: list[Any] = [1e12, "9999-12-31T23:59:59Z", "3000-01-01T00:00:00Z", 4102444800]
FAR_PAST: list[Any] = [0, -1, "1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z"]
WRONG_TYPES: dict[str, list[Any]] = {
    "event_id": [5, None, "", "x" * 129, ["e"], {"id": "e"}],
    "ts": [None, True, [1], {"s": 1}, "now"],
    "account_id": [7, None, "", "a" * 257, ["a"]],
    "model": [1.5, None, "", False],
    "input_tokens": ["12", 1.5, -1, None, True, [], -(2**63) - 1, -1e308],
    "output_tokens": ["x", -5, 2.5, None, {"n": 1}],
    "ip": ["not-an-ip", 12, "999.1.1.1"],
    "asn": ["AS1", -3],
    "turn_index": [-1, "0"],
    "stream": ["yes", 1],
}


class _Gen:
    def __init__(self, seed: int, now: float, max_message_bytes: int, producer_limit: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.now = now
        self.max_message_bytes = max_message_bytes
        self.producer_limit = producer_limit
        self.n = 0
        self.accounts = [f"acct-fz-{i}" for i in range(1500)]
        self.sent: list[tuple[bytes, bytes, int]] = []  # clean valid messages: (key, value, events)

    def ts(self) -> float:
        return round(self.now - self.rng.uniform(60.0, 600.0), 3)

    def event(self, account: str | None = None, *, prefix: str = "fz", **fields: Any) -> dict[str, Any]:
        rng = self.rng
        self.n += 1
        ts: Any = self.ts()
        if rng.random() < 0.25:
            ts = datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", rng.choice(["Z", "+00:00"]))
        ev: dict[str, Any] = {
            "event_id": f"{prefix}{self.seed}-{self.n}",
            "ts": ts,
            "account_id": account or rng.choice(self.accounts),
            "model": rng.choice(MODELS[:3]),
            "input_tokens": rng.randint(0, 4000),
            "output_tokens": rng.randint(0, 4000),
        }
        if rng.random() < 0.5:
            ev["prompt"] = rng.choice(PROMPTS)
        if rng.random() < 0.3:
            ev.update(ip=f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                      user_agent="fuzz/1.0", stop_reason=rng.choice(["end_turn", "max_tokens"]),
                      turn_index=rng.randint(0, 3), status=rng.choice([200, 200, 429]))
        ev.update(fields)
        return ev

    def key(self, account: str) -> bytes | None:
        """Mostly the account id (the contract); sometimes null, empty, binary or huge."""
        r = self.rng.random()
        if r < 0.97:
            return account.encode()
        return self.rng.choice([None, b"", b"\x00\xff\xfe\x80", bytes(range(256)), b"k" * 5000,
                                "\u202eacct\u200b".encode(), b"\xed\xa0\x80"])

    def record(self, kind: str, account: str, value: bytes | None, **kw: Any) -> Case:
        return Case(kind, self.key(account), value, **kw)

    # ---------------------------------------------------------------- valid messages
    def valid_single(self) -> Case:
        ev = self.event()
        case = Case("valid_single", ev["account_id"].encode(), orjson.dumps(ev), expect=(), clean=1)
        self.sent.append((case.key or b"", case.value or b"", 1))
        return case

    def valid_array(self) -> Case:
        account = self.rng.choice(self.accounts)
        events = [self.event(account) for _ in range(self.rng.randint(2, 40))]
        case = Case("valid_array", account.encode(), orjson.dumps(events), expect=(), clean=len(events))
        self.sent.append((case.key or b"", case.value or b"", len(events)))
        return case

    def valid_unicode(self) -> Case:
        text = self.rng.choice(UNICODE)
        account = "acct-\u200b\u202e" + str(self.rng.randint(0, 50))
        ev = self.event(account, prompt=text * self.rng.randint(1, 20), user_agent=text, model="m" + text)
        return Case("valid_unicode", account.encode(), orjson.dumps(ev), expect=(), clean=1)

    def valid_unknown_fields(self) -> Case:
        ev = self.event(
            extra={"nested": [1, {"x": None}], "n": 2**63}, schema_version=99, _id=None,
            tags=["a", "b"], **{"\u00fcnknown": "\U0001f600", "": 1, "ts2": "9999-12-31T23:59:59Z"},
        )
        return Case("valid_unknown_fields", ev["account_id"].encode(), orjson.dumps(ev), expect=(), clean=1)

    def duplicate(self) -> Case:
        """An exact re-send of an earlier clean message: every event in it is a duplicate."""
        if not self.sent:
            return self.valid_single()
        key, value, n = self.rng.choice(self.sent)
        return Case("duplicate_event_id", key, value, expect=(), resent=n)

    # ---------------------------------------------------------------- bad messages
    def invalid_json(self) -> Case:
        good = orjson.dumps(self.event())
        value = self.rng.choice([
            b"{oops", b"{", b"}", b"[", b"]", b"[1,]", b'{"a":}', b"{'single': 'quotes'}", b"undefined",
            b'{"a":1}{"b":2}', b"[1] [2]", b"//comment\n{}", b'{"a":1,}', b"\"unterminated", b"\x00",
            b"{\"a\":\"\\x41\"}", b"{\"a\":01}", b"+1", b".5", b"1.", b"--1", b"tru", b"nul", b"[" * 50,
            good + b"garbage", good.replace(b":", b"=", 1), b"\xef\xbb\xbf" + good,
        ])
        return self.record("invalid_json", "acct-bad", value, expect=((None, "invalid_json"),))

    def truncated_json(self) -> Case:
        value = orjson.dumps(self.event() if self.rng.random() < 0.6 else [self.event(), self.event()])
        cut = value[: self.rng.randint(1, len(value) - 1)]
        return self.record("truncated_json", "acct-bad", cut)

    def non_utf8(self) -> Case:
        good = orjson.dumps(self.event())
        bad = self.rng.choice([b"\xff", b"\xc0\xaf", b"\xe2\x82", b"\xf5\x80\x80\x80", b"\xed\xa0\x80", b"\x80"])
        at = self.rng.randint(1, len(good) - 2)
        value = self.rng.choice([good[:at] + bad + good[at:], bytes(self.rng.randrange(256) for _ in range(64))])
        return self.record("non_utf8", "acct-bad", value)

    def empty(self) -> Case:
        return self.record("empty_value", "acct-bad", b"", expect=((None, "invalid_json"),))

    def whitespace(self) -> Case:
        return self.record("whitespace_value", "acct-bad", self.rng.choice([b" ", b"\n", b"\t\r\n "]),
                           expect=((None, "invalid_json"),))

    def null_value(self) -> Case:
        key = self.key("acct-tombstone")  # a record needs a key or a value: null-null cannot be sent
        return Case("null_value", b"" if key is None else key, None, expect=((None, "invalid_json"),))

    def wrong_json_type(self) -> Case:
        value, expect = self.rng.choice(WRONG_JSON_TYPES)
        return self.record("wrong_json_type", "acct-bad", value, expect=expect)

    def wrong_field_type(self) -> Case:
        field = self.rng.choice(list(WRONG_TYPES))
        bad = self.rng.choice(WRONG_TYPES[field])
        ev = self.event()
        account = ev["account_id"]
        ev[field] = bad
        if self.rng.random() < 0.2:
            del ev[self.rng.choice(["event_id", "ts", "account_id", "model", "input_tokens", "output_tokens"])]
        try:
            value = orjson.dumps(ev)
        except TypeError:  # ints beyond 64 bits: write the JSON by hand
            value = orjson.dumps({**ev, field: 0}).replace(f'"{field}":0'.encode(), f'"{field}":{bad}'.encode())
        return self.record("wrong_field_type", account, value, expect=((None, "schema_violation"),))

    def huge_int(self) -> Case:
        ev = self.event()
        field = self.rng.choice(["input_tokens", "output_tokens", "ts", "asn", "max_tokens"])
        digits = self.rng.choice(["1" + "0" * 30, "9" * 400, "-" + "9" * 40, "18446744073709551616"])
        value = orjson.dumps({**ev, field: 0}).replace(f'"{field}":0'.encode(), f'"{field}":{digits}'.encode())
        return self.record("huge_int", ev["account_id"], value)

    def nan_inf(self) -> Case:
        ev = self.event()
        field = self.rng.choice(["input_tokens", "ts", "temperature", "latency_ms"])
        lit = self.rng.choice([b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"1e999", b"-1e999"])
        value = orjson.dumps({**ev, field: 0}).replace(f'"{field}":0'.encode(), f'"{field}":'.encode() + lit)
        return self.record("nan_infinity", ev["account_id"], value, expect=((None, "invalid_json"),))

    def absurd_tokens(self) -> Case:
        ev = self.event(input_tokens=self.rng.choice([-1, -(10**9), 2**31, 2**53, 10**15]),
                        output_tokens=self.rng.choice([0, 2**40, -7]))
        return self.record("absurd_tokens", ev["account_id"], orjson.dumps(ev))

    def duplicate_keys(self) -> Case:
        ev = self.event()
        body = orjson.dumps(ev)[1:-1]
        extra = self.rng.choice([
            b'"account_id":"acct-dupkey"', b'"input_tokens":-5', b'"ts":1e12', b'"event_id":7', b'"model":"m2"',
        ])
        value = b"{" + body + b"," + extra + b"}" if self.rng.random() < 0.5 else b"{" + extra + b"," + body + b"}"
        return self.record("duplicate_object_keys", ev["account_id"], value)

    def surrogates(self) -> Case:
        ev = self.event(prompt="SURROGATE")
        body = orjson.dumps(ev)
        spot = self.rng.choice([b"\\ud800", b"\\udfff", b"\\ud83d", b"\\ud800\\ud800", b"\\udc00\\ud800",
                                b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\\u0000", b"\\uDEAD", b"\\u12", b"\\uzzzz"])
        value = body.replace(b"SURROGATE", spot)
        return self.record("lone_surrogate", ev["account_id"], value)

    def mixed_array(self) -> Case:
        account = self.rng.choice(self.accounts)
        items: list[bytes] = []
        expect: list[tuple[int | None, str]] = []
        clean = 0
        for i in range(self.rng.randint(2, 30)):
            if self.rng.random() < 0.6:
                items.append(orjson.dumps(self.event(account)))
                clean += 1
            else:
                items.append(orjson.dumps(self.rng.choice(BAD_ELEMENTS)))
                expect.append((i, "schema_violation"))
        value = b"[" + b",".join(items) + b"]"
        return Case("mixed_array", account.encode(), value, expect=tuple(expect), clean=clean)

    def array_of_arrays(self) -> Case:
        account = self.rng.choice(self.accounts)
        inner = [[self.event(account) for _ in range(self.rng.randint(0, 3))] for _ in range(self.rng.randint(1, 4))]
        return Case("array_of_arrays", account.encode(), orjson.dumps(inner),
                    expect=tuple((i, "schema_violation") for i in range(len(inner))))

    def deep(self) -> Case:
        depth = self.rng.choice([300, 2000])
        where = self.rng.choice(["top_array", "top_object", "element", "unknown_field"])
        nest = b"[" * depth + b"1" + b"]" * depth
        good = orjson.dumps(self.event())
        kind = f"deep_{depth}_{where}"
        if where == "top_array":
            value = nest
            expect = ((0, "schema_violation"),) if depth < 1000 else ((None, "invalid_json"),)
        elif where == "top_object":
            value = b'{"a":' * depth + b"1" + b"}" * depth
            expect = ((None, "schema_violation"),) if depth < 1000 else ((None, "invalid_json"),)
        elif where == "element":
            value = b"[" + good + b',{"deep":' + nest + b"}]"
            expect = ((1, "schema_violation"),) if depth < 1000 else ((None, "invalid_json"),)
        else:  # a valid event with a deeply nested unknown field, inside an array
            value = b"[" + good[:-1] + b',"deep":' + nest + b"}]"
            expect = () if depth < 1000 else ((None, "invalid_json"),)
        clean = 1 if where == "element" or (where == "unknown_field" and depth < 1000) else 0
        if depth >= 1000:
            clean = 0
        return Case(kind, orjson.loads(good)["account_id"].encode(), value, expect=expect, clean=clean)

    def far_time(self) -> Case:
        future = self.rng.random() < 0.6
        ts = self.rng.choice(FAR_FUTURE if future else FAR_PAST)
        ev = self.event(ts=ts)
        known = future or ts != -1  # -1 may also be refused by the schema
        kind = "ts_far_future" if future else "ts_far_past"
        if self.rng.random() < 0.5:  # alone
            expect = ((None, "out_of_range_time"),) if known else None
            return Case(kind, ev["account_id"].encode(), orjson.dumps(ev), expect=expect)
        before, after = self.event(ev["account_id"]), self.event(ev["account_id"])
        return Case(kind + "_in_array", ev["account_id"].encode(), orjson.dumps([before, ev, after]),
                    expect=((1, "out_of_range_time"),) if known else None, clean=2)

    def far_time_after_bad_element(self) -> Case:
        """A bad element, then valid ones, one far in the future: the batch index of each dead
        letter is its position in the array (not among the valid events)."""
        account = self.rng.choice(self.accounts)
        bad = orjson.dumps(self.rng.choice(BAD_ELEMENTS))
        good = [orjson.dumps(self.event(account)) for _ in range(2)]
        far = orjson.dumps(self.event(account, ts=self.rng.choice(FAR_FUTURE)))
        value = b"[" + b",".join([bad, good[0], far, good[1]]) + b"]"
        return Case("ts_far_future_after_bad_element", account.encode(), value,
                    expect=((0, "schema_violation"), (2, "out_of_range_time")), clean=2)

    def ts_not_rfc3339(self) -> Case:
        ev = self.event(ts=self.rng.choice(NOT_RFC3339))
        return self.record("ts_not_rfc3339", ev["account_id"], orjson.dumps(ev), expect=((None, "schema_violation"),))

    def mutation(self) -> Case:
        # source events get ids of their own ("mu..."): a flipped digit must not hit a clean id
        src: Any = self.event(prefix="mu")
        if self.rng.random() < 0.3:
            src = [self.event(prefix="mu") for _ in range(self.rng.randint(2, 6))]
        raw = bytearray(orjson.dumps(src))
        ops: list[Callable[[bytearray], None]] = [self._flip, self._truncate, self._insert, self._delete, self._splice]
        for _ in range(self.rng.randint(1, 3)):
            self.rng.choice(ops)(raw)
        account = (src if isinstance(src, dict) else src[0])["account_id"]
        return self.record("mutation", account, bytes(raw))

    def _flip(self, raw: bytearray) -> None:
        if raw:
            i = self.rng.randrange(len(raw))
            raw[i] ^= 1 << self.rng.randrange(8)

    def _truncate(self, raw: bytearray) -> None:
        del raw[self.rng.randint(0, len(raw)) :]

    def _insert(self, raw: bytearray) -> None:
        tokens = [b"{", b"}", b"[", b"]", b'"', b",", b":", b"\\", b"null", b"NaN", b"1e999", b'"\\ud800"',
                  b"\xff", b"\x00", b"-", b"0", b'"ts":1e12,', b"[[[[", b"\xed\xa0\x80"]
        tok = self.rng.choice(tokens) if self.rng.random() < 0.7 else bytes(self.rng.randrange(256) for _ in range(3))
        i = self.rng.randint(0, len(raw))
        raw[i:i] = tok

    def _delete(self, raw: bytearray) -> None:
        if raw:
            i = self.rng.randrange(len(raw))
            del raw[i : i + self.rng.randint(1, 8)]

    def _splice(self, raw: bytearray) -> None:
        if len(raw) > 2:
            i, j = sorted(self.rng.sample(range(len(raw)), 2))
            at = self.rng.randint(0, len(raw))
            raw[at:at] = raw[i:j]

    # ---------------------------------------------------------------- sizes
    def near_limit(self) -> Case:
        """A valid event just under the message size limit: processed."""
        ev = self.event(prompt="")
        room = self.max_message_bytes - len(orjson.dumps(ev)) - self.rng.randint(0, 64)
        text = self.rng.choice(["a", "\u00e9", "\u200b", "xyz "])
        ev["prompt"] = text * max(0, room // len(text.encode()))
        value = orjson.dumps(ev)
        assert len(value) <= self.max_message_bytes, len(value)
        return Case("near_limit", ev["account_id"].encode(), value, expect=(), clean=1)

    def over_limit(self) -> Case:
        """Over the message size limit (below the producer's request limit): oversized, sent back whole."""
        ev = self.event(prompt="")
        ev["prompt"] = "b" * (self.max_message_bytes - len(orjson.dumps(ev)) + self.rng.randint(1, 4096))
        value = orjson.dumps(ev) if self.rng.random() < 0.5 else orjson.dumps([ev])
        return Case("over_limit", ev["account_id"].encode(), value, expect=((None, "oversized"),))

    def over_producer_limit(self) -> Case:
        """Larger than the worker's producer may send: oversized, sent to the DLQ truncated."""
        size = self.producer_limit + 50_000
        value = b'{"event_id":"huge","prompt":"' + b"c" * size + b'"}'
        return Case("over_producer_limit", b"acct-huge", value, expect=((None, "oversized"),))

    def too_many_events(self, max_batch: int) -> Case:
        value = b"[" + b",".join([b"{}"] * (max_batch + 1)) + b"]"
        return Case("too_many_events", b"acct-batch", value, expect=((None, "oversized"),))


#: Relative frequency of each kind in the corpus (the size cases are added in fixed numbers).
WEIGHTS: dict[str, float] = {
    "valid_single": 30, "valid_array": 6, "valid_unicode": 2, "valid_unknown_fields": 2,
    "duplicate": 2, "mixed_array": 5, "array_of_arrays": 1, "mutation": 25,
    "invalid_json": 3, "truncated_json": 3, "non_utf8": 2, "empty": 0.5, "whitespace": 0.3,
    "null_value": 0.7, "wrong_json_type": 2, "wrong_field_type": 5, "huge_int": 1, "nan_inf": 1,
    "absurd_tokens": 1, "duplicate_keys": 1, "surrogates": 1.5, "deep": 0.5, "far_time": 0.6,
    "far_time_after_bad_element": 0.1,
    "ts_not_rfc3339": 1,
}


def kinds() -> list[str]:
    """Generator names usable in ``build(exclude=...)``."""
    return [*WEIGHTS, "near_limit", "over_limit", "over_producer_limit", "too_many_events"]


def build(
    n: int,
    *,
    seed: int,
    now: float,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    producer_limit: int = PRODUCER_LIMIT,
    max_batch: int = 10_000,
    warmup: int = 2_000,
    exclude: frozenset[str] = frozenset(),
) -> list[Case]:
    """``n`` cases: ``warmup`` valid one-event messages first (so that every partition has an
    event time before any far-past event arrives), then the seeded mix, shuffled; the size
    cases (a few dozen near and over the limit, three over the producer limit, one array
    with too many events) are included in ``n``."""
    gen = _Gen(seed, now, max_message_bytes, producer_limit)
    out = [gen.valid_single() for _ in range(min(warmup, n))]
    sized: list[Case] = []
    fixed = {"near_limit": max(1, n // 5000), "over_limit": max(1, n // 5000), "over_producer_limit": 3,
             "too_many_events": 1}
    for name, count in fixed.items():
        if name not in exclude:
            for _ in range(count):
                sized.append(gen.too_many_events(max_batch) if name == "too_many_events" else getattr(gen, name)())
    names = [k for k in WEIGHTS if k not in exclude]
    weights = [WEIGHTS[k] for k in names]
    rest = max(0, n - len(out) - len(sized))
    mixed = [getattr(gen, name)() for name in gen.rng.choices(names, weights, k=rest)] + sized
    gen.rng.shuffle(mixed)
    return (out + mixed)[:n]
