#!/usr/bin/env python3
"""Throughput and event-to-alert latency through the load-test harness (issue 4, item 6).

All on a real Apache Kafka broker (``scripts/kafka_local.py`` in a temp dir, or
``--bootstrap``), with real ``stream-guard worker`` processes (``python -m stream_guard
worker``), ONE worker at a time:

1. **Generator and sender.** Two files: ``hydra`` = ``loadgen --scenario hydra --seed 1``
   (20,000 hydra accounts + 1,000 benign, ~680k events, the issue's hydra scale) and
   ``background`` = ServeGen-like API clients (``--scenario standard --campaigns none
   --benign-mix saas=0.85,coding_agent=0.1,batch=0.05
   --saas-median 42000``, ServeGen's per-client median of requests per active day;
   ``--benign-accounts 800 --start NOW --duration 900s``: ~1.2M events over 15 minutes of
   event time, so that evaluations are part of the work), the traffic of the latency passes.
   Each is generated once (the generator's rate) and sent with ``loadgen --input FILE
   --broker B --topic T --batch 100`` as fast as it can into a fresh 4-partition topic
   (the sender's rate: events / wall time of the process; loadgen's own figure, which
   leaves out its start-up, is reported too).
2. **Drain (maximum rate).** A fresh worker (new app id, new data dir) drains each
   pre-filled topic; events/s from its ``/metrics`` (polled every 0.2 s at the start and
   near the end, at most every 2 s while it drains: a scrape costs the worker time; the worker
   refreshes its counters once per 1-s tick) over the wall time from the first sample with
   events to the first sample with the final ``stream_guard_evaluations_total`` and
   ``stream_guard_alerts_total`` (every evaluation done, every alert out), minus the 5 s
   the worker waits before it deems its partitions idle and finalises the rest. Counting
   to the last alert matters: a boundary is finalised only when the watermark (the
   slowest active partition) passes it plus the grace, and partitions are not consumed
   evenly, so when the last event is consumed the evaluation of hours of event time may
   still be pending (reported: alerts out when the last event was consumed). Also
   reported: the consume-only rate, events per worker CPU-second, CPU shares. Start-up,
   group join and state recovery are left out. ``--runs`` drains per topic (each a fresh
   worker on the same topic); the median of the ``background`` drains is the maximum
   ``M`` used below.
3. **Latency at half the maximum.** loadgen cannot make event time follow the wall clock
   by itself: its ``--rate`` paces *events per second*, while event time advances at
   the scenario's own rate. So each pass generates a ``background`` file whose own rate
   is ``M / 2`` (account count scaled from the drain file's events per account and
   second) with ``--start`` a little into the future and ``--duration`` the length of
   the pass, and sends it with ``loadgen --input FILE --batch 100 --rate R`` (``R`` = the
   file's events / duration, ~``M / 2``), spawned so that its first event goes out at
   its event time: event time then follows the wall clock (how far sends ran behind
   event time, and the worker's ``stream_guard_event_time_lag_seconds``, are reported).
   Campaigns in loadgen need hours of event time to trip a rule (its blunt extractor is
   capped at 0.25 requests/s), so the harness injects its own blunt extractors with its
   own small producer: ``--extractors`` accounts, started every ``--spacing`` s, each sending
   ``--extractor-rate`` chain-of-thought requests/s with ``ts`` = the wall time of the
   send, until its alert arrives (the ``volume_rule`` needs 2,000 requests in the day
   window for a burst that has not lasted 3 hours). For each alert:

   * ``from_last_event_s`` = alert's ``emitted_at`` (the worker's wall clock when it
     built the alert) - the wall time at which the account's last event before the
     alert's boundary (``raised_at``; the alert's features hold exactly the events before
     it) was sent: the event that completed the evidence. This is the headline latency.
   * ``to_consumer_s``: the same, to the moment this harness's consumer read the alert
     from the alerts topic (what an enforcement consumer sees).
   * ``after_boundary_s`` = ``emitted_at`` - ``raised_at`` (event time = wall time here).
   * ``from_threshold_event_s`` (first alert of an injected account): from the send of
     its 2,000th request, the one that made ``day_requests`` reach the threshold; this
     adds the wait for the next evaluation boundary (up to ``STREAM_GUARD_EVAL_INTERVAL_S``
     = 60 s).

   Alerts on loadgen's own accounts (if any) are timed the same way, with the send time
   taken from the Kafka record timestamp (CreateTime, set by the producer) of the message
   that carried the event. The pass runs once per ``--graces`` value of
   ``STREAM_GUARD_IDLE_GRACE_S`` (default 120 s, and 5 s): a boundary ``B`` is finalised
   only when the watermark (the minimum over active partitions of their latest event
   time) passes ``B`` + grace, so with event time = wall time every alert waits about
   the grace after its boundary.

Alerts that share an evaluation boundary are finalised together, so their latencies are
not independent samples: the number of distinct boundaries is reported with each figure.

Writes ``bench/results/harness_throughput.json`` and prints a table. ``--quick``:
smaller files, one drain each, one latency pass (grace 5 s) with fewer, faster
extractors (~5 minutes). A benchmark, not a test: exit status 0 unless the benchmark itself could not run.

Examples::

    python bench/harness_throughput.py                # ~25 minutes on 2 cores
    python bench/harness_throughput.py --quick
    python bench/harness_throughput.py --graces 120 --runs 1 --bootstrap 127.0.0.1:9092
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import urllib.error
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness_common import (
    RESULTS,
    WorkerProcess,
    broker,
    broker_pid,
    clean_env,
    cpu_seconds,
    create_topics,
    events_accounted,
    last_event_ts,
    loadavg,
    log,
    machine_info,
    metric,
    metric_sum,
    next_poll_s,
    run,
    sg,
    spawn,
    terminate,
    terminate_all,
    unique_names,
    write_json,
)

PARTITIONS = 4
EVAL_INTERVAL_S = 60.0  # STREAM_GUARD_EVAL_INTERVAL_S default (not changed here)
DAY_REQUESTS = 2000  # STREAM_GUARD_RULE_DAY_REQUESTS default: the injected extractors' threshold
BACKGROUND_MIX = ["--benign-mix", "saas=0.85,coding_agent=0.1,batch=0.05", "--saas-median", "42000"]
EXTRACTOR_PREFIX = "acct-bench-extractor-"
COT_TASKS = (
    ("Problem {i}: a train leaves at {a} km/h and another at {b} km/h, {c} km apart. When do they meet? "
     "Think step by step and show your full reasoning."),
    ("Task {i}: write a Python function that returns the {a}th prime number, with unit tests. "
     "Explain your reasoning step by step before the code."),
    "Question {i}: which of A) {a} B) {b} C) {c} D) {d} is divisible by 7? Show your work step by step.",
    ("Exercise {i}: prove that the sum of the first {a} odd numbers is a perfect square. "
     "Walk me through each step of the proof."),
)


# --------------------------------------------------------------------------- small helpers

def pct(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation; None for no values."""
    if not values:
        return None
    v = sorted(values)
    if len(v) == 1:
        return v[0]
    pos = q * (len(v) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def dist(values: list[float]) -> dict[str, Any]:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 3)

    return {"n": len(values), "p50": r(pct(values, 0.5)), "p90": r(pct(values, 0.9)), "p99": r(pct(values, 0.99)),
            "min": r(min(values)) if values else None, "max": r(max(values)) if values else None,
            "mean": r(statistics.fmean(values)) if values else None}


