"""Linking attribute values of one event (stream_guard.core.linking.attributes), on hand-made events."""

from __future__ import annotations

import re
from typing import Any

import pytest
from stream_guard.core.linking import attributes
from stream_guard.core.linking.attributes import (
    FRAME_WORDS,
    HASHED_KINDS,
    KINDS,
    event_values,
    event_values_shared,
    ip_prefix,
    opaque,
    template_frames,
)

HEX16 = re.compile(r"^[0-9a-f]{16}$")


# --- ip_prefix ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ip", "prefix"),
    [
        ("203.0.113.7", "203.0.113.0/24"),
        ("10.1.2.255", "10.1.2.0/24"),
        ("0.0.0.0", "0.0.0.0/24"),
        ("2001:db8:85a3:1234:5678::1", "2001:db8:85a3::/48"),
        ("2001:db8::1", "2001:db8::/48"),
        ("::1", "::/48"),
    ],
)
def test_ip_prefix_of_addresses(ip: str, prefix: str) -> None:
    assert ip_prefix(ip) == prefix


@pytest.mark.parametrize(
    "garbage",
    ["", "not-an-ip", "1.2.3", "1.2.3.4.5", "a.b.c.d", "1.2.3.4/8", " 1.2.3.4", "2001:db8:zz::1", ":", "1::2::3"],
)
def test_ip_prefix_of_garbage_is_none(garbage: str) -> None:
    assert ip_prefix(garbage) is None


def test_ip_prefix_same_network_collides_other_network_does_not() -> None:
    assert ip_prefix("198.51.100.1") == ip_prefix("198.51.100.254")
    assert ip_prefix("198.51.100.1") != ip_prefix("198.51.101.1")
    assert ip_prefix("2001:db8:1:aaaa::1") == ip_prefix("2001:db8:1:bbbb::2")
    assert ip_prefix("2001:db8:1::1") != ip_prefix("2001:db8:2::1")


@pytest.mark.parametrize("ip", ["999.1.2.3", "256.0.0.1", "\u00b2.1.1.1"])
def test_ip_prefix_out_of_range_octets_are_not_addresses(ip: str) -> None:
    assert ip_prefix(ip) is None


def test_ip_prefix_of_ipv4_mapped_ipv6_is_the_ipv4_network() -> None:
    assert ip_prefix("::ffff:203.0.113.7") != ip_prefix("::ffff:198.51.100.9")
    assert ip_prefix("::ffff:203.0.113.7") == "203.0.113.0/24"


# --- event_values -------------------------------------------------------------------------
def test_event_values_full_event_in_kind_order() -> None:
    event = {
        "ip": "203.0.113.7", "asn": 64500, "client_fingerprint": "ja4_x", "user_agent": "sdk/1.0",
        "payment_fingerprint": "pm_1", "system_prompt_hash": "sp_9", "model": "m-large",
        "prompt": "ignored here", "account_id": "a", "input_tokens": 3,
    }
    assert event_values(event) == [
        ("ip", opaque("203.0.113.7")), ("ip_prefix", opaque("203.0.113.0/24")), ("asn", "64500"),
        ("client", "ja4_x"), ("user_agent", opaque("sdk/1.0")), ("payment", "pm_1"), ("system_prompt", "sp_9"),
        ("model", "m-large"),
    ]
    kinds = [k for k, _ in event_values(event)]
    assert kinds == [k for k in KINDS if k != "template"]


def test_event_values_skips_missing_none_and_empty_fields() -> None:
    assert event_values({}) == []
    assert event_values({"ip": "", "asn": None, "user_agent": "", "payment_fingerprint": None, "model": ""}) == []
    assert event_values({"model": "m", "user_agent": None, "client_fingerprint": ""}) == [("model", "m")]
    # asn 0 is a value, not a missing one
    assert event_values({"asn": 0}) == [("asn", "0")]


def test_event_values_garbage_ip_kept_as_ip_without_prefix() -> None:
    assert event_values({"ip": "unknown", "model": "m"}) == [("ip", opaque("unknown")), ("model", "m")]


def test_opaque_is_a_stable_short_hash() -> None:
    assert {"ip", "ip_prefix", "user_agent"} == HASHED_KINDS
    value = opaque("203.0.113.7")
    assert value.startswith("h:") and HEX16.match(value[2:])
    assert value == opaque("203.0.113.7") != opaque("203.0.113.8")
    assert opaque("\ud800 lone surrogate").startswith("h:")  # never raises on odd text


