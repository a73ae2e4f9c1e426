#!/usr/bin/env python3
"""The fuzz corpus at scale through the real worker on a real Apache Kafka broker.

The same seeded generator as the integration fuzz suite (``tests/fuzz_corpus.py``), in
chunks of 100,000 messages (chunk ``k`` uses seed ``SEED + k``; only the first begins with
the warm-up of valid events), produced into a fresh 4-partition topic while one fresh
``stream-guard worker`` consumes it. Reported (table on stdout, ``bench/results/fuzz.json``):

- accounting, as the integration suite checks it: messages consumed = sent; outcomes of
  ``stream_guard_events_total`` = the events the messages stand for (``decode_message``'s
  event count in this process); dead letters by reason = DLQ records by their reason
  header; a sentinel batch after the corpus is processed, ``/readyz`` is 200, the worker
  alive;
- rates: messages/s and events/s from the first to the last message accounted for, the
  worker's CPU seconds and peak RSS (``VmHWM``).

It is a benchmark, not a test: it reports and exits 0 when every check holds, 1 when one
does not (the reasons are printed). ``--exclude KIND,...`` leaves generators out (e.g.
``far_time`` to measure the rest while a known failure is being fixed).

    python bench/fuzz.py --messages 300000            # ~3-4 minutes on 2 shared cores
    python bench/fuzz.py --bootstrap 127.0.0.1:9092   # an existing broker
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "tests")]

import orjson  # noqa: E402
from stream_guard.contracts import decode_message  # noqa: E402

import fuzz_corpus  # noqa: E402
from fuzz_corpus import MAX_MESSAGE_BYTES, PRODUCER_LIMIT, SEED  # noqa: E402
from harness_common import (  # noqa: E402
    RESULTS,
    WorkerProcess,
    broker,
    cpu_seconds,
    create_topics,
    log,
    machine_info,
    md_table,
    metric,
    produce_located,
    rss_bytes,
    samples_of,
    unique_names,
    write_json,
)

CHUNK = 100_000
PARTITIONS = 4
OUTCOMES = ("processed", "duplicate", "untracked", "dead_lettered")


async def _count_reasons(bootstrap: str, topic: str, target: int, idle_s: float, timeout: float) -> Counter[str]:
    """DLQ records by reason header, read until ``target`` records (then ``idle_s`` more
    without news) or ``timeout``; counts only, the records are not kept."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None, max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    reasons: Counter[str] = Counter()
    try:
        loop = asyncio.get_running_loop()
        deadline, last = loop.time() + timeout, loop.time()
        while loop.time() < deadline and (sum(reasons.values()) < target or loop.time() - last < idle_s):
            if loop.time() - last > 60:  # nothing at all for a minute: give up
                break
            for recs in (await consumer.getmany(timeout_ms=300, max_records=5000)).values():
                for r in recs:
                    reasons[dict(r.headers).get("stream-guard-reason", b"<none>").decode()] += 1
                last = loop.time()
    finally:
        await consumer.stop()
    return reasons


def _accounted(worker: WorkerProcess) -> tuple[float, float]:
    try:
        s = worker.metrics()
    except OSError:
        return -1.0, -1.0
    return (metric(s, "stream_guard_messages_consumed_total"),
            sum(metric(s, "stream_guard_events_total", outcome=o) for o in OUTCOMES))