def parse_ts(v: Any) -> float:
    if isinstance(v, int | float):
        return float(v)
    from stream_guard.loadgen.timeutil import parse_iso

    return parse_iso(str(v))


def loadgen_rate(log_path: Path) -> float | None:
    """loadgen's own final rate ("... done: N events in Ts, R ev/s" / "(R/s)")."""
    rate = None
    for line in log_path.read_text(errors="replace").splitlines():
        m = re.search(r"done: [\d,]+ events in [\d.]+s, ([\d,]+) ev/s", line) or re.search(
            r"^loadgen: [\d,]+ events \(([\d,]+)/s\)", line)
        if m:
            rate = float(m.group(1).replace(",", ""))
    return rate


def labels_events(labels: Path) -> int:
    return int(json.loads(labels.read_text())["run"]["events"])


# --------------------------------------------------------------------------- phase 1-2

def generate(work: Path, name: str, options: list[str], timeout: float, workers: int = 1) -> dict[str, Any]:
    out, labels = work / f"{name}.jsonl", work / f"{name}.labels.json"
    cmd = sg("loadgen", *options, "--out", str(out), "--labels", str(labels), "--progress-every", "10")
    if workers > 1:
        cmd += ["--workers", str(workers)]
    lg = work / f"{name}.loadgen.log"
    log(f"generating {name}: stream-guard {' '.join(cmd[3:])}")
    wall = run(cmd, lg, timeout)
    n = labels_events(labels)
    rate = loadgen_rate(lg)
    log(f"{name}: {n:,} events in {wall:.1f}s ({n / wall:,.0f} events/s wall, loadgen's own figure "
        f"{rate or 0:,.0f}/s), {out.stat().st_size / n:,.0f} bytes/event")
    return {"file": out, "labels": labels, "events": n, "wall_s": round(wall, 2), "cmd": cmd,
            "events_per_s_wall": round(n / wall, 1), "events_per_s_loadgen": rate,
            "bytes_per_event": round(out.stat().st_size / n, 1)}


async def _first_record_ts(bootstrap: str, topic: str) -> float | None:
    from aiokafka import AIOKafkaConsumer

    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                         enable_auto_commit=False, group_id=None)
    await c.start()
    first = None
    try:
        end = asyncio.get_running_loop().time() + 15
        seen_parts: set[int] = set()
        while asyncio.get_running_loop().time() < end and len(seen_parts) < PARTITIONS:
            batch = await c.getmany(timeout_ms=500, max_records=1)
            for tp, recs in batch.items():
                if tp.partition in seen_parts:
                    continue
                seen_parts.add(tp.partition)
                for r in recs:
                    first = r.timestamp / 1000 if first is None else min(first, r.timestamp / 1000)
                c.pause(tp)
    finally:
        await c.stop()
    return first


