#!/usr/bin/env python3
"""Faults under load, measured on a real Apache Kafka broker (issue 10, item 4).

One real broker (``scripts/kafka_local.py`` in a temp dir; stopping and starting it again on
the same data dir keeps its port) and real ``python -m stream_guard worker`` processes
(``harness_common.WorkerProcess``: clean environment, own metrics port and data dir). A producer in
this process sends request events whose ``ts`` is the wall time at which they were made,
at a fixed rate, into a fresh 4-partition topic:

* background traffic: the event pool of ``bench/throughput.py`` (``make_dataset``: log-normal
  account activity, ~430 B events with IP, user agent, fingerprints, prompt text or hash),
  cycled, each event given a fresh ``event_id`` and the current time; a share
  (``--batched-share``) goes out in per-partition JSON arrays (loadgen's ``PartitionBatcher``,
  ``--batch`` events, 0.5 s linger), the rest as one-event messages;
* blunt extractors (``harness_throughput.Injector``'s chain-of-thought events, ``ts`` = send
  time) so that alerts exist to compare.

The producer keeps making events on schedule whatever the broker does: messages the broker
did not acknowledge (a send that fails or times out) are queued and sent again, so
"sent" = events the broker acknowledged (a message re-sent after an unclear failure may be
stored twice: counted as ``resent``). Every acknowledged message is also appended to an
events file, the input of ``stream-guard replay``.

Scenarios (``--scenarios a,b,c,d``):

* (a) ``kill``: two workers; after ``--warmup-s`` one of them gets SIGKILL. Failover time =
  from the kill until the survivor's ``stream_guard_assigned_partitions`` is 4 and both its
  ``stream_guard_consumer_lag_messages`` (from the broker's end offsets, refreshed every
  ``STREAM_GUARD_BROKER_PROBE_INTERVAL_S`` = 5 s) and the broker-side lag of the group
  (end offsets - committed offsets, read by this script) are at most ``--lag-near`` seconds
  of input messages. Run once per ``--session-timeouts`` (``STREAM_GUARD_SESSION_TIMEOUT_S``;
  heartbeat 3 s). Events accounted = the victim's last scrape + the survivor's
  ``stream_guard_events_total`` (all outcomes) vs events sent; alerts read from the alerts
  topic vs ``stream-guard replay`` of the events file (alert_id sets).
* (b) ``restart``: one worker; the broker is stopped and started again (``--restart-down-s``
  down): time until ``/readyz`` is 200 again and the lag is near 0; events lost.
* (c) ``outage``: as (b) with the broker down ``--outage-s`` (60 s): ``/readyz`` and
  ``stream_guard_broker_up`` over time, worker log lines per second during the outage, time
  to resume consuming, lag drain time.
* (d) ``overload``: one worker; the drain rate D is measured first (``--probe-s`` at a rate
  the worker cannot follow), then ``--overload-factor`` x D is offered for ``--overload-s``
  (default 600 s) in batched messages over ``--overload-accounts`` accounts; worker RSS
  (VmRSS), tracked accounts and lag sampled every ``--sample-s``; then how long the backlog
  takes to drain (bounded by ``--drain-timeout``).

Every scenario samples each worker once per ``--sample-s`` (``/metrics``, ``/readyz``, RSS,
log lines) and keeps every sample. Prints one table per scenario, writes
``bench/results/faults.json`` (samples + summary). A benchmark, not a test: it reports, it
does not fail on the numbers. The machine may be shared: its load average is recorded.

Examples::

    python bench/faults.py                                  # a, b, c, d (d: 10 minutes + drain)
    python bench/faults.py --scenarios a,b,c
    python bench/faults.py --scenarios d --overload-s 60
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import urllib.error
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import itertools

import harness_throughput
import throughput
from harness_common import (
    RESULTS,
    WorkerProcess,
    broker_pid,
    clean_env,
    consume_all,
    count_lines,
    cpu_seconds,
    create_topics,
    git_info,
    kafka_local,
    loadavg,
    log,
    machine_info,
    metric,
    metric_sum,
    rss_bytes,
    run,
    sg,
    terminate_all,
    unique_names,
    write_json,
)

PARTITIONS = 4
GRACE_S = 5.0  # STREAM_GUARD_IDLE_GRACE_S for workers and replay: alerts within the run


# --------------------------------------------------------------------------- load

class Load:
    """Events with current timestamps at ``rate`` events/s into ``topic`` (see the module doc)."""

    def __init__(self, bootstrap: str, topic: str, rate: float, pool: list[tuple[bytes, bytes]], *,
                 batched_share: float, batch: int, events_path: Path, tag: str, extractors: int = 0,
                 extractor_rate: float = 30.0, extractor_spacing: float = 5.0, max_queue: int = 1_000_000) -> None:
        from aiokafka.partitioner import murmur2

        self.bootstrap, self.topic, self.rate = bootstrap, topic, rate
        self.pool = pool
        self.parts = [(murmur2(k) & 0x7FFFFFFF) % PARTITIONS for k, _ in pool]
        self.batched_share = batched_share
        self.batch = batch
        self.events_path = events_path
        self.tag = tag.encode()
        self.max_queue = max_queue
        self.queue: collections.deque[tuple[bytes, int, bytes, int]] = collections.deque()
        self.generated = 0  # background events made
        self.skipped = 0  # background events not made because the queue was full (sender too slow)
        self.extractor_events = 0
        self.acked_events = 0
        self.acked_messages = 0
        self.resent_events = 0
        self.send_errors: collections.Counter[str] = collections.Counter()
        self.pending = 0
        self.pending_bytes = 0  # bounds this process's memory when the broker is slower than the load
        self.stopping = False
        self._base_t = 0.0
        self._base_n = 0
        self._fh: Any = None
        self.injector = harness_throughput.Injector(bootstrap, topic, extractors, extractor_rate, time.time() + 2,
                                                    extractor_spacing, max_active_s=1e9)
        self.rate_log: list[tuple[float, float]] = []

    def set_rate(self, rate: float) -> None:
        self._base_t, self._base_n, self.rate = time.time(), self.generated + self.skipped, rate
        self.rate_log.append((self._base_t, rate))

    def _make(self, seq: int, now: float) -> tuple[bytes, int, bytes]:
        i = seq % len(self.pool)
        return self.pool[i][0], self.parts[i], b'{"event_id":"' + self.tag + b"-%d" % seq + \
            b'","ts":' + b"%.3f" % now + self._tails[i]

    async def _generate(self) -> None:
        import orjson
        from stream_guard.loadgen.sinks import PartitionBatcher

        batcher = PartitionBatcher(PARTITIONS, self.batch, lambda k: 0, linger_s=0.5)
        share = round(self.batched_share * 1000)
        credit = dict.fromkeys(self.injector.accounts, 0.0)
        sent_x = dict.fromkeys(self.injector.accounts, 0)
        last = time.time()
        self.set_rate(self.rate)
        while not self.stopping:
            now = time.time()
            due = int((now - self._base_t) * self.rate) + self._base_n - self.generated - self.skipped
            for _ in range(max(0, min(due, int(self.rate) + 1))):
                seq = self.generated + self.skipped
                if len(self.queue) >= self.max_queue:
                    self.skipped += 1
                    continue
                key, part, value = self._make(seq, now)
                self.generated += 1
                if (seq * 7919) % 1000 < share:
                    batcher.partition_of = lambda k, p=part: p
                    for k, p, payload in batcher.add(key, value, now):
                        self.queue.append((k, p, payload, payload.count(b'{"event_id"')))
                else:
                    self.queue.append((key, part, value, 1))
            for k, p, payload in batcher.flush_stale(now):
                self.queue.append((k, p, payload, payload.count(b'{"event_id"')))
            dt = now - last
            for a in self.injector.accounts:  # extractors: one array per account per tick
                if now < self.injector.starts[a]:
                    continue
                credit[a] += self.injector.rate * dt
                n = int(credit[a])
                if n:
                    credit[a] -= n
                    evs = [self.injector._event(a, sent_x[a] + j, now) for j in range(n)]
                    sent_x[a] += n
                    self.extractor_events += n
                    self.queue.append((a.encode(), None, orjson.dumps(evs), n))  # type: ignore[arg-type]
            last = now
            await asyncio.sleep(0.05)
        for k, p, payload in batcher.flush_all():
            self.queue.append((k, p, payload, payload.count(b'{"event_id"')))

    def _done(self, fut: asyncio.Future[Any], item: tuple[bytes, int, bytes, int]) -> None:
        self.pending -= 1
        self.pending_bytes -= len(item[2])
        exc = fut.exception() if not fut.cancelled() else RuntimeError("cancelled")
        if exc is not None:
            self.send_errors[type(exc).__name__] += 1
            self.resent_events += item[3]
            self.queue.appendleft(item)
            return
        self.acked_events += item[3]
        self.acked_messages += 1
        self._fh.write(item[2] + b"\n")

    async def _send(self) -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5, acks=1, max_batch_size=1 << 20,
                                    max_request_size=8 << 20, request_timeout_ms=10_000, retry_backoff_ms=500)
        await producer.start()
        self._fh = self.events_path.open("ab")
        try:
            while not (self.stopping and self._gen_done and not self.queue and not self.pending):
                if not self.queue:
                    await asyncio.sleep(0.01)
                    continue
                n = 0
                while self.queue and n < 2000:
                    item = self.queue.popleft()
                    key, part, payload, _ = item
                    try:
                        fut = await producer.send(self.topic, payload, key=key, partition=part)
                    except Exception as exc:  # noqa: BLE001 - broker away: keep it, try again
                        self.send_errors[type(exc).__name__] += 1
                        self.queue.appendleft(item)
                        await asyncio.sleep(0.5)
                        break
                    self.pending += 1
                    self.pending_bytes += len(payload)
                    fut.add_done_callback(lambda f, it=item: self._done(f, it))
                    n += 1
                await asyncio.sleep(0)
                while self.pending > 20000 or self.pending_bytes > 64 << 20:
                    await asyncio.sleep(0.05)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 30)
            self._fh.close()

    def start(self) -> None:
        self._tails = [v[v.index(b',"account_id"'):] for _, v in self.pool]
        self._gen_done = False
        self.t_start = time.time()

        async def gen() -> None:
            try:
                await self._generate()
            finally:
                self._gen_done = True

        self._tasks = [asyncio.create_task(gen()), asyncio.create_task(self._send())]

    async def stop(self, timeout: float = 120.0) -> None:
        self.stopping = True
        self.t_stop = time.time()
        await asyncio.wait_for(asyncio.gather(*self._tasks), timeout)
        self.t_flushed = time.time()

    def summary(self) -> dict[str, Any]:
        wall = (getattr(self, "t_stop", time.time()) - self.t_start) or 1e-9
        return {"events_made": self.generated + self.extractor_events, "background_events": self.generated,
                "extractor_events": self.extractor_events, "events_acked": self.acked_events,
                "messages_acked": self.acked_messages, "events_resent": self.resent_events,
                "events_not_made_queue_full": self.skipped, "send_errors": dict(self.send_errors),
                "offered_events_per_s": round((self.generated + self.extractor_events) / wall, 1),
                "rate_changes": [(round(t - self.t_start, 2), r) for t, r in self.rate_log],
                "send_seconds": round(wall, 1)}


# --------------------------------------------------------------------------- sampling

def sample_worker(name: str, w: WorkerProcess, t0: float) -> dict[str, Any]:
    s: dict[str, Any] = {"t": round(time.time() - t0, 2), "worker": name, "alive": w.proc is not None
                         and w.proc.poll() is None}
    if not s["alive"]:
        return s
    s["readyz"] = w.status("/readyz", timeout=3.0)
    s["rss_mb"] = round((rss_bytes(w.proc.pid) or 0) / 2**20, 1)
    s["cpu_s"] = cpu_seconds(w.proc.pid)
    s["log_lines"] = count_lines(w.log_path)
    try:
        m = w.metrics()
    except (urllib.error.URLError, OSError, ValueError):
        return s
    s["events"] = metric_sum(m, "stream_guard_events_total")
    s["outcomes"] = {dict(lb).get("outcome", ""): v for (n, lb), v in m.items() if n == "stream_guard_events_total"}
    s["messages"] = metric(m, "stream_guard_messages_consumed_total")
    s["assigned"] = metric(m, "stream_guard_assigned_partitions")
    s["lag"] = metric_sum(m, "stream_guard_consumer_lag_messages")
    # end - the group's committed offset, as the worker probes it: follows broker_lag unless the
    # worker's commits are stuck while it processes (issue 10's failover)
    s["committed_lag"] = metric_sum(m, "stream_guard_consumer_committed_lag_messages")
    s["commit_stalled_s"] = max((v for (n, _), v in m.items() if n == "stream_guard_consumer_commit_stalled_seconds"),
                                default=None)
    s["broker_up"] = metric(m, "stream_guard_broker_up")
    s["ready"] = metric(m, "stream_guard_ready")
    s["tracked"] = metric(m, "stream_guard_tracked_accounts")
    s["alerts"] = metric_sum(m, "stream_guard_alerts_total")
    s["restored"] = metric_sum(m, "stream_guard_restored_states_total")
    s["dead_letters"] = metric_sum(m, "stream_guard_dead_letters_total")
    return s


class BrokerLag:
    """End offsets of the input topic minus the group's committed offsets, read from the broker."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.bootstrap, self.topic, self.group = bootstrap, topic, group
        self.consumer: Any = None
        self.admin: Any = None

    async def read(self) -> dict[str, Any] | None:
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        try:
            if self.consumer is None:
                self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                                 request_timeout_ms=3000)
                await asyncio.wait_for(self.consumer.start(), 5)
                self.admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
                await asyncio.wait_for(self.admin.start(), 5)
            tps = [TopicPartition(self.topic, p) for p in range(PARTITIONS)]
            end = await asyncio.wait_for(self.consumer.end_offsets(tps), 4)
            committed = await asyncio.wait_for(self.admin.list_consumer_group_offsets(self.group), 4)
            lag = {}
            for tp in tps:
                c = committed.get(tp)
                lag[tp.partition] = end[tp] - (c.offset if c is not None and c.offset >= 0 else 0)
            return {"end": sum(end.values()), "lag": sum(lag.values()), "by_partition": lag}
        except Exception:  # noqa: BLE001 - broker away: no reading
            await self.close()
            return None

    async def run(self, interval: float) -> None:
        """Keep ``latest`` fresh (its own task: a broker that does not answer must not delay the
        worker samples)."""
        self.latest: dict[str, Any] | None = None
        self.stop_flag = False
        while not self.stop_flag:
            t = time.time()
            self.latest = await self.read()
            await asyncio.sleep(max(0.05, interval - (time.time() - t)))

    async def close(self) -> None:
        for c in (self.consumer, self.admin):
            with contextlib.suppress(Exception):
                if c is not None:
                    await asyncio.wait_for(c.stop() if hasattr(c, "stop") else c.close(), 5)
        self.consumer = self.admin = None


