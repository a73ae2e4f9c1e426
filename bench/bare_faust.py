#!/usr/bin/env python3
"""Case (b) of the throughput benchmark: a bare Faust agent that only counts.

A minimal ``faust.App`` configured like the stream-guard worker's (raw key/value
serializers, in-memory store, no web server, Faust's own log level WARNING) whose one
agent iterates a topic with ``stream.events()`` (the same iteration the stream-guard
``ingest`` agent uses) and does nothing but count. After ``--count`` messages it writes
its measurement as JSON to ``--out`` and stops itself.

The rate is timed in-process from the first message to the last:
``(count - 1) / (t_last - t_first)`` (worker start-up and group join excluded), plus
the process CPU time over the same span.

Stand-alone on purpose: no import of stream_guard, only the standard-library helpers of
``bench/harness_common.py`` (CPU seconds, machine load)::

    python bench/bare_faust.py --bootstrap 127.0.0.1:9092 --topic T --count 200000 \\
        --app-id bench-bare-1 --out /tmp/bare.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness_common import cpu_seconds, load_report, machine_busy_s


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, host:port")
    p.add_argument("--topic", required=True, help="topic to iterate (must exist)")
    p.add_argument("--count", type=int, required=True, help="stop after this many messages")
    p.add_argument("--app-id", required=True, help="Faust app id (= consumer group); fresh per run")
    p.add_argument("--out", required=True, help="where to write the JSON result")
    p.add_argument("--partitions", type=int, default=4, help="partitions of the topic (default 4)")
    p.add_argument("--data-dir", default=None, help="Faust data dir (default: a temp dir)")
    p.add_argument("--broker-pid", type=int, default=None, help="report this process's CPU share too")
    p.add_argument("--work-us", type=float, default=0.0,
                   help="busy-spin this many microseconds per message (a diagnostic: does Faust keep a "
                        "CPU-bound agent fed?); default 0")
    p.add_argument("--switch-interval", type=float, default=None,
                   help="sys.setswitchinterval() seconds (a diagnostic: Faust's consumer runs in a "
                        "thread that competes for the GIL); default: Python's 0.005")
    p.add_argument("--faust-setting", action="append", default=[], metavar="KEY=VALUE",
                   help="override a faust.App setting (value parsed as JSON if it can be), repeatable; "
                        "e.g. consumer_max_fetch_size=16777216")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import faust  # imported late: --help stays fast

    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    logging.basicConfig(level=logging.WARNING)
    data_dir = args.data_dir or tempfile.mkdtemp(prefix="bench-bare-faust-")
    overrides = {}
    for item in args.faust_setting:
        key, _, raw = item.partition("=")
        try:
            overrides[key] = json.loads(raw)
        except ValueError:
            overrides[key] = raw
    app = faust.App(
        args.app_id,
        broker="kafka://" + args.bootstrap,
        datadir=data_dir,
        store="memory://",
        web_enabled=False,
        topic_partitions=args.partitions,
        topic_replication_factor=1,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        producer_linger_ms=5,
        broker_commit_interval=2.0,
        key_serializer="raw",
        value_serializer="raw",
        **overrides,
    )
    topic = app.topic(args.topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    state: dict[str, Any] = {"n": 0, "t0": 0.0, "c0": 0.0, "done": False}
    out = Path(args.out)
    count = args.count
    work_s = args.work_us / 1e6
    clock = time.perf_counter

    @app.agent(topic, name="count")
    async def counter(stream):  # type: ignore[no-untyped-def]
        async for _event in stream.events():
            if work_s:
                until = clock() + work_s
                while clock() < until:
                    pass
            n = state["n"] = state["n"] + 1
            if n == 1:
                state["t0"] = time.perf_counter()
                state["c0"] = time.process_time()
                state["wall0"] = time.time()
                state["m0"], state["b0"] = machine_busy_s(), cpu_seconds(args.broker_pid)
            elif n == count and not state["done"]:
                state["done"] = True
                seconds = time.perf_counter() - state["t0"]
                cpu = time.process_time() - state["c0"]
                m1, b1 = machine_busy_s(), cpu_seconds(args.broker_pid)
                result = {
                    "case": "bare_faust",
                    "messages": n,
                    "events": n,
                    "seconds": seconds,
                    "events_per_s": (n - 1) / seconds if seconds > 0 else 0.0,
                    "cpu_s": cpu,
                    "cpu_share": cpu / seconds if seconds > 0 else 0.0,
                    "first_event_wall": state["wall0"],
                    **load_report(seconds, cpu, state["m0"], m1, state["b0"], b1),
                }
                tmp = out.with_suffix(".tmp")
                tmp.write_text(json.dumps(result))
                tmp.rename(out)
                os.kill(os.getpid(), signal.SIGTERM)  # graceful Faust shutdown

    worker = faust.Worker(app, loop=loop, loglevel="WARNING", quiet=True, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