def prefill(bootstrap: str, work: Path, gen: dict[str, Any], topic: str, timeout: float) -> dict[str, Any]:
    create_topics(bootstrap, [topic], PARTITIONS)
    cmd = sg("loadgen", "--input", str(gen["file"]), "--broker", bootstrap, "--topic", topic, "--batch", "100",
             "--progress-every", "10")
    lg = work / "prefill.log"
    log(f"pre-filling {topic}: stream-guard {' '.join(cmd[3:])}")
    t_spawn = time.time()
    wall = run(cmd, lg, timeout)
    first = asyncio.run(_first_record_ts(bootstrap, topic))
    startup = (first - t_spawn) if first else None
    rate = loadgen_rate(lg)
    log(f"pre-filled {gen['events']:,} events in {wall:.1f}s ({gen['events'] / wall:,.0f} events/s wall, "
        f"loadgen's own figure {rate or 0:,.0f}/s; first record {startup or 0:.2f}s after spawn)")
    return {"cmd": cmd, "wall_s": round(wall, 2), "events_per_s_wall": round(gen["events"] / wall, 1),
            "events_per_s_loadgen": rate, "startup_s": round(startup, 3) if startup else None,
            "events_per_s_after_startup": round(gen["events"] / (wall - startup), 1) if startup else None}


IDLE_PARTITION_S = 5.0  # stream_guard.stream.runtime.IDLE_PARTITION_S: wall seconds before a partition counts as idle


def drain(bootstrap: str, work: Path, topic: str, n_events: int, end_ts: float, run_no: int,
          kafka_pid: int | None, timeout: float) -> dict[str, Any]:
    """One fresh worker drains the pre-filled ``topic``; rates from its metrics (see the module doc)."""
    names = unique_names(f"drain{run_no}")
    env = {**names, "STREAM_GUARD_INPUT_TOPIC": topic, "STREAM_GUARD_TOPIC_PARTITIONS": str(PARTITIONS)}
    worker = WorkerProcess(bootstrap, env, work / f"drain{run_no}-data", work / f"drain{run_no}.worker.log")
    try:
        t_start = time.monotonic()
        worker.start()
        ready_s = time.monotonic() - t_start
        first = consumed = None  # (monotonic time, events, worker cpu s, broker cpu s, evaluations, alerts)
        last_change = None  # the first sample with the current evaluations/alerts counts
        flushed = False
        deadline = time.monotonic() + timeout
        n = 0.0
        while time.monotonic() < deadline:
            try:
                m = worker.metrics()
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
                continue
            now = time.monotonic()
            n = events_accounted(m)
            point = (now, n, worker.cpu_seconds(), cpu_seconds(kafka_pid) if kafka_pid else None,
                     metric(m, "stream_guard_evaluations_total"), metric_sum(m, "stream_guard_alerts_total"))
            if n > 0 and first is None:
                first = point
            if n >= n_events and consumed is None:
                consumed = point
            if last_change is None or point[4:] != last_change[4:]:
                last_change = point
            flushed = flushed or metric(m, "stream_guard_watermark_timestamp_seconds") > end_ts
            # done: every event consumed, the final flush happened, and no evaluation for 3 s
            if consumed is not None and flushed and now - last_change[0] >= 3.0:
                break
            # sparse while it drains (a scrape costs the worker time), every 0.2 s near the end
            # and after: the end conditions need a fine clock
            wait = 0.2 if consumed is not None else next_poll_s(
                0.2, 2.0, None if first is None else {"t": first[0], "events": first[1]}, {"t": now, "events": n},
                n_events)
            time.sleep(max(0.0, wait - (time.monotonic() - now)))
        if consumed is None or first is None or last_change is None:
            raise TimeoutError(f"drain {run_no}: {n:,.0f}/{n_events:,} events in {timeout:.0f}s")
        if not flushed:
            log(f"drain {run_no}: no final flush seen within the timeout; rates up to the last evaluation seen")
        done = last_change if last_change[0] >= consumed[0] else consumed
        n_run = n_events - first[1]
        wall_all = done[0] - first[0]
        wall_work = max(wall_all - (IDLE_PARTITION_S if done is last_change and done[0] > consumed[0] else 0.0),
                        consumed[0] - first[0])
        cpu_all = (done[2] - first[2]) if done[2] is not None and first[2] is not None else None
        res = {
            "run": run_no,
            "ready_s": round(ready_s, 2),
            "events": n_events,
            "events_per_s": round(n_run / wall_work, 1),
            "events_per_s_consume_only": round(n_run / (consumed[0] - first[0]), 1),
            "events_per_s_incl_idle_wait": round(n_run / wall_all, 1),
            "events_per_worker_cpu_s": round(n_run / cpu_all, 1) if cpu_all else None,
            "seconds_to_consume": round(consumed[0] - first[0], 2),
            "seconds_to_last_alert": round(wall_all, 2),
            "seconds_counted": round(wall_work, 2),
            "evaluations_when_consumed": consumed[4],
            "alerts_when_consumed": consumed[5],
            "evaluations": done[4],
            "alerts": done[5],
            "worker_cpu_share": round(cpu_all / wall_work, 3) if cpu_all else None,
            "broker_cpu_share": round((consumed[3] - first[3]) / (consumed[0] - first[0]), 3)
            if consumed[3] is not None and first[3] is not None else None,
            "tracked_accounts": metric(worker.metrics(), "stream_guard_tracked_accounts"),
            "loadavg": loadavg(),
        }
        log(f"drain {run_no}: {res['events_per_s']:,.0f} events/s until every evaluation was done (consumed in "
            f"{res['seconds_to_consume']:.1f}s = {res['events_per_s_consume_only']:,.0f}/s with "
            f"{res['alerts_when_consumed']:,.0f} of {res['alerts']:,.0f} alerts out; last alert after "
            f"{res['seconds_to_last_alert']:.1f}s incl. the {IDLE_PARTITION_S:g}s idle wait); "
            f"{res['events_per_worker_cpu_s'] or 0:,.0f} events per worker CPU-second; worker CPU "
            f"{res['worker_cpu_share']}, broker CPU {res['broker_cpu_share']}; ready after {ready_s:.1f}s")
        return res
    finally:
        worker.stop()