class Sampler:
    """Samples every worker and the broker-side lag every ``interval`` s (kept in ``samples``)."""

    def __init__(self, workers: dict[str, WorkerProcess], lag: BrokerLag, load: Load | None, interval: float,
                 t0: float) -> None:
        self.workers, self.lag, self.load, self.interval, self.t0 = workers, lag, load, interval, t0
        self.samples: list[dict[str, Any]] = []
        self.last: dict[str, dict[str, Any]] = {}
        self.stop_flag = False

    async def run(self) -> None:
        lag_task = asyncio.create_task(self.lag.run(self.interval))
        try:
            await self._run()
        finally:
            self.lag.stop_flag = True
            await lag_task

    async def _run(self) -> None:
        while not self.stop_flag:
            t = time.time()
            rows = await asyncio.gather(*(asyncio.to_thread(sample_worker, n, w, self.t0)
                                          for n, w in self.workers.items()))
            bl = getattr(self.lag, "latest", None)
            row: dict[str, Any] = {"t": round(t - self.t0, 2), "workers": {r["worker"]: r for r in rows},
                                   "broker_lag": bl["lag"] if bl else None,
                                   "broker_end": bl["end"] if bl else None}
            if self.load is not None:
                row["acked"] = self.load.acked_events
                row["made"] = self.load.generated + self.load.extractor_events
                row["queued_messages"] = len(self.load.queue)
            for r in rows:
                if "events" in r:
                    self.last[r["worker"]] = r
            self.samples.append(row)
            await asyncio.sleep(max(0.05, self.interval - (time.time() - t)))