def test_event_values_hold_no_raw_address_or_user_agent() -> None:
    event = {"ip": "198.51.100.77", "user_agent": "MyTool/2.0 (ops@example.com)", "asn": 64501,
             "client_fingerprint": "t13d_x", "model": "m"}
    text = repr(event_values(event))
    for raw in ("198.51.100", "MyTool", "example.com"):
        assert raw not in text
    # the same address and network still collide (hashes are deterministic), other networks do not
    def values(ip: str) -> dict[str, str]:
        return dict(event_values({"ip": ip}))

    assert values("198.51.100.1")["ip_prefix"] == values("198.51.100.254")["ip_prefix"]
    assert values("198.51.100.1")["ip_prefix"] != values("198.51.101.1")["ip_prefix"]
    assert values("198.51.100.1")["ip"] != values("198.51.100.254")["ip"]


def test_event_values_long_fingerprint_is_hashed_short_one_kept() -> None:
    long_a = "fp-" + "x" * 300
    long_b = "fp-" + "y" * 300
    (kind_a, value_a), = event_values({"client_fingerprint": long_a})
    (_, value_b), = event_values({"client_fingerprint": long_b})
    assert kind_a == "client"
    assert value_a.startswith("h:") and HEX16.match(value_a[2:])
    assert value_a != value_b
    assert event_values({"client_fingerprint": long_a}) == [("client", value_a)]  # deterministic
    assert "fp-" not in value_a
    edge = "u" * 256  # at the limit: kept as it is
    assert event_values({"client_fingerprint": edge}) == [("client", edge)]
    assert event_values({"client_fingerprint": edge + "u"})[0][1].startswith("h:")
    # user agents are hashed whatever their length
    assert event_values({"user_agent": "u"}) == [("user_agent", opaque("u"))]


def test_keyed_pseudonyms_depend_on_the_key_and_still_collide_within_it() -> None:
    event = {"ip": "198.51.100.77", "user_agent": "MyTool/2.0", "payment_fingerprint": "pm_1"}
    plain = dict(event_values(event))
    keyed = dict(event_values(event, b"secret-1"))
    other = dict(event_values(event, b"secret-2"))
    for kind in ("ip", "ip_prefix", "user_agent"):
        assert keyed[kind].startswith("h:") and HEX16.match(keyed[kind][2:])
        assert len({plain[kind], keyed[kind], other[kind]}) == 3
    assert keyed["payment"] == plain["payment"] == "pm_1"  # gateway fingerprints stay as sent
    # within one key the same network still collides
    a = dict(event_values({"ip": "198.51.100.1"}, b"secret-1"))
    b = dict(event_values({"ip": "198.51.100.254"}, b"secret-1"))
    assert a["ip_prefix"] == b["ip_prefix"] and a["ip"] != b["ip"]


# --- template_frames ----------------------------------------------------------------------
WRAP_HEAD = "Solve the following problem carefully. Show your full reasoning before the answer."
WRAP_TAIL = "Think step by step and put the final answer in a box at the very end."


def test_template_frames_format() -> None:
    head, tail = template_frames("hello there")
    assert head.startswith("h:") and HEX16.match(head[2:])
    assert tail.startswith("t:") and HEX16.match(tail[2:])
    assert FRAME_WORDS == 6


def test_template_frames_same_head_wrapper_different_tasks_share_head() -> None:
    a = template_frames(f"{WRAP_HEAD} A train leaves the station and travels along the coast to the harbor.")
    b = template_frames(f"{WRAP_HEAD} Write a function that reverses a linked list in place without recursion.")
    assert a[0] == b[0]
    assert a[1] != b[1]


def test_template_frames_same_tail_wrapper_different_tasks_share_tail() -> None:
    a = template_frames(f"Which gas do plants absorb from the air during photosynthesis? {WRAP_TAIL}")
    b = template_frames(f"Explain why the sky looks blue on a clear afternoon in summer. {WRAP_TAIL}")
    assert a[1] == b[1]
    assert a[0] != b[0]


def test_template_frames_numbers_masked_so_same_template_collides_fully() -> None:
    a = template_frames("Compute 17 plus 23 and then divide the result by 4. Show every step.")
    b = template_frames("Compute 5 plus 811 and then divide the result by 9. Show every step.")
    assert a == b


def test_template_frames_different_wrappers_differ() -> None:
    a = template_frames(f"{WRAP_HEAD} What is the capital city of the country north of here? {WRAP_TAIL}")
    b = template_frames("Please translate this short message for my grandmother, who lives abroad and "
                        "reads only her native language, into polite formal prose right away.")
    assert a[0] != b[0]
    assert a[1] != b[1]