# --------------------------------------------------------------------------- phase 3

def background_options(accounts: int, start: float, duration_s: int, seed: int) -> list[str]:
    return ["--scenario", "standard", "--seed", str(seed), "--campaigns", "none", "--benign-accounts", str(accounts),
            *BACKGROUND_MIX, "--start", f"{start:.3f}", "--duration", f"{duration_s}s"]


def calibrate(bg: dict[str, Any], target_rate: float) -> dict[str, Any]:
    """Accounts needed for the background's own event rate to be ``target_rate``, from the
    background drain file (same knobs, same hour of the day)."""
    per_account = bg["generator"]["events"] / bg["duration_s"] / bg["accounts"]
    accounts = max(50, round(target_rate / per_account))
    log(f"calibration: {bg['generator']['events']:,} events from {bg['accounts']:,} accounts over "
        f"{bg['duration_s']}s = {per_account:.3f} events/s/account -> {accounts:,} accounts for "
        f"{target_rate:,.0f} events/s")
    return {"per_account_rate": round(per_account, 4), "accounts": accounts,
            "generate_events_per_s": bg["generator"]["events_per_s_wall"]}


class Injector:
    """Blunt extractors with ts = wall time of the send, stopped when alerted."""

    def __init__(self, bootstrap: str, topic: str, count: int, rate: float, t0: float, spacing: float,
                 max_active_s: float, batch_interval: float = 0.2) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.accounts = [f"{EXTRACTOR_PREFIX}{i:03d}" for i in range(count)]
        self.starts = {a: t0 + i * spacing for i, a in enumerate(self.accounts)}
        self.rate = rate
        self.max_active_s = max_active_s
        self.batch_interval = batch_interval
        self.sent: dict[str, list[float]] = {a: [] for a in self.accounts}  # send wall times (= ts)
        self.stopped: dict[str, float] = {}
        self.stop_reason: dict[str, str] = {}
        self.alerted: set[str] = set()
        self.rnd = random.Random(7)
        self.events = 0

    def _event(self, account: str, seq: int, ts: float) -> dict[str, Any]:
        r = self.rnd
        prompt = COT_TASKS[seq % len(COT_TASKS)].format(i=seq, a=r.randint(2, 9999), b=r.randint(2, 9999),
                                                       c=r.randint(2, 9999), d=r.randint(2, 9999))
        out = r.randint(700, 1400)
        return {"event_id": f"{account}-{seq}", "ts": round(ts, 3), "account_id": account, "model": "atlas-large",
                "input_tokens": r.randint(60, 220), "output_tokens": out, "max_tokens": 1400, "prompt": prompt,
                "status": 200, "stop_reason": "max_tokens" if out >= 1400 else "end_turn", "turn_index": 0,
                "temperature": 1.0, "ip": "203.0.113.77", "user_agent": "python-httpx/0.27"}

    async def run(self, until: float) -> None:
        import orjson
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=0, acks=1)
        await producer.start()
        credit = dict.fromkeys(self.accounts, 0.0)
        try:
            while time.time() < until and len(self.stopped) < len(self.accounts):
                now = time.time()
                futs = []
                for a in self.accounts:
                    if a in self.stopped or now < self.starts[a]:
                        continue
                    if a in self.alerted or now - self.starts[a] > self.max_active_s:
                        self.stopped[a] = now
                        self.stop_reason[a] = "alerted" if a in self.alerted else "max_active_s"
                        continue
                    credit[a] += self.rate * self.batch_interval
                    k = int(credit[a])
                    if not k:
                        continue
                    credit[a] -= k
                    ts = time.time()
                    evs = [self._event(a, len(self.sent[a]) + j, ts) for j in range(k)]
                    futs.append(await producer.send(self.topic, orjson.dumps(evs), key=a.encode()))
                    self.sent[a].extend([ts] * k)
                    self.events += k
                if futs:
                    await asyncio.gather(*futs)
                await asyncio.sleep(max(0.0, self.batch_interval - (time.time() - now)))
        finally:
            await producer.stop()


async def _watch_alerts(bootstrap: str, topic: str, into: list[tuple[float, dict[str, Any]]], injector: Injector,
                        stop: asyncio.Event) -> None:
    import orjson
    from aiokafka import AIOKafkaConsumer

    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                         enable_auto_commit=False, group_id=None, metadata_max_age_ms=2000)
    await c.start()
    try:
        while not stop.is_set():
            batch = await c.getmany(timeout_ms=200)
            now = time.time()
            for recs in batch.values():
                for r in recs:
                    a = orjson.loads(r.value)
                    into.append((now, a))
                    for acct in a.get("account_ids") or [a.get("subject")]:
                        if acct in injector.starts:
                            injector.alerted.add(acct)
    finally:
        await c.stop()


