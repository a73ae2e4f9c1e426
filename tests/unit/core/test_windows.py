"""Sliding event-time windows (stream_guard.core.window.Windows) on hand-made sequences.

Horizons of 300 s, 1 h and 1 day (the defaults); times start at a day boundary so that
the tumbling generations are easy to reason about: generation ``g`` of a horizon of
length ``L`` covers ``[g * L, (g + 1) * L)``.
"""

from __future__ import annotations

import json
import random

import pytest
from stream_guard.core.window import COUNTERS, HORIZONS, Windows

SHORT, LONG, DAY = 300.0, 3600.0, 86400.0
LENGTHS = (SHORT, LONG, DAY)
T0 = 20513 * DAY  # 2026-03-01T00:00:00Z, a boundary of every horizon


def values(**counts: float) -> tuple[float, ...]:
    """A ``values`` tuple in COUNTERS order; ``requests`` defaults to 1."""
    counts.setdefault("requests", 1)
    unknown = set(counts) - set(COUNTERS)
    assert not unknown, unknown
    return tuple(float(counts.get(name, 0)) for name in COUNTERS)


def copy(w: Windows) -> Windows:
    """A copy through a JSON checkpoint (``snapshot`` may roll generations: keep the original)."""
    return Windows.from_dict(json.loads(json.dumps(w.to_dict())))


def snap(w: Windows, at: float) -> dict[str, float]:
    return copy(w).snapshot(at)


def test_snapshot_names_every_counter_of_every_horizon() -> None:
    s = Windows(LENGTHS).snapshot(T0)
    expected = {f"{h}_{c}" for h in HORIZONS for c in COUNTERS} | {"day_distinct_prompts", "day_categories"}
    assert set(s) == expected
    assert all(v == 0.0 for v in s.values())


def test_counters_add_up_on_every_horizon() -> None:
    w = Windows(LENGTHS)
    for i in range(10):
        w.add(T0 + 10 + i, values(input_tokens=100, output_tokens=900 + i, cot_requests=i % 2), None, 0)
    s = snap(w, T0 + 100)
    for h in HORIZONS:
        assert s[f"{h}_requests"] == 10
        assert s[f"{h}_input_tokens"] == 1000
        assert s[f"{h}_output_tokens"] == sum(900 + i for i in range(10))
        assert s[f"{h}_cot_requests"] == 5


def test_each_horizon_forgets_at_its_own_length() -> None:
    w = Windows(LENGTHS)
    for i in range(6):
        w.add(T0 + i, values(), None, 0)
    w.add(T0 + 2 * LONG + 5, values(), None, 0)  # two hours later
    s = snap(w, T0 + 2 * LONG + 10)
    assert s["short_requests"] == 1
    assert s["long_requests"] == 1
    assert s["day_requests"] == 7


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 0.8])
def test_previous_generation_is_weighted_by_its_overlap(fraction: float) -> None:
    w = Windows(LENGTHS)
    for i in range(6):  # generation g of the short horizon
        w.add(T0 + 10 * i, values(output_tokens=100), None, 0)
    at = T0 + SHORT + fraction * SHORT  # inside generation g + 1, nothing added there yet
    s = snap(w, at)
    assert s["short_requests"] == pytest.approx(6 * (1 - fraction))
    assert s["short_output_tokens"] == pytest.approx(600 * (1 - fraction))
    assert s["long_requests"] == 6  # still the current generation of the longer horizons


def test_weighted_previous_plus_full_current() -> None:
    w = Windows(LENGTHS)
    for i in range(4):
        w.add(T0 + 100 + i, values(), None, 0)      # generation g
    for i in range(3):
        w.add(T0 + SHORT + 10 + i, values(), None, 0)  # generation g + 1
    s = snap(w, T0 + SHORT + 150)  # half of generation g + 1 has passed
    assert s["short_requests"] == pytest.approx(3 + 0.5 * 4)


def test_at_the_end_of_the_next_generation_the_old_one_is_gone() -> None:
    w = Windows(LENGTHS)
    for i in range(5):
        w.add(T0 + i, values(), None, 0)
    assert snap(w, T0 + 2 * SHORT)["short_requests"] == 0
    assert snap(w, T0 + 2 * SHORT - 1)["short_requests"] == pytest.approx(5 / SHORT)