def w(row: dict[str, Any], name: str, key: str) -> Any:
    return row["workers"].get(name, {}).get(key)


# --------------------------------------------------------------------------- helpers

def worker_env(names: dict[str, str], extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**names, "STREAM_GUARD_TOPIC_PARTITIONS": str(PARTITIONS), "STREAM_GUARD_IDLE_GRACE_S": f"{GRACE_S:g}",
            **(extra or {})}


async def wait_until(pred: Any, timeout: float, interval: float = 0.5) -> float | None:
    """Seconds until ``pred()`` (None: timeout)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return time.time() - t0
        await asyncio.sleep(interval)
    return None


def lag_threshold(args: argparse.Namespace, rate: float) -> float:
    """``--lag-near`` seconds of input messages at ``rate`` events/s (message rate of the mix)."""
    per_event = (1 - args.batched_share) + args.batched_share / args.batch
    return max(50.0, rate * per_event * args.lag_near)


def pool_for(accounts: int, size: int, seed: int) -> list[tuple[bytes, bytes]]:
    t = time.time()
    ds = throughput.make_dataset(0, size, accounts, 1, PARTITIONS, 1000.0, seed)
    log(f"event pool: {size:,} events over {ds.accounts:,} accounts ({ds.mean_event_bytes:.0f} B/event) "
        f"in {time.time() - t:.1f}s")
    return ds.one


def replay_alerts(events: Path, out: Path, work: Path, timeout: float) -> dict[str, Any]:
    env = clean_env({"STREAM_GUARD_IDLE_GRACE_S": f"{GRACE_S:g}", "STREAM_GUARD_TOPIC_PARTITIONS": str(PARTITIONS)})
    wall = run(sg("replay", str(events), "--out", str(out), "--partitions", str(PARTITIONS)),
               work / (out.stem + ".log"), timeout, env)
    alerts = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
    return {"wall_s": round(wall, 1), "alerts": alerts}


def compare_alerts(live: list[dict[str, Any]], replayed: list[dict[str, Any]]) -> dict[str, Any]:
    lid = {a["alert_id"] for a in live}
    rid = {a["alert_id"] for a in replayed}
    subj = lambda al: {(a["subject"], "+".join(a["detectors"])) for a in al}  # noqa: E731
    lsub, rsub = subj(live), subj(replayed)
    by_id = {a["alert_id"]: a for a in live + replayed}

    def brief(ids: set[str]) -> list[str]:
        return sorted(f"{by_id[i]['subject']} {'+'.join(by_id[i]['detectors'])} {by_id[i]['severity']} "
                      f"window_end={by_id[i]['window_end']}" for i in ids)[:20]

    return {"live_records": len(live), "live_distinct_ids": len(lid), "replay_ids": len(rid),
            "common_ids": len(lid & rid), "only_live": len(lid - rid), "only_replay": len(rid - lid),
            "only_live_examples": brief(lid - rid), "only_replay_examples": brief(rid - lid),
            "subjects_detectors_live": len(lsub), "subjects_detectors_replay": len(rsub),
            "subjects_detectors_missing_live": sorted(" ".join(x) for x in rsub - lsub)[:20],
            "subjects_detectors_only_live": sorted(" ".join(x) for x in lsub - rsub)[:20]}


def failover_from_samples(res: dict[str, Any]) -> dict[str, Any]:
    """(a): seconds from the kill to the survivor holding every partition, and until (first sample,
    load still running) its own lag metric and, separately, the broker-side lag (end - committed
    offsets) are at most the threshold; the broker-side lag left at the end of the run."""
    S, k, thr = res["samples"], res["kill_at_s"], res["lag_near_threshold_messages"]
    surv = next(n for n in ("w1", "w2") if n != res["victim"])
    after = [r for r in S if r["t"] >= k]
    t_as = next((r["t"] for r in after if (w(r, surv, "assigned") or 0) >= PARTITIONS), None)
    sent_done = next((r["t"] for r in after if r.get("queued_messages") == 0 and r.get("acked") == res["events_sent"]),
                     None)

    def settled(ok: Any) -> float | None:  # first sample after the assignment at which ``ok`` holds
        if t_as is None:
            return None
        t = next((r["t"] for r in after if r["t"] >= t_as and (sent_done is None or r["t"] <= sent_done) and ok(r)),
                 None)
        return None if t is None else round(t - k, 1)

    end_lag = next((r["broker_lag"] for r in reversed(S) if r["broker_lag"] is not None), None)
    return {"failover_assigned_s": None if t_as is None else round(t_as - k, 1),
            "failover_worker_lag_near_zero_s": settled(lambda r: (w(r, surv, "lag") or 0) <= thr),
            "failover_lag_near_zero_s": settled(lambda r: r["broker_lag"] is not None and r["broker_lag"] <= thr),
            "broker_lag_at_end_messages": end_lag}


def broker_down_from_samples(res: dict[str, Any]) -> dict[str, Any]:
    """(b), (c): /readyz, broker_up, log lines while down; resume and drain after the broker is back.

    "consuming" = the first sample after the broker is back with more events than at any
    sample while it was down (the worker may still work off fetched records at first);
    "lag near 0" = the broker-side lag at most the threshold once this script's producer has
    sent what it queued during the outage (before that the broker simply has not got it)."""
    S, down0, up0, thr = res["samples"], res["stop_at_s"], res["up_at_s"], res["lag_near_threshold_messages"]
    during = [r for r in S if down0 <= r["t"] <= up0]
    ev_down = max((w(r, "w1", "events") or 0 for r in during), default=0)
    after = [r for r in S if r["t"] >= up0]
    t_ready = next((r["t"] for r in after if w(r, "w1", "readyz") == 200), None)
    t_res = next((r["t"] for r in after if (w(r, "w1", "events") or 0) > ev_down), None)
    t_flushed = next((r["t"] for r in after if r.get("queued_messages") == 0), None)
    t_drain = next((r["t"] for r in after if t_flushed is not None and r["t"] >= t_flushed
                    and r["broker_lag"] is not None and r["broker_lag"] <= thr
                    and (w(r, "w1", "lag") or 0) <= thr), None)
    ll = [(r["t"], w(r, "w1", "log_lines")) for r in during if w(r, "w1", "log_lines") is not None]
    per_s = [(b - a) / (tb - ta) for (ta, a), (tb, b) in itertools.pairwise(ll) if tb > ta]
    first_503 = next((r["t"] - down0 for r in S if r["t"] >= down0 and w(r, "w1", "readyz") == 503), None)
    first_down = next((r["t"] - down0 for r in S if r["t"] >= down0 and w(r, "w1", "broker_up") == 0), None)
    rel = lambda t: None if t is None else round(t - up0, 1)  # noqa: E731
    return {
        "readyz_503_after_stop_s": None if first_503 is None else round(first_503, 1),
        "broker_up_0_after_stop_s": None if first_down is None else round(first_down, 1),
        "readyz_200_after_start_s": rel(t_ready), "consuming_after_start_s": rel(t_res),
        "producer_backlog_sent_after_start_s": rel(t_flushed), "lag_near_zero_after_start_s": rel(t_drain),
        "events_processed_while_down": ev_down - (w(during[0], "w1", "events") or 0) if during else None,
        "log_lines_down": (ll[-1][1] - ll[0][1]) if len(ll) >= 2 else None,
        "log_lines_per_s_down": round((ll[-1][1] - ll[0][1]) / (ll[-1][0] - ll[0][0]), 2) if len(ll) >= 2 else None,
        "log_lines_per_s_down_max": round(max(per_s), 2) if per_s else None,
        "peak_broker_lag": max((r["broker_lag"] or 0 for r in S), default=None),
        "peak_worker_lag": max((w(r, "w1", "lag") or 0 for r in S), default=None),
    }


async def accounted_wait(sampler: Sampler, names: list[str], extra: float, target: int, timeout: float,
                         lag_ok: float) -> float | None:
    """Until the workers' events (+ ``extra``) reach ``target`` and the lag is <= ``lag_ok``."""
    def done() -> bool:
        if not sampler.samples:
            return False
        row = sampler.samples[-1]
        ev = extra + sum(w(row, n, "events") or 0 for n in names)
        bl = row["broker_lag"]
        return ev >= target and bl is not None and bl <= lag_ok
    return await wait_until(done, timeout)