async def _poll_metrics(worker: WorkerProcess, samples: list[dict[str, Any]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            m = await asyncio.to_thread(worker.metrics)
            lag = sum(v for (n, _), v in m.items() if n == "stream_guard_consumer_lag_messages")
            samples.append({"t": time.time(), "events": events_accounted(m), "lag_messages": lag,
                            "watermark": metric(m, "stream_guard_watermark_timestamp_seconds"),
                            "event_time_lag_s": metric(m, "stream_guard_event_time_lag_seconds"),
                            "alerts": metric_sum(m, "stream_guard_alerts_total"),
                            "cpu_s": worker.cpu_seconds()})
        except (urllib.error.URLError, OSError):
            pass
        await asyncio.sleep(1.0)


async def _background_send_times(bootstrap: str, topic: str, accounts: set[str], timeout: float
                                 ) -> tuple[dict[str, list[tuple[float, float]]], list[float]]:
    """(event ts, CreateTime) of every event of ``accounts`` in ``topic``; and, for every message,
    CreateTime - its last event's ts (how far sends ran behind event time)."""
    import orjson
    from aiokafka import AIOKafkaConsumer

    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                         enable_auto_commit=False, group_id=None, max_partition_fetch_bytes=16 << 20)
    await c.start()
    found: dict[str, list[tuple[float, float]]] = {a: [] for a in accounts}
    offsets: list[float] = []
    try:
        loop = asyncio.get_running_loop()
        deadline, last = loop.time() + timeout, loop.time()
        while loop.time() < deadline and loop.time() - last < 3.0:
            batch = await c.getmany(timeout_ms=300, max_records=2000)
            for recs in batch.values():
                last = loop.time()
                for r in recs:
                    if r.key and r.key.startswith(EXTRACTOR_PREFIX.encode()):
                        continue
                    sent = r.timestamp / 1000
                    doc = orjson.loads(r.value)
                    evs = doc if isinstance(doc, list) else [doc]
                    if found:
                        for e in evs:
                            if e["account_id"] in found:
                                found[e["account_id"]].append((parse_ts(e["ts"]), sent))
                    offsets.append(sent - parse_ts(evs[-1]["ts"]))  # a file's arrays are in event-time order
    finally:
        await c.stop()
    return found, offsets


def latency_pass(bootstrap: str, work: Path, grace: float, target_rate: float, calib: dict[str, Any],
                 args: argparse.Namespace, startup_s: float, kafka_pid: int | None) -> dict[str, Any]:
    tag = f"grace{grace:g}"
    k, xrate, spacing = args.extractors, args.extractor_rate, args.spacing
    first_start = 15.0
    cross_s = DAY_REQUESTS / xrate
    last_alert = first_start + spacing * (k - 1) + cross_s + EVAL_INTERVAL_S + grace + 5
    duration_s = math.ceil(last_alert + args.tail_s)
    accounts = calib["accounts"]
    est_events = target_rate * duration_s
    est_gen = est_events / max(calib["generate_events_per_s"], 1000.0)  # single-process rate: 2 are faster
    t0 = math.ceil(time.time() + est_gen * 1.3 + 40)
    gen = generate(work, f"realtime-{tag}", background_options(accounts, t0, duration_s, 1), args.step_timeout,
                   workers=2)
    send_rate = gen["events"] / duration_s
    log(f"[{tag}] background: {gen['events']:,} events over {duration_s}s of event time from "
        f"{time.strftime('%H:%M:%S', time.gmtime(t0))}Z = {send_rate:,.0f} events/s (target {target_rate:,.0f}); "
        f"starts in {t0 - time.time():.0f}s")
    if t0 - time.time() < 20:
        raise RuntimeError(f"generation took too long: only {t0 - time.time():.0f}s left before the start; "
                           "rerun (the estimate comes from the pilot)")
    names = unique_names(f"lat{grace:g}")
    create_topics(bootstrap, [names["STREAM_GUARD_INPUT_TOPIC"]], PARTITIONS)
    env = {**names, "STREAM_GUARD_TOPIC_PARTITIONS": str(PARTITIONS), "STREAM_GUARD_IDLE_GRACE_S": f"{grace:g}"}
    worker = WorkerProcess(bootstrap, env, work / f"{tag}-data", work / f"{tag}.worker.log")
    send_cmd = sg("loadgen", "--input", str(gen["file"]), "--broker", bootstrap, "--topic",
                  names["STREAM_GUARD_INPUT_TOPIC"], "--batch", "100", "--rate", f"{send_rate:.1f}",
                  "--progress-every", "30")
    alerts: list[tuple[float, dict[str, Any]]] = []
    samples: list[dict[str, Any]] = []
    injector = Injector(bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], k, xrate, t0 + first_start, spacing,
                        max_active_s=cross_s + EVAL_INTERVAL_S + grace + 60)
    try:
        worker.start()
        log(f"[{tag}] worker ready (STREAM_GUARD_IDLE_GRACE_S={grace:g}); waiting for the start")

        async def orchestrate() -> dict[str, Any]:
            stop = asyncio.Event()
            watch = asyncio.create_task(_watch_alerts(bootstrap, names["STREAM_GUARD_ALERTS_TOPIC"], alerts,
                                                      injector, stop))
            poll = asyncio.create_task(_poll_metrics(worker, samples, stop))
            await asyncio.sleep(max(0.0, t0 - startup_s - time.time()))
            log(f"[{tag}] sending: stream-guard {' '.join(send_cmd[3:])}")
            spawned = time.time()
            sender = spawn(send_cmd, work / f"{tag}.send.log", clean_env())
            inj = asyncio.create_task(injector.run(until=t0 + duration_s))
            deadline = t0 + duration_s + 120
            while sender.poll() is None and time.time() < deadline:
                await asyncio.sleep(0.5)
            sender_done = time.time()
            if sender.poll() is None:
                terminate(sender, 30)
                log(f"[{tag}] sender did not finish in time: stopped")
            await asyncio.wait_for(inj, timeout=60)
            end_of_traffic = time.time()
            log(f"[{tag}] traffic done ({sender_done - spawned:.0f}s); injected {injector.events:,} events; "
                f"{len(injector.alerted)}/{k} extractors alerted")
            await asyncio.sleep(8.0)  # idle partitions -> final watermark -> the last alerts
            stop.set()
            await asyncio.gather(watch, poll)
            return {"spawned": spawned, "sender_done": sender_done, "end_of_traffic": end_of_traffic,
                    "sender_rc": sender.returncode}

        timing = asyncio.run(orchestrate())
    finally:
        worker.stop()
    bg_alerted = {a for _, al in alerts for a in (al.get("account_ids") or [al["subject"]])
                  if a not in injector.starts}
    bg_sends, send_offsets = asyncio.run(_background_send_times(bootstrap, names["STREAM_GUARD_INPUT_TOPIC"],
                                                                bg_alerted, timeout=300))
    if not args.keep:
        gen["file"].unlink(missing_ok=True)
    return analyse(tag, grace, gen, duration_s, send_rate, target_rate, accounts, t0, send_cmd, injector, alerts,
                   samples, timing, bg_sends, send_offsets, work)