def test_a_gap_longer_than_a_horizon_forgets_it_on_add() -> None:
    w = Windows(LENGTHS)
    for i in range(5):
        w.add(T0 + i, values(), None, 0)
    w.add(T0 + 3 * SHORT + 1, values(), None, 0)  # skips generations g + 1 and g + 2
    s = snap(w, T0 + 3 * SHORT + 2)
    assert s["short_requests"] == 1  # generation g is not the previous one: not carried over
    assert s["long_requests"] == 6


def test_late_events_are_skipped_only_for_horizons_that_moved_on() -> None:
    w = Windows(LENGTHS)
    w.add(T0 + SHORT + 10, values(), None, 0)  # short generation g + 1
    w.add(T0 + 50, values(output_tokens=7), None, 0)  # late: short generation g
    s = snap(w, T0 + SHORT + 20)
    assert s["long_requests"] == 2 and s["day_requests"] == 2 and s["long_output_tokens"] == 7
    # too late for the short horizon: not in its current generation, nor (weighted) in the previous
    assert s["short_requests"] == 1
    assert s["short_output_tokens"] == 0


def test_a_late_event_within_the_current_generation_counts() -> None:
    w = Windows(LENGTHS)
    w.add(T0 + 200, values(), None, 0)
    w.add(T0 + 100, values(), None, 0)  # out of order, same generation everywhere
    assert snap(w, T0 + 250)["short_requests"] == 2


def test_an_event_too_late_for_the_day_leaves_the_days_distincts_and_categories_alone() -> None:
    w = Windows(LENGTHS)
    w.add(T0 + DAY + 100, values(), 111, 0b001)
    w.add(T0 + DAY - 60, values(), 222, 0b100)  # yesterday's generation, arriving late
    s = snap(w, T0 + DAY + 200)
    assert s["day_requests"] == 1
    assert round(s["day_distinct_prompts"]) == 1
    assert s["day_categories"] == 1


def test_a_snapshot_does_not_change_what_later_events_count() -> None:
    w = Windows(LENGTHS)
    w.add(T0 + 100, values(), None, 0)
    untouched = copy(w)
    w.snapshot(T0 + SHORT + 10)  # e.g. staged at a boundary in the next short generation
    for x in (w, untouched):
        x.add(T0 + 250, values(), None, 0)  # a late event before that boundary
    assert w.snapshot(T0 + SHORT + 20)["short_requests"] == untouched.snapshot(T0 + SHORT + 20)["short_requests"]


def test_counts_are_exact_up_to_2_to_the_24() -> None:
    w = Windows(LENGTHS)
    for i in range(16):  # 16 * 1_000_003 = 16_000_048 < 2**24
        w.add(T0 + i, values(output_tokens=1_000_003), None, 0)
    assert snap(w, T0 + 20)["day_output_tokens"] == 16 * 1_000_003


def test_float32_error_stays_small_beyond_2_to_the_24() -> None:
    w = Windows(LENGTHS)
    for i in range(40):
        w.add(T0 + i, values(output_tokens=1_000_003), None, 0)
    assert snap(w, T0 + 50)["day_output_tokens"] == pytest.approx(40 * 1_000_003, rel=1e-6)


# --- day distinct prompts (HyperLogLog, approximate) --------------------------------------------

def test_no_fingerprints_no_distincts() -> None:
    w = Windows(LENGTHS)
    for i in range(5):
        w.add(T0 + i, values(), None, 0)
    assert snap(w, T0 + 10)["day_distinct_prompts"] == 0


def test_a_few_distinct_prompts_are_counted_exactly() -> None:
    w = Windows(LENGTHS)
    for i in range(15):
        w.add(T0 + i, values(), 1000 + i % 5, 0)  # 5 fingerprints, 3 times each
    assert snap(w, T0 + 20)["day_distinct_prompts"] == pytest.approx(5, abs=1e-6)