def outcomes_total(rows: list[dict[str, Any] | None]) -> dict[str, float]:
    tot: collections.Counter[str] = collections.Counter()
    for r in rows:
        for k, v in ((r or {}).get("outcomes") or {}).items():
            tot[k] += v
    return dict(tot)


# --------------------------------------------------------------------------- (a) kill -9

async def scenario_kill(bootstrap: str, work: Path, args: argparse.Namespace, session_timeout: float,
                        pool: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    tag = f"kill{session_timeout:g}"
    names = unique_names(f"fk{session_timeout:g}")
    await asyncio.to_thread(create_topics, bootstrap, [names["STREAM_GUARD_INPUT_TOPIC"]], PARTITIONS)
    env = worker_env(names, {"STREAM_GUARD_SESSION_TIMEOUT_S": f"{session_timeout:g}",
                             "STREAM_GUARD_HEARTBEAT_INTERVAL_S": f"{args.heartbeat_s:g}"})
    workers = {n: WorkerProcess(bootstrap, env, work / f"{tag}-{n}-data", work / f"{tag}-{n}.log")
               for n in ("w1", "w2")}
    events_path = work / f"{tag}.events.jsonl"
    load = Load(bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], args.rate, pool, batched_share=args.batched_share,
                batch=args.batch, events_path=events_path, tag=tag, extractors=args.extractors,
                extractor_rate=args.extractor_rate)
    t0 = time.time()
    for wk in workers.values():
        await asyncio.to_thread(wk.start)
    lag = BrokerLag(bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], names["STREAM_GUARD_APP_ID"])
    sampler = Sampler(workers, lag, load, args.sample_s, t0)
    st = asyncio.create_task(sampler.run())
    res: dict[str, Any] = {"scenario": "a", "session_timeout_s": session_timeout, "heartbeat_s": args.heartbeat_s}
    try:
        balanced = await wait_until(lambda: sampler.samples and all(
            (w(sampler.samples[-1], n, "assigned") or 0) > 0 for n in workers), 120)
        res["workers_ready_s"] = round(time.time() - t0, 1)
        res["balanced"] = balanced is not None
        log(f"[{tag}] two workers up ({res['workers_ready_s']}s); load {args.rate:,.0f} events/s for "
            f"{args.warmup_s:.0f}s before the kill")
        load.start()
        await asyncio.sleep(args.warmup_s)
        row = sampler.samples[-1]
        victim = max(workers, key=lambda n: ((w(row, n, "assigned") or 0), n))
        survivor = next(n for n in workers if n != victim)
        victim_last = dict(sampler.last.get(victim, {}))
        victim_assigned = w(row, victim, "assigned")
        t_kill = time.time()
        workers[victim].kill()
        victim_last = dict(sampler.last.get(victim, victim_last))
        log(f"[{tag}] SIGKILL {victim} (held {victim_assigned:g} partitions; last scrape "
            f"{victim_last.get('events', 0):,.0f} events, {t_kill - t0 - victim_last.get('t', 0):.1f}s old)")
        thr = lag_threshold(args, args.rate)
        t_assigned = await wait_until(lambda: (w(sampler.samples[-1], survivor, "assigned") or 0) >= PARTITIONS,
                                      session_timeout + 180, 0.2)
        t_drained = None
        if t_assigned is not None:
            def drained() -> bool:
                r = sampler.samples[-1]
                return (w(r, survivor, "assigned") or 0) >= PARTITIONS and r["t"] > t_kill - t0 + t_assigned \
                    and (w(r, survivor, "lag") or 0) <= thr and r["broker_lag"] is not None and r["broker_lag"] <= thr
            t_d = await wait_until(drained, 300, 0.2)
            t_drained = None if t_d is None else t_assigned + t_d
        log(f"[{tag}] survivor holds {PARTITIONS} partitions "
            f"{t_assigned if t_assigned is None else round(t_assigned, 1)}s after the kill; "
            f"lag <= {thr:.0f} messages after {t_drained if t_drained is None else round(t_drained, 1)}s")
        await asyncio.sleep(args.after_s)
        await load.stop()
        acked = load.acked_events
        done_s = await accounted_wait(sampler, [survivor], victim_last.get("events", 0), acked, 300, 0)
        await asyncio.sleep(3 * args.sample_s + 8)  # idle partitions -> final watermark -> last alerts
        final = sampler.last.get(survivor, {})
        accounted = victim_last.get("events", 0) + (final.get("events") or 0)
        live = [json.loads(r.value) for r in await asyncio.to_thread(
            consume_all, bootstrap, names["STREAM_GUARD_ALERTS_TOPIC"], 4.0)]
        sampler.stop_flag = True
        await st
        await lag.close()
        replayed = await asyncio.to_thread(replay_alerts, events_path, work / f"{tag}.replay-alerts.jsonl", work, 900)
        res.update({
            "victim": victim, "victim_partitions": victim_assigned, "kill_at_s": round(t_kill - t0, 2),
            "victim_last_scrape_age_s": round(t_kill - t0 - victim_last.get("t", 0), 2),
            "failover_assigned_s": None if t_assigned is None else round(t_assigned, 1),
            "failover_lag_near_zero_s": None if t_drained is None else round(t_drained, 1),
            "lag_near_threshold_messages": round(thr),
            "peak_lag_after_kill": max((w(r, survivor, "lag") or 0 for r in sampler.samples
                                        if r["t"] >= t_kill - t0), default=None),
            "peak_broker_lag_after_kill": max((r["broker_lag"] or 0 for r in sampler.samples
                                               if r["t"] >= t_kill - t0), default=None),
            "load": load.summary(),
            "events_sent": acked,
            "events_accounted": accounted,
            "accounted_minus_sent": accounted - acked,
            "accounting_wait_s": None if done_s is None else round(done_s, 1),
            "outcomes_victim_last": victim_last.get("outcomes"), "outcomes_survivor": final.get("outcomes"),
            "outcomes_total": outcomes_total([victim_last, final]),
            "survivor_restored_states": final.get("restored"),
            "alerts": compare_alerts(live, replayed["alerts"]), "replay_wall_s": replayed["wall_s"],
            "samples": sampler.samples,
        })
        res.update(failover_from_samples(res))
        a = res["alerts"]
        log(f"[{tag}] sent {acked:,} accounted {accounted:,.0f} ({accounted - acked:+,.0f}); alerts live "
            f"{a['live_distinct_ids']} replay {a['replay_ids']} common {a['common_ids']}")
        return res
    finally:
        sampler.stop_flag = True
        for wk in workers.values():
            wk.stop()