def analyse(tag: str, grace: float, gen: dict[str, Any], duration_s: int, send_rate: float, target_rate: float,
            accounts: int, t0: float, send_cmd: list[str], injector: Injector,
            alerts: list[tuple[float, dict[str, Any]]], samples: list[dict[str, Any]], timing: dict[str, Any],
            bg_sends: dict[str, list[tuple[float, float]]], send_offsets: list[float], work: Path) -> dict[str, Any]:
    rows = []
    first_alert_seen: set[str] = set()
    for received, a in sorted(alerts, key=lambda x: x[0]):
        subject = a["subject"]
        raised, emitted = parse_ts(a["raised_at"]), parse_ts(a["emitted_at"])
        injected = subject in injector.starts
        if injected:
            sends = injector.sent[subject]  # ts == send time
            before = [s for s in sends if s < raised]
            last_send = before[-1] if before else None
            last_ts = last_send
        else:
            pairs = sorted(p for p in bg_sends.get(subject, []) if p[0] < raised)
            last_ts, last_send = (pairs[-1][0], pairs[-1][1]) if pairs else (None, None)
        row = {"subject": subject, "injected": injected, "severity": a["severity"],
               "detectors": "+".join(a["detectors"]), "raised_at": raised, "emitted_at": emitted,
               "received_at": received,
               "after_end_of_traffic": emitted > timing["end_of_traffic"],
               "after_boundary_s": emitted - raised,
               "from_last_event_s": emitted - last_send if last_send else None,
               "to_consumer_s": received - last_send if last_send else None,
               "last_event_before_boundary_s": raised - last_ts if last_ts else None}
        if injected and subject not in first_alert_seen and len(injector.sent[subject]) >= DAY_REQUESTS:
            row["from_threshold_event_s"] = emitted - injector.sent[subject][DAY_REQUESTS - 1]
        first_alert_seen.add(subject)
        rows.append(row)
    valid = [r for r in rows if not r["after_end_of_traffic"] and r["from_last_event_s"] is not None]
    inj = [r for r in valid if r["injected"]]
    bg = [r for r in valid if not r["injected"]]

    def lat(rs: list[dict[str, Any]], key: str) -> dict[str, Any]:
        return dist([r[key] for r in rs if r.get(key) is not None])

    # worker while traffic flowed (from the start to the end of the sender)
    during = [s for s in samples if t0 + 10 <= s["t"] <= timing["sender_done"]]
    consumed = None
    cpu_share = None
    if len(during) >= 2:
        a, b = during[0], during[-1]
        consumed = (b["events"] - a["events"]) / (b["t"] - a["t"])
        if a["cpu_s"] is not None and b["cpu_s"] is not None:
            cpu_share = (b["cpu_s"] - a["cpu_s"]) / (b["t"] - a["t"])
    sent_total = gen["events"] + injector.events
    (work / f"{tag}.alerts.json").write_text(json.dumps(rows, indent=1))
    return {
        "grace_s": grace,
        "target_events_per_s": round(target_rate, 1),
        "background": {"cmd": "stream-guard " + " ".join(gen["cmd"][3:]), "accounts": accounts,
                       "events": gen["events"], "duration_s": duration_s, "own_rate_events_per_s": round(send_rate, 1),
                       "generate_wall_s": gen["wall_s"], "start": t0},
        "send_cmd": "stream-guard " + " ".join(send_cmd[3:]),
        "injected": {"extractors": len(injector.accounts), "rate_per_extractor": injector.rate,
                     "events": injector.events, "alerted": len(injector.alerted),
                     "stopped": dict(sorted(__import__("collections").Counter(injector.stop_reason.values()).items()))},
        "offered_events_per_s": round(sent_total / max(timing["sender_done"] - t0, 1e-9), 1),
        "worker_consumed_events_per_s": round(consumed, 1) if consumed else None,
        "worker_cpu_share": round(cpu_share, 3) if cpu_share is not None else None,
        "consumer_lag_messages": dist([s["lag_messages"] for s in during]),
        "event_time_lag_s": dist([s["event_time_lag_s"] for s in during]),
        "send_minus_event_time_s": dist(send_offsets),
        "sender_start_offset_s": round(timing["spawned"] - t0, 3),
        "alerts": {"total": len(rows), "injected": sum(r["injected"] for r in rows),
                   "background": sum(not r["injected"] for r in rows),
                   "after_end_of_traffic": sum(r["after_end_of_traffic"] for r in rows),
                   "background_subjects": sorted({r["subject"] for r in rows if not r["injected"]})[:20]},
        "distinct_boundaries": {"injected": len({r["raised_at"] for r in inj}),
                                "background": len({r["raised_at"] for r in bg})},
        "latency_injected": {k: lat(inj, k) for k in ("from_last_event_s", "to_consumer_s", "after_boundary_s",
                                                        "last_event_before_boundary_s", "from_threshold_event_s")},
        "latency_background": {k: lat(bg, k) for k in ("from_last_event_s", "to_consumer_s", "after_boundary_s",
                                                         "last_event_before_boundary_s")},
        "latency_all": {k: lat(valid, k) for k in ("from_last_event_s", "to_consumer_s", "after_boundary_s")},
    }


