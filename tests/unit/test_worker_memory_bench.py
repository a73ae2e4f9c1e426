"""The pure helpers of ``bench/worker_memory.py`` (slopes, rates, projection, allocation parts).

``tests/conftest.py`` puts ``bench/`` on the path; the benchmark itself needs a broker and
minutes, these checks do not.
"""

from __future__ import annotations

import doctest
from pathlib import Path

import worker_memory


def test_doctests() -> None:
    result = doctest.testmod(worker_memory)
    assert result.attempted >= 10 and result.failed == 0


def test_slopes_cancel_fixed_costs() -> None:
    def run(n: int, idle: float, settled: float) -> dict[str, object]:
        return {"accounts": n, "tracked_accounts": n, "idle": {"rss_bytes": idle}, "drained": {"rss_bytes": settled},
                "settled": {"rss_bytes": settled}, "after_rounds": {"rss_bytes": settled}, "peak_rss_bytes": settled}

    # 150 MB fixed + 100 MB of start-up cost + 3,000 B per account
    small, big = run(10_000, 150e6, 250e6 + 3_000 * 10_000), run(100_000, 150e6, 250e6 + 3_000 * 100_000)
    slopes = worker_memory.worker_slopes([big, small])
    assert slopes["between"][0]["settled"] == 3_000.0
    assert slopes["over_idle"]["10000"]["settled"] == 13_000.0  # the ratio over idle hides the fixed part


def test_round_rate_starts_at_a_fresh_tick() -> None:
    # counters move once per second; the producer finished at t=1.2 while the sample showed t=1's value
    rows = [(t / 4, float(min(1000 * int(t / 4), 4000)), t / 4, t / 4, 0.0, 1) for t in range(24)]
    r = worker_memory.round_rate(rows, 0.0, 4000, 1.2)
    assert r["events_per_s_drain"] == 1000.0


def test_parts() -> None:
    import stream_guard.core.detector as detector
    import stream_guard.core.linking.index as index

    source = Path(detector.__file__).read_text().splitlines()
    dedup = [n for n, text in enumerate(source, 1) if "self._ids_cur.add(key)" in text]
    assert dedup and worker_memory.classify(detector.__file__, dedup[0]) == "event-id dedup (bounded per partition)"
    assert worker_memory.classify(index.__file__, 1) == "attribute index"
    assert worker_memory.classify("/x/site-packages/aiokafka/consumer/fetcher.py", 1).startswith("Faust")