# --------------------------------------------------------------------------- (b), (c) broker down

async def scenario_broker_down(bootstrap: str, work: Path, kdir: Path, args: argparse.Namespace, down_s: float,
                               label: str, pool: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    kl = kafka_local()
    tag = f"{label}{down_s:g}"
    names = unique_names(f"f{label[:2]}")
    await asyncio.to_thread(create_topics, bootstrap, [names["STREAM_GUARD_INPUT_TOPIC"]], PARTITIONS)
    wk = WorkerProcess(bootstrap, worker_env(names), work / f"{tag}-data", work / f"{tag}.log")
    load = Load(bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], args.rate, pool, batched_share=args.batched_share,
                batch=args.batch, events_path=work / f"{tag}.events.jsonl", tag=tag, max_queue=10_000_000)
    t0 = time.time()
    await asyncio.to_thread(wk.start)
    lag = BrokerLag(bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], names["STREAM_GUARD_APP_ID"])
    sampler = Sampler({"w1": wk}, lag, load, args.sample_s, t0)
    st = asyncio.create_task(sampler.run())
    res: dict[str, Any] = {"scenario": label, "down_s_target": down_s}
    thr = lag_threshold(args, args.rate)
    try:
        load.start()
        log(f"[{tag}] worker up; load {args.rate:,.0f} events/s for {args.warmup_b_s:.0f}s, then the broker goes "
            f"down for {down_s:.0f}s")
        await asyncio.sleep(args.warmup_b_s)
        t_stop0 = time.time()
        await asyncio.to_thread(kl.stop, kdir)
        t_stopped = time.time()
        log(f"[{tag}] broker stopped ({t_stopped - t_stop0:.1f}s to stop)")
        await asyncio.sleep(max(0.0, down_s - (t_stopped - t_stop0)))
        t_start0 = time.time()
        addr = await asyncio.to_thread(kl.start, kdir)
        t_up = time.time()
        assert addr == bootstrap, (addr, bootstrap)
        log(f"[{tag}] broker started again ({t_up - t_start0:.1f}s to start, down {t_up - t_stop0:.1f}s)")
        await wait_until(lambda: sampler.samples[-1]["t"] >= t_up - t0, 10, 0.1)
        ev_at_up = w(sampler.samples[-1], "w1", "events") or 0
        t_ready = await wait_until(lambda: w(sampler.samples[-1], "w1", "readyz") == 200
                                   and sampler.samples[-1]["t"] > t_up - t0, 300, 0.2)
        t_resume = await wait_until(lambda: (w(sampler.samples[-1], "w1", "events") or 0) > ev_at_up, 300, 0.2)
        t_drain = await wait_until(lambda: sampler.samples[-1]["t"] > t_up - t0 and not load.queue and
                                   (w(sampler.samples[-1], "w1", "lag") or 0) <= thr and
                                   sampler.samples[-1]["broker_lag"] is not None and
                                   sampler.samples[-1]["broker_lag"] <= thr, 600, 0.2)
        log(f"[{tag}] after the broker came back: /readyz 200 in {t_ready}s, consuming in {t_resume}s, "
            f"lag <= {thr:.0f} in {t_drain}s")
        await asyncio.sleep(args.after_b_s)
        await load.stop()
        acked = load.acked_events
        done_s = await accounted_wait(sampler, ["w1"], 0, acked, 300, 0)
        await asyncio.sleep(2 * args.sample_s)
        sampler.stop_flag = True
        await st
        await lag.close()
        final = sampler.last.get("w1", {})
        down0, up0 = t_stop0 - t0, t_up - t0
        rows = list(sampler.samples)
        timeline = []
        prev = None
        for r in rows:  # /readyz and broker_up changes
            cur = (w(r, "w1", "readyz"), w(r, "w1", "broker_up"))
            if cur != prev:
                timeline.append({"t": r["t"], "since_stop_s": round(r["t"] - down0, 1), "readyz": cur[0],
                                 "broker_up": cur[1]})
                prev = cur
        res.update({
            "broker_stop_s": round(t_stopped - t_stop0, 1), "broker_start_s": round(t_up - t_start0, 1),
            "broker_down_s": round(t_up - t_stop0, 1),
            "lag_near_threshold_messages": round(thr),
            "readyz_timeline": timeline,
            "worker_alive_at_end": wk.proc is not None and wk.proc.poll() is None,
            "load": load.summary(), "events_sent": acked, "events_accounted": final.get("events"),
            "accounted_minus_sent": (final.get("events") or 0) - acked,
            "events_lost": max(0.0, acked - (final.get("events") or 0)),
            "accounting_wait_s": None if done_s is None else round(done_s, 1),
            "outcomes": final.get("outcomes"), "samples": rows,
            "stop_at_s": round(down0, 2), "up_at_s": round(up0, 2),
        })
        res.update(broker_down_from_samples(res))
        log(f"[{tag}] sent {acked:,}, accounted {final.get('events', 0):,.0f}; /readyz 503 "
            f"{res['readyz_503_after_stop_s']}s after the stop; {res['log_lines_per_s_down']} log lines/s while down")
        return res
    finally:
        sampler.stop_flag = True
        wk.stop()
        if kl.status(kdir).get("running") is False:
            with contextlib.suppress(Exception):
                kl.start(kdir)


