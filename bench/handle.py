#!/usr/bin/env python3
"""The worker's per-message path in-process, without Kafka or Faust: where the time goes.

Feeds the benchmark's data (same generator as ``throughput.py``) as pre-encoded message
values straight into ``stream_guard.stream.runtime.WorkerRuntime.handle`` (what the
Faust agent calls per message) and reports events/s and us/event for one-event and for
batched messages, plus the cost of its stages measured alone:

* ``decode``: ``contracts.decode_message`` (orjson + JSON Schema validation + event time);
* ``detector``: ``Flow.process`` (the per-event path of ``core/flow.py``, which the worker and
  replay drive) over already decoded events;
* ``flush``: ``Flow.flush`` after them: every evaluation, profile and cross-account boundary
  left (in-process linking, as in replay), per event of the data;
* ``checkpoint``: ``WorkerRuntime.checkpoint`` (state ``to_dict`` + orjson) per state.

The difference between 1 / (worker rate) and the ``handle`` cost is what Faust,
aiokafka and the rest of the worker add per event. ``--cprofile N`` prints the top N
functions (by own time) of the batched ``handle`` run on stderr.

    python bench/handle.py --events 300000 --cprofile 25
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness_common import log
from throughput import make_dataset


def measure(events: int, one_events: int, accounts: int, batch: int, partitions: int, rate: float,
            seed: int, top: int) -> dict[str, Any]:
    from aiokafka.partitioner import murmur2
    from stream_guard.contracts import decode_message
    from stream_guard.core.flow import Flow, InProcessLinking
    from stream_guard.metrics import Metrics
    from stream_guard.settings import Settings
    from stream_guard.stream.runtime import WorkerRuntime

    data = make_dataset(events, one_events, accounts, batch, partitions, rate, seed)
    one = [((murmur2(k) & 0x7FFFFFFF) % partitions, v) for k, v in data.one]
    batched = [(p, v) for p, _k, v in data.batched]
    settings = Settings()
    out: dict[str, Any] = {"events": data.batched_events, "one_event_events": data.one_events,
                           "mean_event_bytes": round(data.mean_event_bytes, 1)}

    def run_handle(messages: list[tuple[int, bytes]], n_events: int, profile: bool = False) -> dict[str, Any]:
        rt = WorkerRuntime(settings, Metrics())
        prof = cProfile.Profile() if profile else None
        handle = rt.handle
        t0 = time.perf_counter()
        if prof:
            prof.enable()
        for offset, (part, value) in enumerate(messages):
            handle(part, offset, value)
        if prof:
            prof.disable()
        seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        states = sum(1 for _ in rt.checkpoint())
        cp = time.perf_counter() - t1
        res = {"events_per_s": n_events / seconds, "us_per_event": seconds / n_events * 1e6,
               "seconds": seconds, "checkpoint_states": states,
               "checkpoint_us_per_state": cp / states * 1e6 if states else None}
        if prof:
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
            res["profile_top"] = buf.getvalue()
        return res

    log(f"handle(): {len(one):,} one-event messages ...")
    out["handle_one"] = run_handle(one, data.one_events)
    log(f"handle(): {out['handle_one']['events_per_s']:,.0f} events/s")
    log(f"handle(): {len(batched):,} batched messages ...")
    out["handle_batched"] = run_handle(batched, data.batched_events)
    log(f"handle(): {out['handle_batched']['events_per_s']:,.0f} events/s")

    # stages alone, on the batched data
    t0 = time.perf_counter()
    decoded = [(p, decode_message(v, max_bytes=settings.max_message_bytes, max_batch=settings.max_batch_events))
               for p, v in batched]
    dec_s = time.perf_counter() - t0
    # the flow the worker and replay drive (cross-account stages in-process, as in replay)
    flow = Flow(settings, InProcessLinking(settings), partitions=partitions)
    t0 = time.perf_counter()
    for p, msg in decoded:
        for ev, ts in msg.events:
            flow.process(p, ev, ts)
    det_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    flow.flush()  # every evaluation, profile and cross-account boundary of the data
    flush_s = time.perf_counter() - t0
    n = data.batched_events
    out["stages_batched"] = {"decode_us_per_event": dec_s / n * 1e6, "detector_us_per_event": det_s / n * 1e6,
                             "flush_us_per_event": flush_s / n * 1e6}
    log(f"stages: decode {dec_s / n * 1e6:.2f} us/event, Detector.process {det_s / n * 1e6:.2f} us/event, "
        f"evaluations + profiles + cross-account at the end {flush_s / n * 1e6:.2f} us/event")
    if top:
        log("cProfile of handle() on batched messages ...")
        prof = run_handle(batched, data.batched_events, profile=True)
        out["profile_batched_top"] = prof["profile_top"]
        print(prof["profile_top"], file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=300_000, help="events in batched messages (default 300,000)")
    p.add_argument("--one-event-events", type=int, default=100_000, help="one-event messages (default 100,000)")
    p.add_argument("--accounts", type=int, default=10_000)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--event-rate", type=float, default=1000.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--cprofile", type=int, default=0, metavar="N", help="print the top N functions (default: off)")
    args = p.parse_args(argv)
    res = measure(args.events, args.one_event_events, args.accounts, args.batch_size, args.partitions,
                  args.event_rate, args.seed, args.cprofile)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