@pytest.mark.parametrize("n", [30, 200, 2000])
def test_many_distinct_prompts_are_estimated_within_tolerance(n: int) -> None:
    rnd = random.Random(n)
    fps = [rnd.getrandbits(64) for _ in range(n)]
    w = Windows(LENGTHS)
    for i, fp in enumerate(fps * 3):  # every prompt three times: repeats add nothing
        w.add(T0 + i, values(), fp, 0)
    # lg_k = 6 (64 registers): ~10% standard error; 35% is beyond 3 sigma
    assert snap(w, T0 + 3 * n + 1)["day_distinct_prompts"] == pytest.approx(n, rel=0.35)


def test_distincts_of_yesterday_are_weighted_like_the_counters() -> None:
    w = Windows(LENGTHS)
    for i in range(6):
        w.add(T0 + i, values(), 500 + i, 0)
    w.add(T0 + DAY + 1, values(), 999, 0)
    s = snap(w, T0 + DAY + DAY / 2)
    assert s["day_requests"] == pytest.approx(1 + 0.5 * 6)
    assert s["day_distinct_prompts"] == pytest.approx(1 + 0.5 * 6, abs=1e-6)
    assert snap(w, T0 + 2 * DAY)["day_distinct_prompts"] == pytest.approx(1, abs=1e-6)
    assert snap(w, T0 + 3 * DAY)["day_distinct_prompts"] == 0


# --- day categories -----------------------------------------------------------------------------

def test_day_categories_count_the_bits_seen() -> None:
    w = Windows(LENGTHS)
    for i, mask in enumerate((0b0001, 0b0011, 0b1000, 0)):
        w.add(T0 + i, values(), None, mask)
    assert snap(w, T0 + 10)["day_categories"] == 3


def test_yesterdays_categories_count_while_yesterday_overlaps() -> None:
    w = Windows(LENGTHS)
    w.add(T0 + 10, values(), None, 0b0110)
    w.add(T0 + DAY + 10, values(), None, 0b0001)
    assert snap(w, T0 + DAY + 20)["day_categories"] == 3
    assert snap(w, T0 + 2 * DAY - 1)["day_categories"] == 3   # a sliver of yesterday still overlaps
    assert snap(w, T0 + 2 * DAY)["day_categories"] == 1       # today is now yesterday: its bit only
    assert snap(w, T0 + 3 * DAY)["day_categories"] == 0


# --- checkpoints --------------------------------------------------------------------------------

def _busy_windows() -> Windows:
    rnd = random.Random(7)
    w = Windows(LENGTHS)
    t = T0 + 3 * LONG
    for i in range(300):
        t += rnd.expovariate(1 / 40)
        w.add(t, values(input_tokens=rnd.randint(10, 500), output_tokens=rnd.randint(10, 4000),
                        cot_requests=rnd.random() < 0.3, gaps=1, gap_sum=40.0, gap_sq_sum=1600.0),
              rnd.getrandbits(64) if i % 4 else 42, 1 << rnd.randrange(8))
    return w


def test_round_trip_through_json_keeps_every_value_and_the_sketch() -> None:
    w = _busy_windows()
    data = json.loads(json.dumps(w.to_dict()))
    assert data["hll"] is not None
    restored = Windows.from_dict(data)
    assert restored.to_dict() == w.to_dict()
    for at in (T0 + 4 * LONG, T0 + 8 * LONG, T0 + DAY + LONG):
        assert snap(restored, at) == snap(w, at)


def test_a_restored_window_goes_on_counting_like_the_original() -> None:
    w = _busy_windows()
    restored = copy(w)
    rnd = random.Random(3)
    t = T0 + DAY - 100
    for _ in range(50):
        t += 7
        fp = rnd.getrandbits(64)
        w.add(t, values(), fp, 0b1)
        restored.add(t, values(), fp, 0b1)
    assert restored.snapshot(t + 1) == w.snapshot(t + 1)


def test_an_empty_window_round_trips() -> None:
    w = Windows(LENGTHS)
    restored = copy(w)
    assert restored.hll is None
    assert restored.snapshot(T0) == Windows(LENGTHS).snapshot(T0)