# --------------------------------------------------------------------------- (d) overload

async def scenario_overload(bootstrap: str, work: Path, args: argparse.Namespace,
                            pool: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    tag = "overload"
    names = unique_names("fov")
    await asyncio.to_thread(create_topics, bootstrap, [names["STREAM_GUARD_INPUT_TOPIC"]], PARTITIONS)
    cap = {"STREAM_GUARD_MAX_ACCOUNTS": str(args.overload_max_accounts)} if args.overload_max_accounts else None
    wk = WorkerProcess(bootstrap, worker_env(names, cap), work / f"{tag}-data", work / f"{tag}.log")
    # its settings, for bench/drain_rest.py (finishing a drain that outlasts --drain-timeout)
    (work / f"{tag}.env").write_text("".join(f"{k}={v}\n" for k, v in worker_env(names, cap).items()))
    load = Load(bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], args.probe_rate, pool, batched_share=1.0,
                batch=args.overload_batch, events_path=Path(os.devnull), tag=tag, max_queue=3000)
    t0 = time.time()
    await asyncio.to_thread(wk.start)
    lag = BrokerLag(bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], names["STREAM_GUARD_APP_ID"])
    sampler = Sampler({"w1": wk}, lag, load, args.overload_sample_s, t0)
    st = asyncio.create_task(sampler.run())
    res: dict[str, Any] = {"scenario": "d", "batch": args.overload_batch,
                           "max_accounts_per_partition": args.overload_max_accounts or None}
    try:
        await asyncio.sleep(2 * args.overload_sample_s)
        base = sampler.last.get("w1", {})
        res["rss_mb_idle"] = base.get("rss_mb")
        load.start()
        log(f"[{tag}] measuring the drain rate: offering {args.probe_rate:,.0f} events/s for {args.probe_s:.0f}s")
        t_probe = time.time()
        await asyncio.sleep(args.probe_s)
        pr = [r for r in sampler.samples if r["t"] >= t_probe - t0 + args.probe_s / 3 and w(r, "w1", "events")]
        drain = (w(pr[-1], "w1", "events") - w(pr[0], "w1", "events")) / (pr[-1]["t"] - pr[0]["t"]) if len(pr) >= 2 \
            else 10_000.0
        offered_probe = (load.generated) / (time.time() - t_probe)
        rate = args.overload_factor * drain
        res.update({"drain_events_per_s": round(drain, 1), "probe_offered_events_per_s": round(offered_probe, 1),
                    "overload_target_events_per_s": round(rate, 1)})
        log(f"[{tag}] drain ~{drain:,.0f} events/s (offered {offered_probe:,.0f}); overload at {rate:,.0f} events/s "
            f"for {args.overload_s:.0f}s")
        load.set_rate(rate)
        t_ov = time.time()
        made0 = load.generated
        await asyncio.sleep(args.overload_s)
        made = load.generated - made0
        ov_wall = time.time() - t_ov
        await load.stop()
        t_end = time.time()
        log(f"[{tag}] overload done: offered {made / ov_wall:,.0f} events/s; waiting for the backlog to drain "
            f"(at most {args.drain_timeout:.0f}s)")
        t_dr = await wait_until(lambda: sampler.samples[-1]["t"] > t_end - t0 and
                                sampler.samples[-1]["broker_lag"] is not None and sampler.samples[-1]["broker_lag"]
                                <= 10 and w(sampler.samples[-1], "w1", "events") is not None
                                and w(sampler.samples[-1], "w1", "events") >= load.acked_events, args.drain_timeout, 1)
        await asyncio.sleep(args.overload_sample_s)
        sampler.stop_flag = True
        await st
        await lag.close()
        rows = sampler.samples
        ws = [r["workers"]["w1"] for r in rows if "rss_mb" in r["workers"]["w1"]]
        peak = max(ws, key=lambda s: s.get("rss_mb") or 0)
        last = sampler.last.get("w1", {})
        after = [r for r in rows if r["t"] >= t_end - t0 and w(r, "w1", "events")]
        post_rate = None
        if len(after) >= 2:
            post_rate = (w(after[-1], "w1", "events") - w(after[0], "w1", "events")) / (after[-1]["t"] - after[0]["t"])
        backlog_end = next((r["broker_lag"] for r in rows if r["t"] >= t_end - t0 and r["broker_lag"] is not None),
                           None)
        idle = res["rss_mb_idle"] or 0
        tracked_peak = max((s.get("tracked") or 0) for s in ws)
        res.update({
            "overload_s": args.overload_s, "overload_wall_s": round(ov_wall, 1),
            "overload_offered_events_per_s": round(made / ov_wall, 1),
            "overload_factor_achieved": round(made / ov_wall / drain, 2) if drain else None,
            "events_sent": load.acked_events, "load": load.summary(),
            "backlog_messages_at_end_of_overload": backlog_end,
            "backlog_messages_at_end_of_wait": next((r["broker_lag"] for r in reversed(rows)
                                                     if r["broker_lag"] is not None), None),
            "peak_rss_mb": peak.get("rss_mb"), "peak_rss_at_s": peak["t"], "tracked_at_peak_rss": peak.get("tracked"),
            "tracked_peak": tracked_peak,
            "bytes_per_tracked_account_at_peak": round((peak["rss_mb"] - idle) * 2**20 / peak["tracked"])
            if peak.get("tracked") else None,
            "rss_mb_end": last.get("rss_mb"), "tracked_end": last.get("tracked"),
            "bytes_per_tracked_account_end": round(((last.get("rss_mb") or 0) - idle) * 2**20 / last["tracked"])
            if last.get("tracked") else None,
            "drained": t_dr is not None, "drain_after_overload_s": None if t_dr is None else round(t_dr, 1),
            "drain_events_per_s_after": None if post_rate is None else round(post_rate, 1),
            "events_accounted_end": last.get("events"), "outcomes_end": last.get("outcomes"),
            "worker_alive_at_end": wk.proc is not None and wk.proc.poll() is None,
            "samples": rows,
        })
        log(f"[{tag}] peak RSS {res['peak_rss_mb']} MB at {peak.get('tracked')} tracked; drained: {res['drained']} "
            f"({res['drain_after_overload_s']}s)")
        return res
    finally:
        sampler.stop_flag = True
        wk.stop()


