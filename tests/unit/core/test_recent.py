"""Rings of recent fingerprints (stream_guard.core.recent.Recent): repeats, eviction, spread."""

from __future__ import annotations

import json

import pytest
from stream_guard.core.recent import RINGS, Recent


def copy(r: Recent) -> Recent:
    return Recent.from_dict(json.loads(json.dumps(r.to_dict())))


def test_a_repeat_is_reported_and_not_stored_again() -> None:
    r = Recent()
    assert [r.push("prompt", fp) for fp in (11, 12, 11, 11, 13, 12)] == [False, False, True, True, False, True]
    assert r.distinct("prompt") == 3


@pytest.mark.parametrize("ring", list(RINGS))
def test_every_ring_evicts_the_oldest_beyond_its_capacity(ring: str) -> None:
    k = RINGS[ring]
    r = Recent()
    for fp in range(1, k + 2):  # k + 1 distinct fingerprints: the first one is pushed out
        assert r.push(ring, fp) is False
    assert r.distinct(ring) == k
    assert r.push(ring, k + 1) is True  # the newest is there
    assert r.push(ring, 2) is True      # so is the second oldest
    assert r.push(ring, 1) is False     # the oldest was evicted


def test_eviction_is_first_in_first_out_even_for_often_repeated_fingerprints() -> None:
    k = RINGS["prompt"]
    r = Recent()
    r.push("prompt", 100)
    for fp in range(1, k):  # fills the ring, repeating 100 in between
        r.push("prompt", fp)
        assert r.push("prompt", 100) is True
    r.push("prompt", 999)  # one more distinct: 100, the first stored, goes
    assert r.push("prompt", 100) is False


@pytest.mark.parametrize("ring", ["model", "params", "ip", "user_agent", "client"])
def test_spread_rings_saturate_at_their_capacity(ring: str) -> None:
    r = Recent()
    for fp in range(1000, 1010):
        r.push(ring, fp)
    assert r.distinct(ring) == RINGS[ring]
    one = Recent()
    for _ in range(10):
        one.push(ring, 7)
    assert one.distinct(ring) == 1


def test_rings_are_independent() -> None:
    r = Recent()
    assert r.push("ip", 5) is False
    assert r.push("model", 5) is False
    assert r.push("ip", 5) is True
    for fp in range(100, 120):
        r.push("prompt", fp)
    assert r.distinct("ip") == 1 and r.distinct("model") == 1 and r.distinct("client") == 0


def test_an_empty_ring_has_no_distincts() -> None:
    r = Recent()
    assert all(r.distinct(ring) == 0 for ring in RINGS)


def test_zero_and_full_width_fingerprints_are_stored() -> None:
    r = Recent()
    assert r.push("prompt", 0) is False  # 0 marks an empty slot: it is stored as a non-zero value
    assert r.push("prompt", 0) is True
    assert r.push("prompt", 2**64 - 1) is False
    assert r.push("prompt", 2**64 - 1) is True
    assert r.distinct("prompt") == 2


def test_round_trip_keeps_contents_and_eviction_order() -> None:
    r = Recent()
    k = RINGS["prompt"]
    for fp in range(1, k + 4):
        r.push("prompt", fp)
    for fp in (7, 8, 9, 7):
        r.push("ip", fp)
    restored = copy(r)
    assert restored.to_dict() == r.to_dict()
    assert {ring: restored.distinct(ring) for ring in RINGS} == {ring: r.distinct(ring) for ring in RINGS}
    follow = [("prompt", 4), ("prompt", 500), ("prompt", 4), ("prompt", 5), ("ip", 9), ("ip", 10), ("ip", 7)]
    assert [restored.push(*p) for p in follow] == [r.push(*p) for p in follow]
