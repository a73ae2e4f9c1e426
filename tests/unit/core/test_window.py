"""SlidingWindow: generations, weights, gaps, checkpoints."""

from __future__ import annotations

import pytest

from stream_guard.core.window import COUNTERS, SlidingWindow

ONE = (1, 10, 100, 1, 0, 0, 1)


def test_values_follow_the_overlap_of_the_previous_generation() -> None:
    w = SlidingWindow(100.0)
    for t in range(0, 100):  # 100 requests in generation 0
        w.add(float(t), ONE, t)
    assert w.snapshot(100.0)["requests"] == 100.0
    assert w.snapshot(125.0)["requests"] == 75.0
    assert w.snapshot(199.0)["requests"] == pytest.approx(1.0)


def test_a_gap_longer_than_the_window_forgets_everything() -> None:
    w = SlidingWindow(60.0)
    w.add(0.0, ONE, 1)
    w.add(500.0, ONE, 2)
    snap = w.snapshot(510.0)
    assert snap["requests"] == 1.0 and round(snap["distinct_prompts"]) == 1


def test_distinct_prompts_count_fingerprints_not_requests() -> None:
    w = SlidingWindow(3600.0)
    for i in range(300):
        w.add(float(i), ONE, i % 50)
    assert 45 <= w.snapshot(300.0)["distinct_prompts"] <= 55
    w2 = SlidingWindow(3600.0)
    for i in range(300):
        w2.add(float(i), ONE, None)  # no prompt and no hash: nothing to count
    assert w2.snapshot(300.0)["distinct_prompts"] == 0.0


def test_checkpoint_round_trip_keeps_counters_and_sketch() -> None:
    w = SlidingWindow(60.0)
    for i in range(90):
        w.add(float(i), ONE, i)
    back = SlidingWindow.from_dict(60.0, w.to_dict())
    assert back.snapshot(100.0) == w.snapshot(100.0)
    back.add(101.0, ONE, 10_000)
    assert back.snapshot(110.0)["distinct_prompts"] > w.snapshot(110.0)["distinct_prompts"]
    assert set(w.snapshot(100.0)) == set(COUNTERS) | {"distinct_prompts"}