# --------------------------------------------------------------------------- tables & main

def f(x: Any, nd: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:,.{nd}f}"
    return f"{x:,.0f}" if isinstance(x, int | float) else str(x)


def tables(doc: dict[str, Any]) -> str:
    out = []
    sc = doc["scenarios"]
    if sc.get("a"):
        out.append("(a) kill -9 of one of two workers under load")
        out.append(f"{'session/hb s':>12} {'assigned s':>10} {'lag~0 s':>8} {'metric~0 s':>10} {'peak lag':>8} "
                   f"{'end lag':>7} {'sent':>9} "
                   f"{'accounted':>9} {'extra':>7} {'dup-drop':>8} {'alerts live/replay/common':>26}")
        for r in sc["a"]:
            a = r.get("alerts", {})
            ids = str(a.get("live_distinct_ids")) + "/" + str(a.get("replay_ids")) + "/" + str(a.get("common_ids"))
            out.append(f"{f(r['session_timeout_s']) + '/' + f(r['heartbeat_s']):>12} "
                       f"{f(r.get('failover_assigned_s')):>10} "
                       f"{f(r.get('failover_lag_near_zero_s')):>8} {f(r.get('failover_worker_lag_near_zero_s')):>10} "
                       f"{f(r.get('peak_broker_lag_after_kill')):>8} {f(r.get('broker_lag_at_end_messages')):>7} "
                       f"{f(r.get('events_sent')):>9} {f(r.get('events_accounted')):>9} "
                       f"{f(r.get('accounted_minus_sent')):>7} "
                       f"{f((r.get('outcomes_total') or {}).get('duplicate')):>8} "
                       f"{ids:>26}")
    for key, title in (("b", "(b) broker restart under load"), ("c", "(c) broker unreachable under load")):
        if sc.get(key):
            r = sc[key]
            out.append("")
            out.append(title)
            out.append(f"{'down s':>6} {'503 after s':>11} {'200 after start s':>17} {'consuming s':>11} "
                       f"{'lag~0 s':>8} {'log lines/s (max)':>17} {'sent':>9} {'accounted':>9} {'lost':>5}")
            out.append(f"{f(r['broker_down_s']):>6} {f(r['readyz_503_after_stop_s']):>11} "
                       f"{f(r['readyz_200_after_start_s']):>17} {f(r['consuming_after_start_s']):>11} "
                       f"{f(r['lag_near_zero_after_start_s']):>8} "
                       f"{f(r['log_lines_per_s_down'], 2) + ' (' + f(r['log_lines_per_s_down_max'], 1) + ')':>17} "
                       f"{f(r['events_sent']):>9} {f(r['events_accounted']):>9} {f(r['events_lost']):>5}")
    if sc.get("d"):
        r = sc["d"]
        out.append("")
        out.append("(d) overload")
        out.append(f"{'drain ev/s':>10} {'offered ev/s':>12} {'x':>5} {'for s':>6} {'peak RSS MB':>11} {'tracked':>8} "
                   f"{'B/account':>9} {'drained':>7} {'drain s':>8} {'ev/s after':>10}")
        out.append(f"{f(r['drain_events_per_s'], 0):>10} {f(r['overload_offered_events_per_s'], 0):>12} "
                   f"{f(r['overload_factor_achieved'], 2):>5} {f(r['overload_wall_s'], 0):>6} "
                   f"{f(r['peak_rss_mb']):>11} "
                   f"{f(r['tracked_at_peak_rss']):>8} {f(r['bytes_per_tracked_account_at_peak']):>9} "
                   f"{r['drained']!s:>7} {f(r['drain_after_overload_s']):>8} {f(r['drain_events_per_s_after'], 0):>10}")
    return "\n".join(out)