def run(args: argparse.Namespace, bootstrap: str, tmp: Path) -> dict[str, Any]:
    names = unique_names("fuzzbench")
    topic = names["STREAM_GUARD_INPUT_TOPIC"]
    create_topics(bootstrap, [topic], PARTITIONS)
    env = {**names, "STREAM_GUARD_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES),
           "STREAM_GUARD_PRODUCER_MAX_REQUEST_BYTES": str(PRODUCER_LIMIT),
           "STREAM_GUARD_TOPIC_PARTITIONS": str(PARTITIONS)}
    worker = WorkerProcess(bootstrap, env, tmp / "data", tmp / "worker.log", memory_limit_bytes=6 << 30).start()
    exclude = frozenset(k for k in args.exclude.split(",") if k)
    sent = events = 0
    codec_reasons: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    t0 = time.monotonic()
    first_seen: float | None = None
    try:
        for k in range(0, args.messages, CHUNK):
            n = min(CHUNK, args.messages - k)
            cases = fuzz_corpus.build(n, seed=args.seed + k // CHUNK, now=time.time(), warmup=2000 if k == 0 else 0,
                                      exclude=exclude)
            for c in cases:
                msg = decode_message(c.value, max_bytes=MAX_MESSAGE_BYTES)  # type: ignore[arg-type]
                events += msg.event_count
                codec_reasons.update(d.reason.value for d in msg.dead_letters)
                kinds[c.kind] += 1
            produce_located(bootstrap, topic, [(c.key, c.value) for c in cases])
            sent += len(cases)
            consumed, _ = _accounted(worker)
            if first_seen is None and consumed > 0:
                first_seen = time.monotonic()
            log(f"sent {sent:,} messages ({events:,} events); the worker has consumed {consumed:,.0f}")
        produced_s = time.monotonic() - t0
        last, moved = (-1.0, -1.0), time.monotonic()
        while time.monotonic() - moved < 90:
            now_counts = _accounted(worker)
            if first_seen is None and now_counts[0] > 0:
                first_seen = time.monotonic()
            if now_counts != last:
                last, moved = now_counts, time.monotonic()
            if now_counts[0] >= sent and now_counts[1] >= events:
                break
            time.sleep(0.5)
        done = time.monotonic()
        time.sleep(3)  # the counters are flushed once per tick
        samples = worker.metrics() if worker.alive() else {}
        rss = rss_bytes(worker.proc.pid, peak=True) if worker.proc else None
        cpu = cpu_seconds(worker.proc.pid) if worker.proc else None
        counted = {dict(lb)["reason"]: int(v)
                   for lb, v in samples_of(samples, "stream_guard_dead_letters_total").items() if v}
        dlq = asyncio.run(_count_reasons(bootstrap, names["STREAM_GUARD_DLQ_TOPIC"], sum(counted.values()),
                                         idle_s=5, timeout=600))
        ts = time.time() - 30
        sentinel = [(f"acct-sentinel-{i}".encode(), orjson.dumps(
            [{"event_id": f"sentinel-{i}-{j}", "ts": ts, "account_id": f"acct-sentinel-{i}", "model": "m",
              "input_tokens": 1, "output_tokens": 2} for j in range(5)])) for i in range(10)]
        before = metric(samples, "stream_guard_events_total", outcome="processed")
        produce_located(bootstrap, topic, sentinel, timeout=60)
        deadline = time.monotonic() + 90
        processed = 0.0
        while time.monotonic() < deadline and worker.alive():
            processed = metric(worker.metrics(), "stream_guard_events_total", outcome="processed") - before
            if processed >= 50:
                break
            time.sleep(0.5)
        alive, readyz = worker.alive(), worker.status("/readyz")
    finally:
        rc = worker.stop()
    outcomes = {o: metric(samples, "stream_guard_events_total", outcome=o) for o in OUTCOMES}
    consumed = metric(samples, "stream_guard_messages_consumed_total")
    span = done - (first_seen or t0)
    checks = {
        "messages_consumed_equal_sent": consumed == sent,
        "outcomes_equal_events": sum(outcomes.values()) == events,
        "dead_letters_equal_dlq_records": counted == dict(dlq)
        and outcomes["dead_lettered"] == sum(counted.values()),
        "sentinel_processed": processed >= 50,
        "alive_and_ready": alive and readyz == 200,
        "clean_exit": rc == 0,
    }
    return {
        "messages": sent, "events": events, "exclude": sorted(exclude), "seed": args.seed,
        "kinds": dict(kinds.most_common()), "codec_dead_letters": dict(codec_reasons),
        "consumed": consumed, "outcomes": outcomes, "dead_letters_counted": counted, "dlq_records": dict(dlq),
        "produce_s": round(produced_s, 1), "accounted_s": round(span, 1),
        "messages_per_s": round(consumed / span, 1) if span > 0 else None,
        "events_per_s": round(sum(outcomes.values()) / span, 1) if span > 0 else None,
        "worker_cpu_s": cpu, "worker_rss_peak_bytes": rss, "exit_code": rc, "checks": checks,
        "worker_log_tail": worker.log_tail(15) if not all(checks.values()) else None,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=500_000)
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--exclude", default="", help=f"generators to leave out, of: {','.join(fuzz_corpus.kinds())}")
    p.add_argument("--bootstrap", help="an existing broker (default: start a real Kafka in a temp dir)")
    p.add_argument("--out", type=Path, default=RESULTS / "fuzz.json")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="sg-fuzz-") as d, broker(args.bootstrap, Path(d) / "kafka") as bootstrap:
        result = run(args, bootstrap, Path(d))
    doc = {"machine": machine_info(), "result": result}
    write_json(args.out, doc)
    r = result
    rows = [[f"{r['messages']:,}", f"{r['events']:,}", f"{r['consumed']:,.0f}",
             ", ".join(f"{k} {v:,.0f}" for k, v in r["outcomes"].items()),
             f"{sum(r['dlq_records'].values()):,}", f"{r['accounted_s']:.0f}", f"{r['messages_per_s'] or 0:,.0f}",
             f"{r['events_per_s'] or 0:,.0f}", f"{(r['worker_rss_peak_bytes'] or 0) / 2**20:,.0f}"]]
    print(md_table(["messages", "events", "consumed", "outcomes", "DLQ records", "s", "msg/s", "events/s",
                    "peak RSS MiB"], rows, right={0, 1, 2, 4, 5, 6, 7, 8}))
    print()
    print(md_table(["reason", "counted", "on the DLQ"],
                   [[k, f"{r['dead_letters_counted'].get(k, 0):,}", f"{r['dlq_records'].get(k, 0):,}"]
                    for k in sorted(set(r["dead_letters_counted"]) | set(r["dlq_records"]))], right={1, 2}))
    print()
    print(md_table(["check", "holds"], [[k, "yes" if v else "NO"] for k, v in r["checks"].items()]))
    print(f"\nwritten: {args.out}")
    return 0 if all(r["checks"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