# --------------------------------------------------------------------------- main

def table(doc: dict[str, Any]) -> str:
    def f0(x: Any) -> str:
        return "-" if x is None else f"{x:,.0f}"

    def f1(x: Any) -> str:
        return "-" if x is None else f"{x:.1f}"

    header = (f"{'file':<11} {'events':>9}  {'generator ev/s':>14}  {'sender ev/s':>11}  {'worker ev/s (runs)':<30} "
              f"{'worker CPU':>10}  sender/worker")
    lines = [header]
    lines.append("-" * len(lines[0]))
    for name, d in doc["drains"].items():
        g, p = d["generator"], d["prefill"]
        runs = ", ".join(f0(r["events_per_s"]) for r in d["runs"])
        cpu = statistics.median(r["worker_cpu_share"] or 0 for r in d["runs"])
        lines.append(f"{name:<11} {g['events']:>9,}  {f0(g['events_per_s_wall']):>14}  "
                     f"{f0(p['events_per_s_wall']):>11}  "
                     f"{f0(d['median_events_per_s']) + ' (' + runs + ')':<30} {cpu:>10.2f}  "
                     f"{p['events_per_s_wall'] / d['median_events_per_s']:.1f}x")
    if doc.get("latency"):
        lines.append("")
        head = (f"{'grace':>6}  {'offered ev/s':>12}  {'consumed':>8}  {'cpu':>4}  {'alerts':>6}  {'bounds':>6}  "
                f"{'last-event p50/p99/max s':>24}  {'threshold-event p50/p99/max s':>29}  "
                f"{'consumer sees p50/p99':>21}")
        lines += [head, "-" * len(head)]
        for lp in doc["latency"]:
            li = lp["latency_injected"]
            f, c, th = li["from_last_event_s"], li["to_consumer_s"], li["from_threshold_event_s"]
            lines.append(f"{lp['grace_s']:>5g}s  {f0(lp['offered_events_per_s']):>12}  "
                         f"{f0(lp['worker_consumed_events_per_s']):>8}  {lp['worker_cpu_share'] or 0:>4.2f}  "
                         f"{f['n']:>6}  {lp['distinct_boundaries']['injected']:>6}  "
                         f"{f1(f['p50']) + ' / ' + f1(f['p99']) + ' / ' + f1(f['max']):>24}  "
                         f"{f1(th['p50']) + ' / ' + f1(th['p99']) + ' / ' + f1(th['max']):>29}  "
                         f"{f1(c['p50']) + ' / ' + f1(c['p99']):>21}")
            if lp["alerts"]["background"]:
                b = lp["latency_background"]["from_last_event_s"]
                lines.append(f"        + {lp['alerts']['background']} alerts on loadgen accounts: last-event "
                             f"p50 {f1(b['p50'])} / p99 {f1(b['p99'])} s")
    return "\n".join(lines)