def _quiet_clients() -> None:
    """aiokafka's own reconnect warnings (this script's clients) would flood stderr while the broker is down."""
    import logging

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenarios", default="a,b,c,d", help="comma-separated subset of a,b,c,d")
    p.add_argument("--rate", type=float, default=3000.0, help="background events/s in a-c")
    p.add_argument("--batched-share", type=float, default=0.5, help="share of events sent in JSON arrays (a-c)")
    p.add_argument("--batch", type=int, default=50, help="events per array (a-c)")
    p.add_argument("--accounts", type=int, default=5000, help="accounts of the background pool (a-c)")
    p.add_argument("--extractors", type=int, default=4, help="blunt extractors in (a)")
    p.add_argument("--extractor-rate", type=float, default=30.0, help="requests/s of each extractor")
    p.add_argument("--session-timeouts", default="10,30", help="STREAM_GUARD_SESSION_TIMEOUT_S values of (a)")
    p.add_argument("--heartbeat-s", type=float, default=3.0, help="STREAM_GUARD_HEARTBEAT_INTERVAL_S in (a)")
    p.add_argument("--warmup-s", type=float, default=75.0, help="(a) load before the kill")
    p.add_argument("--after-s", type=float, default=20.0, help="(a) load after the failover")
    p.add_argument("--warmup-b-s", type=float, default=25.0, help="(b, c) load before the broker goes down")
    p.add_argument("--after-b-s", type=float, default=15.0, help="(b, c) load after the lag drained")
    p.add_argument("--restart-down-s", type=float, default=10.0, help="(b) broker down time")
    p.add_argument("--outage-s", type=float, default=60.0, help="(c) broker down time")
    p.add_argument("--lag-near", type=float, default=2.0, help="'lag near 0' = this many seconds of input messages")
    p.add_argument("--sample-s", type=float, default=1.0, help="sampling interval (a-c)")
    p.add_argument("--probe-s", type=float, default=20.0, help="(d) drain-rate measurement")
    p.add_argument("--probe-rate", type=float, default=40000.0, help="(d) events/s offered while measuring the drain")
    p.add_argument("--overload-factor", type=float, default=10.0)
    p.add_argument("--overload-s", type=float, default=600.0, help="(d) overload duration")
    p.add_argument("--overload-batch", type=int, default=100, help="(d) events per message")
    p.add_argument("--overload-accounts", type=int, default=100_000, help="(d) accounts of the pool")
    p.add_argument("--overload-max-accounts", type=int, default=0,
                   help="(d) STREAM_GUARD_MAX_ACCOUNTS of the worker (per partition; 0: the default)")
    p.add_argument("--overload-sample-s", type=float, default=3.0)
    p.add_argument("--drain-timeout", type=float, default=1800.0, help="(d) bound on the wait for the drain")
    p.add_argument("--out", type=Path, default=RESULTS / "faults.json")
    p.add_argument("--workdir", type=Path, help="keep logs and files here (default: a temp dir, removed)")
    p.add_argument("--recompute", action="store_true",
                   help="re-derive the summaries of --out from its stored samples (no run) and print the tables")
    args = p.parse_args(argv)
    if args.recompute:
        doc = json.loads(args.out.read_text())
        sc = doc["scenarios"]
        for r in sc.get("a") or []:
            r.update(failover_from_samples(r))
        for key in ("b", "c"):
            if sc.get(key):
                r = sc[key]
                if "stop_at_s" not in r:  # older files: the stop and start times from the timeline
                    r["stop_at_s"] = next(x["t"] - x["since_stop_s"] for x in r["readyz_timeline"])
                    r["up_at_s"] = r["stop_at_s"] + r["broker_down_s"]
                r.update(broker_down_from_samples(r))
        write_json(args.out, doc)
        print(tables(doc))
        return 0
    scen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    signal.signal(signal.SIGTERM, _on_sigterm)
    _quiet_clients()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sg-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    kdir = work / "kafka"
    doc: dict[str, Any] = {
        "benchmark": "stream-guard under faults on a real Kafka broker (issue 10 item 4)",
        "command": "python bench/faults.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine_info(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "note": "2-core machine shared with other engineers' test runs: timings include their load "
                "(loadavg recorded per scenario)",
        "scenarios": {},
    }
    prev = {}
    if args.out.exists():  # keep scenarios not re-run
        with contextlib.suppress(Exception):
            prev = json.loads(args.out.read_text()).get("scenarios", {})
    doc["scenarios"].update({k: v for k, v in prev.items() if k not in scen})
    kl = kafka_local()
    t_begin = time.time()
    try:
        log(f"work dir {work}; starting a real Kafka broker")
        bootstrap = kl.start(kdir, die_with_parent=True)
        log(f"broker at {bootstrap} (pid {broker_pid(kdir)})")
        pool = pool_for(args.accounts, 60_000, 7) if set(scen) & {"a", "b", "c"} else []
        if "a" in scen:
            doc["scenarios"]["a"] = []
            for stt in [float(x) for x in args.session_timeouts.split(",") if x.strip()]:
                la = loadavg()
                r = asyncio.run(scenario_kill(bootstrap, work, args, stt, pool))
                r["loadavg_before"], r["loadavg_after"] = la, loadavg()
                r["git"] = git_info()
                doc["scenarios"]["a"].append(r)
                write_json(args.out, doc)
        for key, label, down in (("b", "restart", args.restart_down_s), ("c", "outage", args.outage_s)):
            if key in scen:
                la = loadavg()
                r = asyncio.run(scenario_broker_down(bootstrap, work, kdir, args, down, label, pool))
                r["loadavg_before"], r["loadavg_after"] = la, loadavg()
                r["git"] = git_info()
                doc["scenarios"][key] = r
                write_json(args.out, doc)
        if "d" in scen:
            pool = []
            big = pool_for(args.overload_accounts, 3 * args.overload_accounts, 11)
            la = loadavg()
            r = asyncio.run(scenario_overload(bootstrap, work, args, big))
            r["loadavg_before"], r["loadavg_after"] = la, loadavg()
            r["git"] = git_info()
            doc["scenarios"]["d"] = r
            write_json(args.out, doc)
    finally:
        terminate_all()
        with contextlib.suppress(Exception):
            kl.stop(kdir)
        if not args.workdir:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    doc["wall_s"] = round(time.time() - t_begin, 1)
    doc["machine"]["loadavg_at_end"] = loadavg()
    write_json(args.out, doc)
    print(tables(doc))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
