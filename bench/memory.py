#!/usr/bin/env python3
"""Memory per tracked account of the detection core, in-process, no Kafka.

Feeds ``--accounts`` distinct accounts ``--events-per-account`` valid events each (with
prompt text, so each window's distinct-prompt sketch exists) into one
``stream_guard.core.detector.Detector`` (what the worker keeps per input partition) and
measures, after ``gc.collect()``:

* ``rss``: the growth of the process's resident set size (``/proc/self/statm``) over
  the feeding. This is the truth: it includes the C++ allocations of the DataSketches
  HLL sketches, which tracemalloc cannot see.
* ``tracemalloc``: the growth of memory traced by ``tracemalloc`` (Python allocations
  only; slow: run it at the smaller sizes).

Both include the detector's per-account bookkeeping (the accounts dict, the evaluation
schedule, the dirty set) and its event-id de-duplication sets; the latter are bounded by
``dedup_window`` ids per detector, not per account, so they are estimated and also
reported separately (``dedup_bytes``) with a per-account figure that excludes them.

Each size should run in a fresh process (``throughput.py`` does that)::

    python bench/memory.py --accounts 100000 --mode rss
    python bench/memory.py --accounts 100000 --mode tracemalloc
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from typing import Any

from harness_common import rss_bytes as _process_rss

#: Event time of the first event (2026-03-01T00:00:00Z), as in the throughput data.
START = 1772323200.0
PROMPTS = (
    "Can you help me with my cover letter for job {i}?",
    "Solve problem {i}: a train leaves at {k}0 km/h. Think step by step.",
    "Write a python function for task {i} and tests for it ({k}).",
)


def rss_bytes() -> int:
    """This process's resident set size."""
    return _process_rss(os.getpid()) or 0


def _set_bytes(s: set[int]) -> int:
    # the set's table plus its int objects (xxh3 64-bit ints: 36 bytes each)
    return sys.getsizeof(s) + sum(sys.getsizeof(x) for x in s)


def measure(accounts: int, events_per_account: int, mode: str) -> dict[str, Any]:
    import orjson
    from stream_guard.core.detector import Detector
    from stream_guard.settings import Settings

    settings = Settings.from_env(max_accounts=max(accounts * 2, 1))  # STREAM_GUARD_* apply (e.g. CROSS_ACCOUNT)
    det = Detector(settings, clock=lambda: 0.0)
    gc.collect()
    if mode == "tracemalloc":
        import tracemalloc

        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    else:
        base = rss_bytes()
    t0 = time.perf_counter()
    process = det.process
    for k in range(events_per_account):
        prompt = PROMPTS[k % len(PROMPTS)]
        for i in range(accounts):
            event = {
                "event_id": f"e-{k}-{i}",
                "account_id": f"acct-{i:07d}",  # a new string per event, as decoded JSON gives
                "model": "model-a",
                "input_tokens": 120,
                "output_tokens": 640,
                "status": 200,
                "stop_reason": "end_turn",
                "turn_index": 0,
                "prompt": prompt.format(i=i, k=k),
            }
            process(event, START + k * 15.0 + i * 1e-5)
    seconds = time.perf_counter() - t0
    gc.collect()
    if mode == "tracemalloc":
        import tracemalloc

        grown = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
    else:
        grown = rss_bytes() - base
    dedup = _set_bytes(det._ids_cur) + _set_bytes(det._ids_prev)
    sample = list(det.accounts.values())[:1000]
    checkpoint_bytes = sum(len(orjson.dumps(st.to_dict())) for st in sample) / max(len(sample), 1)
    n = len(det.accounts)
    return {
        "mode": mode,
        "accounts": n,
        "events_per_account": events_per_account,
        "bytes_grown": grown,
        "bytes_per_account": grown / n if n else 0.0,
        "dedup_bytes": dedup,
        "bytes_per_account_excl_dedup": (grown - dedup) / n if n else 0.0,
        "checkpoint_json_bytes_per_account": checkpoint_bytes,
        "feed_seconds": seconds,
        "us_per_event": seconds / (n * events_per_account) * 1e6 if n else 0.0,
        "rss_total_bytes": rss_bytes(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, required=True, help="distinct accounts to track")
    p.add_argument("--events-per-account", type=int, default=3, help="events fed per account (default 3)")
    p.add_argument("--mode", choices=("rss", "tracemalloc"), default="rss", help="how to measure (default rss)")
    args = p.parse_args(argv)
    print(json.dumps(measure(args.accounts, args.events_per_account, args.mode)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
