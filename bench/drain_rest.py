#!/usr/bin/env python3
"""Finish the drain of a ``bench/faults.py`` overload run whose wait ended first.

Scenario (d) of ``bench/faults.py`` offers ~10 x the worker's drain rate for 10 minutes, so
the backlog takes about nine times as long to drain as it took to build: longer than a
sensible ``--drain-timeout``. When the wait ends, the benchmark stops the worker and the
broker but keeps both on disk (``--workdir``). This script starts that broker again, starts
a worker of the same consumer group with the same settings and data directory (it resumes
from the group's committed offsets and restores its state from the checkpoints, as after
any restart), and samples the broker-side lag (end offsets minus the group's committed
offsets) until it reaches zero: the proof that the backlog drains, with the rate it drains
at. The worker's settings come from ``--env-file`` (``KEY=VALUE`` lines: the
``STREAM_GUARD_*`` variables of the overload worker; ``bench/faults.py`` writes
``overload.env`` into its workdir).

    python bench/drain_rest.py --workdir /tmp/sgf --env-file /tmp/sgf/overload.env

Progress goes to stderr, a table to stdout, the samples to ``--out`` (JSON). A benchmark:
it reports, it does not fail on the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from faults import PARTITIONS, BrokerLag
from harness_common import (
    RESULTS,
    WorkerProcess,
    broker,
    events_accounted,
    log,
    machine_info,
    main_entry,
    md_table,
    rss_bytes,
    write_json,
)


def read_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.startswith("STREAM_GUARD_") and key not in (
            "STREAM_GUARD_BROKER", "STREAM_GUARD_METRICS_PORT", "STREAM_GUARD_METRICS_HOST", "STREAM_GUARD_DATA_DIR"
        ):
            env[key] = value
    return env


async def drain(bootstrap: str, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    lag = BrokerLag(bootstrap, env["STREAM_GUARD_INPUT_TOPIC"], env["STREAM_GUARD_APP_ID"])
    wk = WorkerProcess(bootstrap, env, args.workdir / "overload-data", args.workdir / "drain-rest.log")
    t0 = time.time()
    await asyncio.to_thread(wk.start, 300.0)
    ready_s = time.time() - t0
    # read once the worker is ready: just after a broker restart the group's committed
    # offsets may not be served yet, and the lag would read as the whole topic
    first = await lag.read()
    if first is None:
        raise SystemExit("drain_rest: the broker does not answer")
    log(f"[drain] worker ready after {ready_s:.1f}s; backlog {first['lag']:,} messages (end offsets {first['end']:,})")
    samples: list[dict[str, Any]] = []
    drained_at = None
    try:
        while time.time() - t0 < args.timeout:
            reading = await lag.read()
            try:
                events = events_accounted(wk.metrics())
            except OSError:
                events = None
            rss = rss_bytes(wk.proc.pid) if wk.proc is not None else None
            row = {"t": round(time.time() - t0, 1), "lag": None if reading is None else reading["lag"],
                   "events": events, "rss_mb": None if rss is None else round(rss / 2**20, 1)}
            samples.append(row)
            if len(samples) % max(1, int(60 / args.sample_s)) == 1:
                log(f"[drain] t={row['t']:.0f}s lag={row['lag']} messages, events={events}, rss={row['rss_mb']} MB")
            if row["lag"] is not None and row["lag"] <= args.lag_near:
                drained_at = row["t"]
                break
            await asyncio.sleep(args.sample_s)
    finally:
        await lag.close()
        await asyncio.to_thread(wk.stop)
    rated = [s for s in samples if s["events"] is not None]
    rate = None
    if len(rated) >= 2 and rated[-1]["t"] > rated[0]["t"]:
        rate = (rated[-1]["events"] - rated[0]["events"]) / (rated[-1]["t"] - rated[0]["t"])
    return {
        "backlog_messages_at_start": first["lag"], "worker_ready_s": round(ready_s, 1),
        "drained": drained_at is not None,
        "drained_after_s": drained_at, "events_per_s": None if rate is None else round(rate, 1),
        "events_handled": None if not rated else rated[-1]["events"],
        "peak_rss_mb": max((s["rss_mb"] or 0) for s in samples) if samples else None, "samples": samples,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, required=True, help="the --workdir of the bench/faults.py run")
    p.add_argument("--env-file", type=Path, required=True, help="the overload worker's STREAM_GUARD_* settings")
    p.add_argument("--timeout", type=float, default=7200.0, help="seconds to wait for the lag to reach zero")
    p.add_argument("--sample-s", type=float, default=5.0, help="sampling interval")
    p.add_argument("--lag-near", type=int, default=10, help="messages of lag that count as drained")
    p.add_argument("--out", type=Path, default=RESULTS / "faults_drain_rest.json")
    args = p.parse_args()
    env = read_env(args.env_file)
    if int(env.get("STREAM_GUARD_TOPIC_PARTITIONS", PARTITIONS)) != PARTITIONS:
        raise SystemExit(f"drain_rest: expects {PARTITIONS} partitions")
    info = machine_info()
    with broker(None, args.workdir / "kafka") as bootstrap:
        res = asyncio.run(drain(bootstrap, args, env))
    print(md_table(["backlog at start", "drained", "after", "events/s", "peak RSS"], [[
        f"{res['backlog_messages_at_start']:,} messages", str(res["drained"]),
        "-" if res["drained_after_s"] is None else f"{res['drained_after_s']:.0f} s",
        "-" if res["events_per_s"] is None else f"{res['events_per_s']:,.0f}", f"{res['peak_rss_mb']} MB",
    ]], right={2, 3, 4}))
    write_json(args.out, {"benchmark": "faults_drain_rest", "command": " ".join(sys.argv), "machine": info, **res})
    log(f"[drain] wrote {args.out}")
    return 0


if __name__ == "__main__":
    main_entry(main)