def test_template_frames_carry_no_raw_text() -> None:
    prompt = "Zanzibar quixotic marmalade: Solve for the zeppelin velocity; show reasoning."
    out = " ".join(template_frames(prompt)).lower()
    for word in ("zanzibar", "quixotic", "marmalade", "solve", "zeppelin", "velocity", "reasoning"):
        assert word not in out
    assert len(out) == 2 * 18 + 1


# --- event_values_shared (the cached form) -------------------------------------------------
def test_shared_values_are_cached_per_field_combination_and_equal_event_values() -> None:
    event = {"ip": "198.51.100.7", "asn": 64500, "user_agent": "sdk/2", "payment_fingerprint": "pm_7",
             "model": "m", "prompt": "not a linking field", "account_id": "a"}
    first = event_values_shared(event)
    assert isinstance(first, tuple) and list(first) == event_values(event)
    # an other event with the same linking fields: the same tuples, whatever else differs
    again = event_values_shared({**event, "prompt": "other", "account_id": "b", "input_tokens": 9})
    assert again is first
    # (kind, value) pairs are one object across combinations (shared by accounts)
    other = event_values_shared({**event, "ip": "198.51.100.8"})
    assert other[1] == first[1] and other[1] is first[1]  # the same /24
    assert other[0] != first[0]


def test_event_values_returns_a_new_list_the_cache_is_not_changed_by_callers() -> None:
    event = {"ip": "198.51.100.9", "model": "m"}
    values = event_values(event)
    values.append(("model", "tampered"))
    values[0] = ("ip", "tampered")
    assert event_values(event) == [("ip", opaque("198.51.100.9")), ("ip_prefix", opaque("198.51.100.0/24")),
                                   ("model", "m")]


@pytest.mark.parametrize("order", [(64500, 64500.0, True, "64500"), (True, 64500.0, 64500, "64500"),
                                   (1, True, 1.0, "1"), (1.0, 1, True, "1")])
def test_equal_values_of_other_types_are_not_mixed_up_by_the_cache(order: tuple[Any, ...]) -> None:
    """1, 1.0 and True are one dict key but three texts: each gets its own, in any order."""
    for value in order:
        for field in ("asn", "model", "client_fingerprint"):
            kind = {"asn": "asn", "model": "model", "client_fingerprint": "client"}[field]
            assert event_values_shared({field: value}) == ((kind, str(value)),)
            assert event_values({field: value, "ip": value}) == [("ip", opaque(value)), (kind, str(value))]
    assert event_values_shared({"asn": -0.0}) == (("asn", "-0.0"),)
    assert event_values_shared({"asn": 0.0}) == (("asn", "0.0"),)
    assert event_values_shared({"asn": 0}) == (("asn", "0"),)


def test_unhashable_field_values_are_computed_not_cached() -> None:
    assert event_values({"model": ["m"], "ip": "10.0.0.1"}) == [
        ("ip", opaque("10.0.0.1")), ("ip_prefix", opaque("10.0.0.0/24")), ("model", "['m']")]
    assert event_values_shared({"asn": {"n": 1}}) == (("asn", "{'n': 1}"),)


def test_the_cache_keys_on_the_hash_key_too() -> None:
    event = {"ip": "198.51.100.20", "user_agent": "ua"}
    plain, k1, k2 = event_values_shared(event), event_values_shared(event, b"k1"), event_values_shared(event, b"k2")
    assert plain == tuple(event_values(event)) and k1 == tuple(event_values(event, b"k1"))
    assert len({plain[0], k1[0], k2[0]}) == 3
    assert k1[0] == ("ip", opaque("198.51.100.20", b"k1"))


def test_a_full_cache_is_emptied_and_values_stay_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attributes, "VALUES_CACHE", 8)
    monkeypatch.setattr(attributes, "_cache", {})
    monkeypatch.setattr(attributes, "_interned", {})
    events = [{"ip": f"10.0.{i % 5}.{i}", "user_agent": f"ua/{i % 3}", "model": "m"} for i in range(40)]
    expected = [[("ip", opaque(e["ip"])), ("ip_prefix", opaque(ip_prefix(e["ip"]))),
                 ("user_agent", opaque(e["user_agent"])), ("model", "m")] for e in events]
    for _ in range(3):
        assert [event_values(e) for e in events] == expected
        assert len(attributes._cache) <= 8 and len(attributes._interned) < 8 + len(KINDS)  # + one event's
