"""LagTracker: the lag, the committed lag and the commit stall derived from the broker probe."""

from __future__ import annotations

from stream_guard.stream.probe import LagTracker, PartitionLag


def test_lag_counts_from_the_newer_of_committed_and_handled() -> None:
    t = LagTracker()
    got = t.observe({0: (100, 40), 1: (100, 90)}, {0: 69, 1: 49}, now=0.0)
    assert got == {0: PartitionLag(30, 60, 0.0), 1: PartitionLag(10, 10, 0.0)}


def test_stuck_commits_show_in_the_committed_lag_and_the_stall_not_in_the_lag() -> None:
    """The failover of issue 10: every message processed, the committed offset never moves."""
    t = LagTracker()
    t.observe({0: (1_000, 500)}, {0: 999}, now=100.0)
    got = t.observe({0: (141_400, 500)}, {0: 141_399}, now=400.0)[0]
    assert got.lag == 0
    assert got.committed_lag == 140_900
    assert got.commit_stalled_s == 300.0


def test_the_stall_restarts_whenever_the_committed_offset_moves() -> None:
    t = LagTracker()
    t.observe({0: (100, 10)}, {}, now=0.0)
    assert t.observe({0: (200, 10)}, {}, now=5.0)[0].commit_stalled_s == 5.0
    assert t.observe({0: (300, 150)}, {}, now=7.0)[0].commit_stalled_s == 0.0
    assert t.observe({0: (400, 150)}, {}, now=10.0)[0].commit_stalled_s == 3.0


def test_an_idle_partition_committed_to_its_end_never_stalls() -> None:
    t = LagTracker()
    for now in (0.0, 60.0, 600.0):
        assert t.observe({0: (50, 50)}, {0: 49}, now=now)[0] == PartitionLag(0, 0, 0.0)
    # new messages arrive: the stall counts from the last moment nothing waited
    assert t.observe({0: (80, 50)}, {0: 49}, now=610.0)[0] == PartitionLag(30, 30, 10.0)


def test_no_commit_yet_counts_the_whole_partition_and_stalls_from_the_first_probe() -> None:
    t = LagTracker()
    assert t.observe({2: (70, None)}, {}, now=1.0)[2] == PartitionLag(70, 70, 0.0)
    assert t.observe({2: (90, None)}, {2: 79}, now=4.0)[2] == PartitionLag(10, 90, 3.0)
    assert t.observe({2: (0, None)}, {}, now=5.0)[2] == PartitionLag(0, 0, 0.0)  # empty partition


def test_a_committed_offset_beyond_the_probed_end_is_no_lag() -> None:
    # the end offsets and the committed offsets are two requests: a commit may land in between
    assert LagTracker().observe({0: (100, 105)}, {0: 104}, now=0.0)[0] == PartitionLag(0, 0, 0.0)


def test_revoked_partitions_are_forgotten_and_start_afresh_when_assigned_again() -> None:
    t = LagTracker()
    t.observe({0: (100, 10), 1: (100, 10)}, {}, now=0.0)
    assert set(t.observe({1: (100, 10)}, {}, now=50.0)) == {1}
    assert t.observe({0: (100, 10), 1: (100, 10)}, {}, now=60.0) == {
        0: PartitionLag(90, 90, 0.0),
        1: PartitionLag(90, 90, 60.0),
    }
