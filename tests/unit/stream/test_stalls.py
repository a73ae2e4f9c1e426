"""stream_guard.stream.stalls: steps and partitions that stop moving are named."""

from __future__ import annotations

from stream_guard.stream.stalls import DeliveryWatch, StallWatch, await_chain


def test_a_step_outside_any_task_is_watched_with_an_unknown_place() -> None:
    now = [0.0]
    watch = StallWatch(after_s=10.0, clock=lambda: now[0])
    with watch.step("checkpoint pass"):
        now[0] = 9.0
        assert watch.stalled() == []
        now[0] = 12.0
        [stall] = watch.stalled()
    assert (stall.name, stall.seconds, stall.waiting_in) == ("checkpoint pass", 12.0, "?")
    assert watch.stalled() == []
    assert await_chain(None) == "?"


def test_a_partition_that_is_revoked_is_forgotten_and_starts_afresh() -> None:
    w = DeliveryWatch(after_s=30.0)
    assert w.observe({3: 5}, {3: 100}, now=0.0) == []
    assert w.observe({}, {}, now=10.0) == []  # revoked
    assert w.observe({3: 5}, {3: 100}, now=35.0) == []  # assigned again: its clock restarts
    assert [s.partition for s in w.observe({3: 5}, {3: 100}, now=66.0)] == [3]


def test_an_idle_partition_without_waiting_messages_is_not_starved() -> None:
    w = DeliveryWatch(after_s=30.0)
    for t in (0.0, 40.0, 80.0):
        assert w.observe({0: 0}, {0: 7}, now=t) == []