def drain_set(bootstrap: str, work: Path, name: str, options: list[str], runs: int, kafka_pid: int | None,
              args: argparse.Namespace) -> dict[str, Any]:
    """Generate a file, pre-fill a fresh topic with it, drain it ``runs`` times with one worker."""
    gen = generate(work, f"drain-{name}", options, args.step_timeout)
    end_ts = last_event_ts(gen["file"])
    topic = f"drain-{name}-{unique_names('x')['STREAM_GUARD_APP_ID'][2:]}.requests"
    pre = prefill(bootstrap, work, gen, topic, args.step_timeout)
    if not args.keep:
        gen["file"].unlink(missing_ok=True)
    results = [drain(bootstrap, work, topic, gen["events"], end_ts, i + 1, kafka_pid,
                     timeout=gen["events"] / 1500 + 180)
               for i in range(runs)]
    generator = {k: v for k, v in gen.items() if k not in ("file", "labels", "cmd")}
    generator["cmd"] = "stream-guard " + " ".join(gen["cmd"][3:])
    pre["cmd"] = "stream-guard " + " ".join(pre["cmd"][3:])
    return {"generator": generator, "prefill": pre, "runs": results,
            "median_events_per_s": round(statistics.median(r["events_per_s"] for r in results), 1),
            "method": "metrics deltas (the worker refreshes its counters once per 1-s tick): events / (wall time "
                      "from the first sample with events to the first sample with the final evaluation and alert "
                      f"counts, minus the {IDLE_PARTITION_S:g} s the worker waits before it deems the partitions idle "
                      "and flushes)"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller files, one drain each, one short pass (~5 min)")
    p.add_argument("--bootstrap", help="use this Kafka instead of starting one")
    p.add_argument("--runs", type=int, default=None, help="drains of each pre-filled topic (default 2; quick 1)")
    p.add_argument("--skip-hydra", action="store_true", help="do not drain the hydra file")
    p.add_argument("--background-accounts", type=int, default=None,
                   help="accounts of the background drain file (default 800; quick 400)")
    p.add_argument("--background-duration", type=int, default=None,
                   help="event-time seconds of the background drain file (default 900; quick 480)")
    p.add_argument("--graces", default=None, help="STREAM_GUARD_IDLE_GRACE_S values of the latency passes "
                   "(comma-separated; '' = no latency pass; default 120,5; quick 5)")
    p.add_argument("--extractors", type=int, default=None, help="injected extractors per pass (default 16; quick 6)")
    p.add_argument("--extractor-rate", type=float, default=None,
                   help="requests/s of each injected extractor (default 25; quick 40)")
    p.add_argument("--spacing", type=float, default=None,
                   help="seconds between the injected extractors' starts (default 8; quick 5)")
    p.add_argument("--tail-s", type=float, default=30.0, help="background seconds after the last expected alert")
    p.add_argument("--rate-share", type=float, default=0.5, help="latency passes at this share of the maximum")
    p.add_argument("--out", type=Path, default=None, help="JSON results (default bench/results/harness_throughput"
                   "[-quick].json)")
    p.add_argument("--workdir", type=Path, help="keep intermediate files here (default: a temp dir, removed)")
    p.add_argument("--keep", action="store_true", help="keep the generated event files")
    p.add_argument("--step-timeout", type=float, default=600.0, help="bound on each generate/send step (s)")
    args = p.parse_args(argv)
    q = args.quick
    runs = args.runs or (1 if q else 2)
    args.extractors = args.extractors or (6 if q else 16)
    args.extractor_rate = args.extractor_rate or (40.0 if q else 25.0)
    args.spacing = args.spacing or (5.0 if q else 8.0)
    bg_accounts = args.background_accounts or (400 if q else 800)
    bg_duration = args.background_duration or (480 if q else 900)
    if args.graces is None:
        args.graces = "5" if q else "120,5"
    graces = [float(x) for x in args.graces.split(",") if x.strip()]
    hydra_opts = ["--scenario", "hydra", "--seed", "1"] + (["--hydra-accounts", "5000"] if q else [])
    out_json = args.out or RESULTS / ("harness_throughput-quick.json" if q else "harness_throughput.json")

    t_begin = time.monotonic()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sg-harness-tp-"))
    work.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "benchmark": "stream-guard throughput and event-to-alert latency through the load-test harness "
                     "(issue 4 item 6)",
        "command": "python bench/harness_throughput.py"
                   + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip(),
        "machine": machine_info(),
        "settings": {"quick": q, "partitions": PARTITIONS, "runs": runs, "graces_s": graces,
                     "rate_share": args.rate_share, "extractors": args.extractors,
                     "extractor_rate": args.extractor_rate, "spacing_s": args.spacing,
                     "hydra_options": " ".join(hydra_opts),
                     "background_options": f"{' '.join(background_options(bg_accounts, 0, bg_duration, 1))} "
                                           "(--start: now for the drain file, the pass's start for a latency pass)",
                     "worker_settings": "defaults except STREAM_GUARD_TOPIC_PARTITIONS=4, fresh app id/topics, "
                                        "and STREAM_GUARD_IDLE_GRACE_S per latency pass"},
        "drains": {},
        "latency": [],
    }
    log(f"work dir {work}")
    try:
        with broker(args.bootstrap, work / "kafka") as bootstrap:
            kafka_pid = None if args.bootstrap else broker_pid(work / "kafka")
            if not args.skip_hydra:
                doc["drains"]["hydra"] = drain_set(bootstrap, work, "hydra", hydra_opts, runs, kafka_pid, args)
            bg = drain_set(bootstrap, work, "background",
                           background_options(bg_accounts, math.floor(time.time()), bg_duration, 1), runs,
                           kafka_pid, args)
            bg.update({"accounts": bg_accounts, "duration_s": bg_duration})
            doc["drains"]["background"] = bg
            write_json(out_json, doc)
            if graces:
                target = args.rate_share * bg["median_events_per_s"]
                calib = calibrate(bg, target)
                doc["calibration"] = calib
                for grace in graces:
                    doc["latency"].append(latency_pass(bootstrap, work, grace, target, calib, args,
                                                       bg["prefill"]["startup_s"] or 0.5, kafka_pid))
                    write_json(out_json, doc)  # partial results survive a later failure
    finally:
        terminate_all()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    doc["wall_s"] = round(time.monotonic() - t_begin, 1)
    doc["machine"]["loadavg_at_end"] = loadavg()
    write_json(out_json, doc)
    print(table(doc))
    log(f"wrote {out_json} in {doc['wall_s']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
