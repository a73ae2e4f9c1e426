#!/usr/bin/env python3
"""Case (a) of the throughput benchmark: the aiokafka + orjson ceiling.

A plain ``AIOKafkaConsumer`` (no consumer group: all partitions assigned, read from the
beginning) calls ``getmany`` in a loop and ``orjson.loads`` every message value; a value
holding a JSON array counts as that many events (the array is decoded whole, which
decodes each of its events). Nothing else is done with the events. It stops after
``--events`` events and writes its measurement as JSON to ``--out``.

The rate is timed the way the worker's is (from counter deltas): from the end of the
first non-empty ``getmany`` to the end of the last one, counting the events decoded after
the first batch, so connection set-up and the first fetch are excluded.

Stand-alone on purpose: no import of stream_guard, only the standard-library helpers of
``bench/harness_common.py`` (CPU seconds, machine load)::

    python bench/ceiling.py --bootstrap 127.0.0.1:9092 --topic T --events 1000000 --out /tmp/a.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from harness_common import cpu_seconds, load_report, machine_busy_s


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, host:port")
    p.add_argument("--topic", required=True, help="topic to read (must exist)")
    p.add_argument("--events", type=int, required=True, help="stop after this many events")
    p.add_argument("--out", required=True, help="where to write the JSON result")
    p.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    p.add_argument("--broker-pid", type=int, default=None, help="report this process's CPU share too")
    p.add_argument("--passes", type=int, default=1,
                   help="read the topic this many times (seek back to the beginning after each pass), "
                        "so that a small topic still gives a timed span long enough (default 1)")
    return p


async def consume(bootstrap: str, topic: str, events: int, timeout: float,
                  broker_pid: int | None = None, passes: int = 1) -> dict[str, float | None]:
    import orjson
    from aiokafka import AIOKafkaConsumer, TopicPartition

    loads = orjson.loads
    # fetch_max_wait_ms: a fetch at the end of the log (before a new pass) must not park
    # the connection for the default 500 ms; inside a pass data is always there.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest", fetch_max_wait_ms=5)
    await consumer.start()
    try:
        parts = None
        for _ in range(50):
            cluster = await consumer._client.fetch_all_metadata()
            parts = cluster.partitions_for_topic(topic)
            if parts:
                break
            await asyncio.sleep(0.1)
        if not parts:
            raise RuntimeError(f"topic {topic} not found")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        n = messages = 0
        n_first = 0
        m0 = b0 = None
        t_first = c_first = 0.0
        deadline = time.monotonic() + timeout
        goal = events
        while n < events * passes:
            if n >= goal:  # next pass: back to the beginning
                await consumer.seek_to_beginning(*tps)
                goal += events
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {n} of {events} events in {timeout} s")
            batch = await consumer.getmany(timeout_ms=500)
            got = 0
            for records in batch.values():
                if n + got >= goal:
                    break
                for rec in records:
                    value = loads(rec.value)
                    got += len(value) if isinstance(value, list) else 1
                    messages += 1
            if got and not n_first:
                t_first, c_first = time.perf_counter(), time.process_time()
                m0, b0 = machine_busy_s(), cpu_seconds(broker_pid)
                n_first = got
            n += got
        seconds = time.perf_counter() - t_first
        cpu = time.process_time() - c_first
        m1, b1 = machine_busy_s(), cpu_seconds(broker_pid)
    finally:
        await consumer.stop()
    timed = n - n_first
    return {
        "events": n,
        "passes": passes,
        "messages": messages,
        "timed_events": timed,
        "seconds": seconds,
        "events_per_s": timed / seconds if seconds > 0 else 0.0,
        "cpu_s": cpu,
        "cpu_share": cpu / seconds if seconds > 0 else 0.0,
        **load_report(seconds, cpu, m0, m1, b0, b1),
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = {"case": "ceiling", **asyncio.run(consume(args.bootstrap, args.topic, args.events, args.timeout,
                                                         args.broker_pid, args.passes))}
    out = Path(args.out)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.rename(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
