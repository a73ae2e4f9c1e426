#!/usr/bin/env python3
"""Memory per tracked account and throughput of a real ``stream-guard worker`` (issue 11, item 5).

``bench/memory.py`` measures one in-process ``Detector``; a worker under overload held far
more per tracked account (``bench/results/faults.json``). This benchmark measures the real
process and says where the difference goes. Four steps (``--steps``):

* ``worker``: one real Apache Kafka broker (``harness_common.broker``) and, per size N
  (``--sizes``), a fresh real ``stream-guard worker`` (a ``harness_common.WorkerProcess``:
  clean environment, every default setting, cross-account detection on,
  ``STREAM_GUARD_MAX_ACCOUNTS`` raised above the largest size) on a fresh 4-partition topic.
  The worker command runs inside this script (``--probe-worker``: ``stream_guard.cli.main(
  ["worker"])`` plus one thread that polls a directory every 0.3 s) so that it can report its
  allocators (glibc ``mallinfo2``/``malloc_info``, pymalloc's arenas) at each point and, at
  the end, how much RSS ``gc.collect()`` + ``malloc_trim(0)`` gives back; ``--plain-worker``
  runs ``python -m stream_guard worker`` itself instead (no allocator figures):

  1. ``idle``: the worker's RSS once it is ready (``/proc/PID/status`` VmRSS, and its
     ``/metrics`` ``process_resident_memory_bytes``);
  2. the traffic of N accounts: the load generator's hydra accounts
     (``stream_guard.loadgen``, scenario ``hydra`` with ``--hydra-accounts N``, no benign
     accounts, one hour of event time at ``--hydra-rate`` 72 requests/day: ~3 events per
     account, prompt text, IPs, payment and client fingerprints, system prompt hashes),
     generated in this process and produced in JSON arrays of 100 events per partition;
     ``--traffic unlinked`` gives every account its own IP, card and SDK fingerprint (no
     clusters form);
  3. ``drained``: RSS and ``stream_guard_tracked_accounts`` once the worker accounted for
     every produced event (``stream_guard_events_total``, all outcomes);
  4. ``settled``: once the partitions are idle, the watermark has moved past the last event
     (every evaluation and link interval closed), the cross-account stages are done and
     nothing changed for ``--settle-s`` (two checkpoint passes) while the worker's event loop
     kept turning (a loop blocked for seconds, e.g. judging a large cluster, is not idle);
     the worker's CPU and checkpoint time while idle are reported too;
  5. throughput: ``--rounds`` times, a fixed batch of further events (the events of
     ``--batch-accounts`` already-tracked accounts, the same accounts at every size, moved
     to a new ten minutes of event time) is produced while the worker drains it; events/s
     from its metrics (every 0.25 s) after the producer finished (the backlog drains), and
     from its first to its last event; the median over the rounds;
  6. ``after rounds``: RSS again, then after ``gc.collect()`` + ``malloc_trim(0)`` (the free
     memory glibc keeps); VmHWM (the peak) throughout.

  Bytes per tracked account are the **slope** between sizes (RSS difference / tracked
  accounts difference: fixed costs cancel) and, per size, the growth over the idle worker.
  Sizes above 100k run only if the RSS projected from the largest measured size stays under
  ``--max-rss-share`` of the machine's memory (and of what is available), and if the
  projected run time stays under ``--max-size-s``; otherwise they are skipped with the reason.
* ``traced``: one worker (``--traced-size`` accounts, same traffic, same broker) run by this
  script under ``tracemalloc`` (``--probe-worker --probe-trace``: the ``stream-guard worker``
  command in a process that dumps a heap snapshot on request): the worker process's own Python heap over
  its idle state, grouped by allocation site into parts, at ``drained`` and ``settled``; the
  Faust/aiokafka side and the worker's linking stages included. Several times slower than a
  plain worker (its RSS and rates are not comparable).
* ``inprocess``: the same traffic through ``stream_guard.core.flow.Flow`` with
  ``InProcessLinking`` (the detection flow the worker runs, the cross-account stages in the
  same process), ticks every 2,000 events and checkpoint passes (account records, attribute
  index and cluster book blobs, discarded) every 20,000 events, as the worker does every 1 s
  and 10 s; RSS growth per account, in a fresh process per size (``--inprocess-sizes``). The
  worker minus this is what the worker adds around the detection core (Faust, aiokafka,
  buffers, allocator).
* ``breakdown``: the same as ``inprocess`` under ``tracemalloc``, in a fresh process per size
  (``--breakdown-sizes``; slow): the Python heap grouped by allocation site into parts (account
  states, event-id dedup, profile builder, mixture detector, checkpoint bookkeeping, attribute
  index, cluster book, ...), per account at each size and as the slope between sizes, at
  ``drained`` and ``settled``, plus the transient peak of a full checkpoint pass and the top
  allocation lines. tracemalloc does not see C++ allocations (the HLL sketches) nor
  allocator overhead: the in-process RSS slope minus the traced slope is that part.

Prints tables (stdout; progress on stderr), writes ``--out`` (default
``bench/results/worker_memory.json``: every snapshot, RSS timeline, round, the commands, the
machine and its load) and ``--md`` (``bench/results/worker_memory.md``). Issue 11 targets
<= 2 KiB per tracked account measured in the worker process and throughput flat from 10k to
1M tracked accounts: reported, never enforced. The machine may be shared: every throughput
round records the cores other processes used (``other_load_cores``).

Examples::

    python bench/worker_memory.py                                # 10k and 100k, ~20 minutes
    python bench/worker_memory.py --sizes 10000,100000,1000000   # 1M if the memory allows
    python bench/worker_memory.py --quick                        # smoke run, ~6 minutes
    python bench/worker_memory.py --steps worker --sizes 100000 --worker-env MALLOC_ARENA_MAX=2
    python bench/worker_memory.py --steps breakdown --breakdown-sizes 10000,30000
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import gc
import itertools
import json
import linecache
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness_common import (
    PY,
    REPO,
    RESULTS,
    WorkerProcess,
    broker,
    broker_pid,
    cpu_seconds,
    create_topics,
    events_accounted,
    kafka_local,
    load_report,
    loadavg,
    log,
    machine_busy_s,
    machine_info,
    main_entry,
    md_table,
    metric,
    metric_sum,
    produce_located,
    rss_bytes,
    run,
    spawn,
    unique_names,
    write_json,
)

PARTITIONS = 4
BATCH = 100  # events per message (JSON array), per partition
TARGET_BYTES_PER_ACCOUNT = 2048.0
TICK_EVENTS = 2_000  # in-process: a watermark advance every this many events (the worker: every 1 s)
CHECKPOINT_EVENTS = 20_000  # in-process: a checkpoint pass every this many events (the worker: every 10 s)
PRODUCE_CHUNK_BYTES = 32 << 20  # messages produced per producer session
DEFAULT_SIZES = "10000,100000"
QUICK = {"sizes": "5000,10000", "rounds": 1, "inprocess_sizes": "5000,10000", "breakdown_sizes": "2000,5000",
         "traced_size": 5000}
STEPS = ("worker", "traced", "inprocess", "breakdown")


# --------------------------------------------------------------------------- traffic

def hydra_scenario(accounts: int, seed: int, traffic: str, hydra_rate: float) -> Any:
    """The load generator's hydra scenario of ``accounts`` accounts over one hour, nothing else.

    ``traffic="unlinked"``: no shared IP, card, client fingerprint or system prompt (no
    clusters form; every account still sends the hydra's prompts)."""
    from stream_guard.loadgen.scenarios import scenario

    knobs: dict[str, Any] = {"hydra_accounts": accounts, "benign_accounts": 0, "duration": "1h",
                             "hydra_rate": hydra_rate, "seed": seed}
    if traffic == "unlinked":
        knobs.update(hydra_accounts_per_ip=1.0, hydra_accounts_per_payment=1.0, hydra_fingerprint_share=0.0,
                     hydra_system_prompt_share=0.0)
    return scenario("hydra", **knobs)


def generator(accounts: int, args: argparse.Namespace) -> Any:
    from stream_guard.loadgen.generator import Generator

    return Generator(hydra_scenario(accounts, args.seed, args.traffic, args.hydra_rate))


def traffic_command(accounts: int, args: argparse.Namespace) -> str:
    """The equivalent ``stream-guard loadgen`` command line (the events are the same)."""
    extra = (" --hydra-accounts-per-ip 1 --hydra-accounts-per-payment 1 --hydra-fingerprint-share 0 "
             "--hydra-system-prompt-share 0") if args.traffic == "unlinked" else ""
    return (f"stream-guard loadgen --scenario hydra --hydra-accounts {accounts} --benign-accounts 0 --duration 1h "
            f"--hydra-rate {args.hydra_rate:g} --seed {args.seed}{extra} --batch {BATCH}")


def _partition_of(key: bytes) -> int:
    from stream_guard.core.partitioning import partition_for

    return partition_for(key.decode(), PARTITIONS)


def batcher(cache: bool = True) -> Any:
    """Per-partition JSON arrays of up to ``BATCH`` events (the load generator's own batcher);
    ``cache``: remember each account's partition (not in the in-process runs: it would count)."""
    from stream_guard.loadgen.sinks import PartitionBatcher

    return PartitionBatcher(PARTITIONS, BATCH, functools.lru_cache(maxsize=None)(_partition_of) if cache
                            else _partition_of)


def produce_traffic(bootstrap: str, topic: str, accounts: int, args: argparse.Namespace
                    ) -> tuple[int, dict[str, list[bytes]], float, float]:
    """Generate and produce the traffic of ``accounts`` accounts; returns (events produced,
    the event lines of ``--batch-accounts`` sampled accounts, first and last event time)."""
    gen = generator(accounts, args)
    ids = [a.account_id for a in gen.accounts]
    keep = set(random.Random(args.seed).sample(ids, min(args.batch_accounts, len(ids))))
    kept: dict[str, list[bytes]] = {}
    b = batcher()
    pending: list[tuple[int, bytes, bytes]] = []
    size = n = 0
    for key, line in gen.lines():
        n += 1
        account = key.decode()
        if account in keep:
            kept.setdefault(account, []).append(line)
        for k, p, payload in b.add(key, line, 0.0):
            pending.append((p, k, payload))
            size += len(payload)
        if size >= PRODUCE_CHUNK_BYTES:
            produce_located(bootstrap, topic, pending)
            pending, size = [], 0
            log(f"  produced {n:,} events")
    pending += [(p, k, v) for k, p, v in b.flush_all()]
    produce_located(bootstrap, topic, pending)
    return n, kept, gen.start_ms / 1000.0, gen.last_ts_ms / 1000.0


def round_messages(kept: dict[str, list[bytes]], tag: str, base: float, first: float, last: float,
                   span: float, repeat: int = 1) -> tuple[list[tuple[int, bytes, bytes]], int, float]:
    """The kept accounts' events again, ``repeat`` times, with new ids, their event times
    mapped from ``[first, last]`` onto ``repeat`` consecutive slices of ``[base, base + span]``
    (each account's order kept); returns (messages, events, newest event time)."""
    import orjson
    from stream_guard.loadgen.timeutil import format_iso, parse_iso

    part = span / repeat
    scale = part / max(last - first, 1.0)
    events: list[tuple[float, str, bytes]] = []
    for account, lines in kept.items():
        for i, line in enumerate(lines):
            ev = orjson.loads(line)
            at = (parse_iso(ev["ts"]) - first) * scale
            for k in range(repeat):
                ts = base + k * part + at
                ev["ts"] = format_iso(ts)
                ev["event_id"] = f"{tag}-{account}-{k}-{i}"
                events.append((ts, account, orjson.dumps(ev)))
    events.sort()
    b = batcher()
    out = [(p, k, v) for ts, account, line in events for k, p, v in b.add(account.encode(), line, 0.0)]
    out += [(p, k, v) for k, p, v in b.flush_all()]
    return out, len(events), events[-1][0] if events else base


# --------------------------------------------------------------------------- worker sampling

class Sampler:
    """Polls one worker in a thread: (t, events, worker CPU s, machine busy s, broker CPU s, RSS)."""

    def __init__(self, worker: WorkerProcess, kafka_pid: int | None, interval: float = 0.25) -> None:
        self.worker, self.kafka_pid, self.interval = worker, kafka_pid, interval
        self.rows: list[tuple[float, float, float | None, float | None, float | None, int | None]] = []
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        proc = self.worker.proc
        assert proc is not None
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                n = events_accounted(self.worker.metrics())
            except (urllib.error.URLError, OSError, ValueError):
                n = None
            if n is not None:
                self.rows.append((time.monotonic(), n, cpu_seconds(proc.pid), machine_busy_s(),
                                  cpu_seconds(self.kafka_pid) if self.kafka_pid else None, rss_bytes(proc.pid)))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def timeline(self, every: float = 2.0) -> list[list[float]]:
        """[seconds since start, events, RSS MB] every ``every`` s (for the JSON)."""
        out: list[list[float]] = []
        last = -1e9
        for t, n, _, _, _, rss in list(self.rows):
            if t - last >= every and rss is not None:
                out.append([round(t - self.t0, 1), n, round(rss / 1e6, 1)])
                last = t
        return out


def snapshot(worker: WorkerProcess, t0: float) -> dict[str, Any]:
    """RSS (VmRSS, VmHWM, the worker's own metric) and the state gauges and counters now."""
    assert worker.proc is not None
    pid = worker.proc.pid
    m = worker.metrics()
    return {
        "t_s": round(time.monotonic() - t0, 1),
        "rss_bytes": rss_bytes(pid),
        "rss_peak_bytes": rss_bytes(pid, peak=True),
        "metrics_rss_bytes": metric(m, "process_resident_memory_bytes"),
        "tracked_accounts": metric(m, "stream_guard_tracked_accounts"),
        "events": events_accounted(m),
        "outcomes": {o: metric(m, "stream_guard_events_total", outcome=o)
                     for o in ("processed", "duplicate", "untracked", "dead_lettered")},
        "evaluations": metric(m, "stream_guard_evaluations_total"),
        "alerts": metric_sum(m, "stream_guard_alerts_total"),
        "link_profiles": metric(m, "stream_guard_link_profiles_total"),
        "attribute_values": metric(m, "stream_guard_attribute_values"),
        "attribute_members": metric(m, "stream_guard_attribute_members"),
        "clusters": metric(m, "stream_guard_clusters"),
        "clustered_accounts": metric(m, "stream_guard_clustered_accounts"),
        "checkpoint_records": metric(m, "stream_guard_checkpoint_states_total"),
        "checkpoint_writes": metric(m, "stream_guard_checkpoint_duration_seconds_count"),
        "checkpoint_seconds": metric(m, "stream_guard_checkpoint_duration_seconds_sum"),
        "watermark": metric(m, "stream_guard_watermark_timestamp_seconds"),
        "event_lag": metric(m, "stream_guard_event_time_lag_seconds"),
        "worker_cpu_s": worker.cpu_seconds(),
    }


def _alive(worker: WorkerProcess) -> None:
    if not worker.alive():
        raise RuntimeError(f"worker exited:\n{worker.log_tail()}")


def wait_accounted(worker: WorkerProcess, sampler: Sampler, target: float, timeout: float) -> float:
    """Wait until the worker accounted for ``target`` events (the sampler's latest row: no
    scrapes of its own, each one costs the worker CPU); returns the seconds waited."""
    t0 = time.monotonic()
    last_log = t0
    n = 0.0
    while time.monotonic() - t0 < timeout:
        _alive(worker)
        if sampler.rows:
            n = sampler.rows[-1][1]
            if n >= target:
                return time.monotonic() - t0
        if time.monotonic() - last_log >= 20:
            log(f"  worker accounted {n:,.0f} / {target:,.0f} events")
            last_log = time.monotonic()
        time.sleep(0.25)
    raise TimeoutError(f"worker accounted {n:,.0f} of {target:,.0f} events in {timeout:.0f} s:\n{worker.log_tail()}")


#: What must stand still for the worker to count as settled (checkpoint counters excluded:
#: a pass runs every 10 s even when nothing changed).
_SETTLE_KEYS = ("events", "evaluations", "alerts", "link_profiles", "attribute_values", "attribute_members",
                "clustered_accounts", "tracked_accounts")


def wait_settled(worker: WorkerProcess, t0: float, newest: float, quiet_s: float, timeout: float,
                 max_stall_s: float = 8.0) -> dict[str, Any]:
    """Wait until the watermark passed ``newest`` plus one evaluation interval (the idle
    partitions' flush) and nothing in :data:`_SETTLE_KEYS` changed for ``quiet_s`` while the
    worker's event loop kept turning; returns the wait and what the idle worker did over the
    quiet window (CPU, checkpoint writes).

    The loop turns when ``stream_guard_event_time_lag_seconds`` (set on every 1-s tick) moves:
    a loop blocked for more than ``max_stall_s`` (e.g. judging a cluster of 100k accounts)
    leaves the counters still without being done, so the quiet window starts again after it."""
    started = time.monotonic()
    quiet_since: dict[str, Any] | None = None
    lag, moved = None, time.monotonic()
    stalls: list[float] = []
    while time.monotonic() - started < timeout:
        _alive(worker)
        try:
            s = snapshot(worker, t0)
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(0.5)
            continue
        now = time.monotonic()
        if s["event_lag"] != lag:
            if now - moved > max_stall_s:
                stalls.append(round(now - moved, 1))
                quiet_since = None  # blocked meanwhile: still working
            lag, moved = s["event_lag"], now
        flushed = s["watermark"] >= newest + 60.0
        if not flushed or now - moved > max_stall_s or quiet_since is None or \
                any(s[k] != quiet_since[k] for k in _SETTLE_KEYS):
            quiet_since = s if flushed and now - moved <= max_stall_s else None
        elif s["t_s"] - quiet_since["t_s"] >= quiet_s:
            window = s["t_s"] - quiet_since["t_s"]
            cpu = (s["worker_cpu_s"] - quiet_since["worker_cpu_s"]) if s["worker_cpu_s"] is not None and \
                quiet_since["worker_cpu_s"] is not None else None
            return {"seconds": round(time.monotonic() - started, 1),
                    "loop_stalls_s": stalls,
                    "idle_window_s": round(window, 1),
                    "idle_worker_cpu_cores": round(cpu / window, 3) if cpu is not None and window > 0 else None,
                    "idle_checkpoint_writes": s["checkpoint_writes"] - quiet_since["checkpoint_writes"],
                    "idle_checkpoint_seconds": round(s["checkpoint_seconds"] - quiet_since["checkpoint_seconds"], 3),
                    "idle_checkpoint_records": s["checkpoint_records"] - quiet_since["checkpoint_records"]}
        time.sleep(0.5)
    log(f"  WARNING: the worker did not settle within {timeout:.0f} s (loop stalls {stalls}); going on")
    return {"seconds": round(time.monotonic() - started, 1), "timed_out": True, "loop_stalls_s": stalls,
            "idle_window_s": None, "idle_worker_cpu_cores": None, "idle_checkpoint_writes": None,
            "idle_checkpoint_seconds": None, "idle_checkpoint_records": None}


def round_rate(rows: list[tuple[float, float, float | None, float | None, float | None, int | None]],
               e0: float, n: int, t_produced: float) -> dict[str, Any]:
    """Rates of one round from the sampler's rows: from the first row past ``e0`` to the first
    at ``e0 + n`` (``all``), and from the first row after the producer finished (``drain``,
    when at least a fifth of the batch was left by then); the load over the ``all`` span.

    >>> rows = [(0.0, 0, 0.0, 0.0, 0.0, 1), (1.0, 100, 0.9, 1.5, 0.1, 1), (2.0, 300, 1.9, 3.0, 0.2, 1),
    ...         (3.0, 500, 2.9, 4.5, 0.3, 1), (4.0, 1000, 3.9, 6.0, 0.4, 1)]
    >>> r = round_rate(rows, 0, 1000, 1.5)
    >>> r["events_per_s_all"], r["events_per_s_drain"], r["worker_cpu_cores"], r["events_per_worker_cpu_s"]
    (300.0, 350.0, 1.0, 300.0)
    """
    first = next((r for r in rows if r[1] > e0), None)
    done = next((r for r in rows if r[1] >= e0 + n), None)
    if first is None or done is None or done[0] <= first[0]:
        return {"events_per_s": None, "note": "too few samples"}
    span = done[0] - first[0]
    out: dict[str, Any] = {"events_per_s_all": round((done[1] - first[1]) / span, 1), "seconds": round(span, 2)}
    # the worker moves its counters into /metrics once per tick (1 s): start at the first fresh
    # value after the producer finished, not at a sample still showing the previous tick
    i = next((k for k, r in enumerate(rows) if r[0] >= t_produced), None)
    after = next((rows[k] for k in range(max(i or 0, 1), len(rows)) if rows[k][1] != rows[k - 1][1]),
                 None) if i is not None else None
    if after is not None and done[0] > after[0] and e0 + n - after[1] >= 0.2 * n:
        out["events_per_s_drain"] = round((done[1] - after[1]) / (done[0] - after[0]), 1)
        out["drain_events"] = int(done[1] - after[1])
    out["events_per_s"] = out.get("events_per_s_drain", out["events_per_s_all"])
    own = (done[2] - first[2]) if done[2] is not None and first[2] is not None else 0.0
    out["worker_cpu_cores"] = round(own / span, 3)
    out["events_per_worker_cpu_s"] = round((done[1] - first[1]) / own, 1) if own > 0 else None
    out.update({k: (round(v, 3) if v is not None else None)
                for k, v in load_report(span, own, first[3], done[3], first[4], done[4]).items()})
    return out


# --------------------------------------------------------------------------- worker step

def memory_info() -> dict[str, int]:
    """MemTotal and MemAvailable (bytes) of the machine."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("MemTotal", "MemAvailable"):
                out[key] = int(rest.split()[0]) * 1024
    return out


def projection(measured: list[dict[str, Any]], accounts: int, share: float, max_s: float,
               mem: dict[str, int]) -> tuple[dict[str, Any], str | None]:
    """Projected peak RSS and run time of a worker with ``accounts`` accounts, from the largest
    measured size; the reason to skip it (``None``: run it).

    >>> run = {"accounts": 100_000, "idle": {"rss_bytes": 150e6}, "tracked_accounts": 100_000,
    ...        "peak_rss_bytes": 1150e6, "load_seconds": 100.0}
    >>> p, why = projection([run], 1_000_000, 0.6, 1800, {"MemTotal": 24e9, "MemAvailable": 20e9})
    >>> p["projected_peak_rss_bytes"], why is None
    (10150000000, True)
    >>> projection([run], 1_000_000, 0.6, 600, {"MemTotal": 24e9, "MemAvailable": 20e9})[1][:26]
    'projected run time 1,000 s'
    """
    base = max(measured, key=lambda r: r["tracked_accounts"])
    slope = (base["peak_rss_bytes"] - base["idle"]["rss_bytes"]) / base["tracked_accounts"]
    peak = base["idle"]["rss_bytes"] + slope * accounts
    seconds = base["load_seconds"] * accounts / base["tracked_accounts"]
    total, available = mem.get("MemTotal", 0), mem.get("MemAvailable", 0)
    p = {"from_accounts": base["accounts"], "peak_bytes_per_account": round(slope, 1),
         "projected_peak_rss_bytes": round(peak), "projected_load_seconds": round(seconds),
         "limit_bytes": round(share * total), "available_bytes": available}
    if peak > share * total:
        return p, (f"projected peak RSS {peak / 1e9:,.1f} GB (idle + {slope:,.0f} B x {accounts:,} accounts, "
                   f"from the {base['accounts']:,} run) exceeds {share:.0%} of the machine's "
                   f"{total / 1e9:,.1f} GB")
    if peak - base["idle"]["rss_bytes"] > 0.9 * available:
        return p, f"projected RSS growth {peak / 1e9:,.1f} GB exceeds 90% of the memory available now " \
                  f"({available / 1e9:,.1f} GB)"
    if seconds > max_s:
        return p, (f"projected run time {seconds:,.0f} s (the initial load at the {base['accounts']:,} run's "
                   f"rate) exceeds --max-size-s {max_s:,.0f}")
    return p, None


def measure_worker(bootstrap: str, kafka_pid: int | None, work: Path, accounts: int, args: argparse.Namespace,
                   max_accounts: int) -> dict[str, Any]:
    """One fresh worker, ``accounts`` accounts: snapshots, settle, throughput rounds (see the module doc)."""
    names = unique_names(f"wm{accounts}")
    topic = names["STREAM_GUARD_INPUT_TOPIC"]
    create_topics(bootstrap, [topic], PARTITIONS)
    env = {**names, "STREAM_GUARD_TOPIC_PARTITIONS": str(PARTITIONS),
           "STREAM_GUARD_MAX_ACCOUNTS": str(max_accounts), **args.worker_env}
    mem = memory_info()
    limit = max(4 << 30, int(0.8 * mem.get("MemTotal", 0)))
    data, log_path = work / f"w{accounts}-data", work / f"w{accounts}.worker.log"
    worker = (WorkerProcess(bootstrap, env, data, log_path, memory_limit_bytes=limit) if args.plain_worker else
              ProbedWorker(bootstrap, env, data, log_path, memory_limit_bytes=limit,
                           snap_dir=work / f"w{accounts}-probes"))
    shown = {k: v for k, v in env.items() if k not in names}  # the fresh app id and topic names left out
    allocators: dict[str, Any] = {}
    res: dict[str, Any] = {"accounts": accounts, "worker_env": shown, "allocators": allocators,
                           "worker_command": "python -m stream_guard worker" if args.plain_worker else
                           "python bench/worker_memory.py --probe-worker DIR (stream_guard.cli.main(['worker']) "
                           "and a probe thread)", "traffic_command": traffic_command(accounts, args)}

    def probe(point: str, trim: bool = False) -> None:
        if isinstance(worker, ProbedWorker):
            allocators[point] = worker.probe(point, trim=trim)[1]
    t0 = time.monotonic()
    worker.start(ready_timeout=180)
    sampler = Sampler(worker, kafka_pid).start()
    try:
        res["ready_s"] = round(time.monotonic() - t0, 1)
        time.sleep(args.idle_s)
        res["idle"] = snapshot(worker, t0)
        probe("idle")
        log(f"{accounts:,} accounts: worker ready in {res['ready_s']} s, idle RSS "
            f"{res['idle']['rss_bytes'] / 1e6:,.0f} MB; producing the traffic")
        t_load = time.monotonic()
        produced, kept, first_ts, last_ts = produce_traffic(bootstrap, topic, accounts, args)
        res["produced_events"] = produced
        res["produce_seconds"] = round(time.monotonic() - t_load, 1)
        log(f"  produced {produced:,} events in {res['produce_seconds']} s; waiting for the worker")
        wait_accounted(worker, sampler, produced, max(600.0, produced / 300.0))
        res["load_seconds"] = round(time.monotonic() - t_load, 1)
        res["load_events_per_s"] = round(produced / res["load_seconds"], 1)
        res["drained"] = snapshot(worker, t0)
        probe("drained")
        log(f"  drained after {res['load_seconds']} s: {res['drained']['tracked_accounts']:,.0f} tracked, RSS "
            f"{res['drained']['rss_bytes'] / 1e6:,.0f} MB; settling")
        res["settle"] = wait_settled(worker, t0, last_ts, args.settle_s, args.settle_timeout)
        res["settled"] = snapshot(worker, t0)
        probe("settled")
        log(f"  settled in {res['settle']['seconds']} s: RSS {res['settled']['rss_bytes'] / 1e6:,.0f} MB, "
            f"{res['settled']['clustered_accounts']:,.0f} clustered, {res['settled']['alerts']:,.0f} alerts; idle: "
            f"{res['settle']['idle_worker_cpu_cores']} cores, checkpoint "
            f"{res['settle']['idle_checkpoint_seconds']} s over {res['settle']['idle_window_s']} s")
        rounds = []
        base = last_ts + 300.0
        for r in range(args.rounds):
            msgs, n, newest = round_messages(kept, f"{names['STREAM_GUARD_APP_ID']}-r{r}", base, first_ts, last_ts,
                                             args.batch_span_s, args.batch_repeat)
            e0 = events_accounted(worker.metrics())
            t_start = time.monotonic()
            produce_located(bootstrap, topic, msgs)
            t_produced = time.monotonic()
            wait_accounted(worker, sampler, e0 + n, max(300.0, n / 100.0))
            time.sleep(0.6)  # one more sample past the end
            rate = round_rate([row for row in sampler.rows if row[0] >= t_start - 0.5], e0, n, t_produced)
            rate.update({"round": r, "events": n, "accounts": len(kept), "messages": len(msgs),
                         "produce_seconds": round(t_produced - t_start, 2), "loadavg": loadavg()})
            rate["settle"] = wait_settled(worker, t0, newest, args.round_settle_s, args.settle_timeout)
            rounds.append(rate)
            log(f"  round {r + 1}/{args.rounds}: {n:,} events of {len(kept):,} accounts: "
                f"{rate.get('events_per_s') or 0:,.0f} events/s (first to last "
                f"{rate.get('events_per_s_all') or 0:,.0f}), worker CPU {rate.get('worker_cpu_cores')}, "
                f"others {rate.get('other_load_cores')} cores")
            base = newest + 300.0
        res["rounds"] = rounds
        rates = [r["events_per_s"] for r in rounds if r.get("events_per_s")]
        res["throughput"] = {"median": statistics.median(rates) if rates else None,
                             "min": min(rates, default=None), "max": max(rates, default=None),
                             "other_load_cores_max": max((r["other_load_cores"] for r in rounds
                                                          if r.get("other_load_cores") is not None), default=None)}
        res["after_rounds"] = snapshot(worker, t0)
        res["tracked_accounts"] = res["settled"]["tracked_accounts"]
        res["peak_rss_bytes"] = rss_bytes(worker.proc.pid, peak=True) if worker.proc else None
        probe("after_rounds", trim=True)
        trimmed = (allocators.get("after_rounds") or {}).get("after_trim")
        if trimmed:
            log(f"  after the rounds: RSS {res['after_rounds']['rss_bytes'] / 1e6:,.0f} MB, "
                f"{trimmed['rss_bytes'] / 1e6:,.0f} MB after gc + malloc_trim(0)")
    finally:
        sampler.stop()
        res["timeline"] = sampler.timeline()
        code = worker.stop()
        res["exit_code"] = code
    return res


def worker_slopes(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Bytes per tracked account: over the idle worker at each size, and between sizes.

    >>> a = {"accounts": 10, "tracked_accounts": 10, "idle": {"rss_bytes": 100}, "drained": {"rss_bytes": 200},
    ...      "settled": {"rss_bytes": 150}, "after_rounds": {"rss_bytes": 160}, "peak_rss_bytes": 300}
    >>> b = {**a, "accounts": 20, "tracked_accounts": 20, "settled": {"rss_bytes": 250}}
    >>> s = worker_slopes([a, b])
    >>> s["over_idle"]["10"]["settled"], s["between"][0]["settled"]
    (5.0, 10.0)
    """
    points = ("drained", "settled", "after_rounds", "peak")

    def rss(r: dict[str, Any], point: str) -> float:
        return float(r["peak_rss_bytes"] if point == "peak" else r[point]["rss_bytes"])

    runs = sorted((r for r in runs if r.get("tracked_accounts")), key=lambda r: r["tracked_accounts"])
    over = {str(r["accounts"]): {p: round((rss(r, p) - r["idle"]["rss_bytes"]) / r["tracked_accounts"], 1)
                                 for p in points} for r in runs}
    between = []
    for a, b in itertools.pairwise(runs):
        d = b["tracked_accounts"] - a["tracked_accounts"]
        between.append({"from": a["accounts"], "to": b["accounts"],
                        **{p: round((rss(b, p) - rss(a, p)) / d, 1) for p in points}})
    return {"over_idle": over, "between": between}


def step_worker(args: argparse.Namespace, work: Path, doc: dict[str, Any], bootstrap: str,
                kafka_pid: int | None) -> None:
    sizes = sorted(args.sizes)
    runs: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    doc["worker"] = {"runs": runs, "skipped": skipped, "max_accounts_setting": max_accounts(args)}
    for n in sizes:
        if n > 100_000 and runs:
            p, why = projection(runs, n, args.max_rss_share, args.max_size_s, memory_info())
            if why is not None:
                log(f"skipping {n:,} accounts: {why}")
                skipped.append({"accounts": n, "reason": why, "projection": p})
                continue
            log(f"{n:,} accounts: projected peak RSS {p['projected_peak_rss_bytes'] / 1e9:,.1f} GB, "
                f"~{p['projected_load_seconds']:,} s: running")
        log(f"worker with {n:,} accounts ...")
        runs.append(measure_worker(bootstrap, kafka_pid, work, n, args, max_accounts(args)))
        doc["worker"]["slopes"] = worker_slopes(runs)
        write_json(args.out, doc)  # partial results survive a later failure


def max_accounts(args: argparse.Namespace) -> int:
    """STREAM_GUARD_MAX_ACCOUNTS of every worker: above the largest size (it is per partition)."""
    return 2 * max([*args.sizes, args.traced_size])


# --------------------------------------------------------------------------- traced worker

class ProbedWorker(WorkerProcess):
    """A real worker that can be asked about its memory: the ``stream-guard worker`` command
    (``stream_guard.cli.main(["worker"])``, same environment, ports and data dir as
    :class:`WorkerProcess`) run by this script (``--probe-worker DIR``) with one more thread,
    idle but for :meth:`probe` requests (a file poll every 0.3 s): its allocators' statistics
    (glibc malloc, pymalloc), optionally ``gc.collect()`` + ``malloc_trim(0)`` and the RSS after.

    ``trace``: under ``tracemalloc`` too (a heap snapshot and a census of the detection
    structures with every probe; several times slower, and pymalloc's statistics are not
    available then): for the breakdown only."""

    def __init__(self, *args: Any, snap_dir: Path, trace: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.snap_dir = snap_dir
        self.trace = trace
        snap_dir.mkdir(parents=True, exist_ok=True)

    def launch(self) -> ProbedWorker:
        cmd = [PY, str(Path(__file__).resolve()), "--probe-worker", str(self.snap_dir)]
        self.proc = spawn(cmd + (["--probe-trace"] if self.trace else []), self.log_path, self.env,
                          cwd=self.code_dir, memory_limit_bytes=self.memory_limit_bytes)
        return self

    def probe(self, name: str, trim: bool = False, timeout: float = 300.0) -> tuple[Any, dict[str, Any]]:
        """(tracemalloc snapshot or ``None``, allocator statistics) of the worker now; ``trim``:
        then ``gc.collect()`` and ``malloc_trim(0)``, with the statistics after (``after_trim``)."""
        import tracemalloc

        done = self.snap_dir / f"{name}.json"
        request = self.snap_dir / f"{name}.request"
        request.with_suffix(".tmp").write_text(json.dumps({"trim": trim}))
        request.with_suffix(".tmp").rename(request)
        t0 = time.monotonic()
        while not done.exists():
            _alive(self)
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"no heap snapshot {name} from the traced worker in {timeout:.0f} s")
            time.sleep(0.3)
        snap = self.snap_dir / f"{name}.snap"
        return (tracemalloc.Snapshot.load(str(snap)) if snap.exists() else None), json.loads(done.read_text())


def pymalloc_stats() -> dict[str, int]:
    """pymalloc's arenas of this process (``sys._debugmallocstats``, which writes to fd 2)."""
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode(errors="replace")
    wanted = {"# arenas allocated current": "arenas", "# bytes in allocated blocks": "allocated_blocks_bytes",
              "# bytes in available blocks": "available_blocks_bytes", "unused pools": "unused_pools_bytes",
              "Total": "total_bytes"}
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, value = line.rpartition("=")
        if not sep:
            continue
        for prefix, name in wanted.items():
            if prefix in key and name not in out:
                with contextlib.suppress(ValueError):
                    out[name] = int(value.strip().replace(",", ""))
    return out


def allocator_stats() -> dict[str, Any]:
    """RSS, glibc malloc's totals over all its arenas (``mallinfo2``) and arena count
    (``malloc_info``), pymalloc's arenas, and what tracemalloc traces, of this process."""
    import ctypes
    import tracemalloc

    out: dict[str, Any] = {"rss_bytes": rss_bytes(os.getpid())}
    libc = ctypes.CDLL("libc.so.6")

    class MallInfo2(ctypes.Structure):
        _fields_ = [(f, ctypes.c_size_t) for f in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]

    with contextlib.suppress(AttributeError, OSError):
        libc.mallinfo2.restype = MallInfo2
        m = libc.mallinfo2()
        out["glibc"] = {"heap_bytes": m.arena, "mmap_bytes": m.hblkhd, "in_use_bytes": m.uordblks,
                        "free_bytes": m.fordblks, "top_releasable_bytes": m.keepcost}
    with contextlib.suppress(AttributeError, OSError), tempfile.NamedTemporaryFile(suffix=".xml") as tmp:
        libc.fopen.restype = ctypes.c_void_p
        fp = libc.fopen(tmp.name.encode(), b"w")
        libc.malloc_info(0, ctypes.c_void_p(fp))
        libc.fclose(ctypes.c_void_p(fp))
        out.setdefault("glibc", {})["arenas"] = Path(tmp.name).read_text().count("<heap nr=")
    out["pymalloc"] = pymalloc_stats()
    if tracemalloc.is_tracing():
        out["tracemalloc_traced_bytes"] = tracemalloc.get_traced_memory()[0]
        out["tracemalloc_own_bytes"] = tracemalloc.get_tracemalloc_memory()
    return out


def census() -> dict[str, Any]:
    """What the worker's detection structures hold, found among the live objects (read only)."""
    from stream_guard.core.detector import Detector
    from stream_guard.core.linking.clusters import ClusterBook
    from stream_guard.core.linking.index import AttributeIndex
    from stream_guard.stream.linking import AttributeStage, ProfileOutbox

    kinds = (Detector, AttributeIndex, ClusterBook, AttributeStage, ProfileOutbox)
    found: dict[type, list[Any]] = {k: [] for k in kinds}
    for obj in gc.get_objects():
        for k in kinds:
            if type(obj) is k:
                found[k].append(obj)
    dets, indexes, books = found[Detector], found[AttributeIndex], found[ClusterBook]
    pending_at: dict[str, int] = {}
    for i in indexes:
        for prof in i._pending:
            pending_at[str(prof.at)] = pending_at.get(str(prof.at), 0) + 1
    return {
        "detectors": len(dets), "accounts": sum(len(d.accounts) for d in dets),
        "open_intervals": sum(len(d.links._open) for d in dets if d.links is not None),
        "mixture_accounts": sum(len(d.links.mixture) for d in dets if d.links is not None),
        "dedup_ids": sum(len(d._ids_cur) + len(d._ids_prev) for d in dets),
        "max_ts": max((d.max_ts for d in dets), default=None),
        "indexes": len(indexes), "attribute_values": sum(len(i) for i in indexes),
        "attribute_members": sum(i.members() for i in indexes),
        "index_pending_profiles": sum(len(i._pending) for i in indexes), "index_pending_at": pending_at,
        "stage_evaluated": [dict(st.evaluated) for st in found[AttributeStage]],
        "stage_frontiers": [{p: f.export() for p, f in st.frontiers.items()} for st in found[AttributeStage]],
        "outbox_messages": sum(len(o._messages) for o in found[ProfileOutbox]),
        "cluster_links": sum(len(b.links) for b in books),
        "cluster_link_member_rows": sum(len(v.members) for b in books for v in b.links.values()),
        "account_cluster": sum(len(b.account_cluster) for b in books),
        "member_gates": sum(len({a for g in b.member_gates.values() for a in g}) for b in books),
        "book_pending": sum(len(b._pending) for b in books),
    }


def probed_worker_main(snap_dir: Path, trace: bool) -> int:
    """The body of ``--probe-worker``: (``trace``: tracemalloc on,) a thread answering probe
    requests (``NAME.request`` in ``snap_dir`` -> ``NAME.json``, and ``NAME.snap`` when
    tracing), then the worker command."""
    import ctypes
    import tracemalloc

    if trace:
        tracemalloc.start(1)

    def answer() -> None:
        while True:
            for request in sorted(snap_dir.glob("*.request")):
                options = json.loads(request.read_text() or "{}")
                result: dict[str, Any] = {"before": allocator_stats()}
                if trace:
                    try:
                        result["census"] = census()
                    except Exception as exc:  # noqa: BLE001 - a diagnosis: never stop the worker
                        result["census"] = {"error": repr(exc)}
                    tracemalloc.take_snapshot().dump(str(snap_dir / f"{request.stem}.snap"))
                if options.get("trim"):
                    gc.collect()
                    result["trimmed"] = ctypes.CDLL("libc.so.6").malloc_trim(0)
                    result["after_trim"] = allocator_stats()
                (snap_dir / f"{request.stem}.tmp").write_text(json.dumps(result))
                (snap_dir / f"{request.stem}.tmp").rename(snap_dir / f"{request.stem}.json")
                request.unlink()
            time.sleep(0.3)

    threading.Thread(target=answer, daemon=True, name="heap-snapshots").start()
    from stream_guard.cli import main as cli_main

    return cli_main(["worker"])


def step_traced(args: argparse.Namespace, work: Path, doc: dict[str, Any], bootstrap: str,
                kafka_pid: int | None) -> None:
    """The worker process's own Python heap by part: idle, drained and settled (see the module doc)."""
    n = args.traced_size
    names = unique_names(f"wmt{n}")
    topic = names["STREAM_GUARD_INPUT_TOPIC"]
    create_topics(bootstrap, [topic], PARTITIONS)
    env = {**names, "STREAM_GUARD_TOPIC_PARTITIONS": str(PARTITIONS),
           "STREAM_GUARD_MAX_ACCOUNTS": str(max_accounts(args)), **args.worker_env}
    worker = ProbedWorker(bootstrap, env, work / "traced-data", work / "traced.worker.log",
                          snap_dir=work / "traced-snapshots", trace=True)
    res: dict[str, Any] = {"accounts": n, "traffic_command": traffic_command(n, args),
                           "command": f"python bench/worker_memory.py --probe-worker DIR --probe-trace "
                                      f"(stream-guard worker under tracemalloc), {n:,} accounts"}
    doc["traced_worker"] = res
    t0 = time.monotonic()
    log(f"traced worker (tracemalloc) with {n:,} accounts ...")
    worker.start(ready_timeout=300)
    sampler = Sampler(worker, kafka_pid, interval=0.5).start()
    try:
        time.sleep(args.idle_s)
        idle, res["idle_allocators"] = worker.probe("idle")
        res["idle"] = snapshot(worker, t0)
        produced, _, _, last_ts = produce_traffic(bootstrap, topic, n, args)
        res["produced_events"] = produced
        wait_accounted(worker, sampler, produced, max(900.0, produced / 50.0))
        res["load_seconds"] = round(time.monotonic() - t0, 1)
        res["drained"] = snapshot(worker, t0)
        heap, res["drained_allocators"] = worker.probe("drained")
        res["drained"]["heap"] = breakdown_of(heap, idle)
        log(f"  traced worker drained: Python heap +{res['drained']['heap']['total'] / n:,.0f} B/account; settling")
        res["settle"] = wait_settled(worker, t0, last_ts, args.settle_s, args.settle_timeout)
        res["settled"] = snapshot(worker, t0)
        heap, res["settled_allocators"] = worker.probe("settled", trim=True)
        res["settled"]["heap"] = breakdown_of(heap, idle)
        res["tracked_accounts"] = res["settled"]["tracked_accounts"]
        a = res["settled_allocators"]
        log(f"  traced worker settled: Python heap +{res['settled']['heap']['total'] / n:,.0f} B/account, RSS "
            f"+{(res['settled']['rss_bytes'] - res['idle']['rss_bytes']) / n:,.0f} B/account (tracemalloc's "
            f"own overhead included); RSS {a['before']['rss_bytes'] / 1e6:,.0f} MB -> "
            f"{(a.get('after_trim') or {}).get('rss_bytes', 0) / 1e6:,.0f} MB after gc + malloc_trim")
    finally:
        sampler.stop()
        res["exit_code"] = worker.stop()


# --------------------------------------------------------------------------- in-process flow

#: Parts of the detection flow's memory: (category, path suffixes); the first that matches wins.
#: detector.py is split by function / line below.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("account states", ("core/state.py", "core/window.py", "core/recent.py", "core/neardup.py",
                        "core/features.py", "core/alerts.py", "core/signals.py")),
    ("profile builder (open intervals, value caches)", ("core/linking/profile.py", "core/linking/attributes.py")),
    ("mixture detector", ("core/linking/mixture.py",)),
    ("checkpoint bookkeeping", ("core/checkpoint.py", "core/state_record.py")),
    ("attribute index", ("core/linking/index.py",)),
    ("cluster book", ("core/linking/clusters.py",)),
    ("population models", ("/river/", "core/models.py", "core/scoring.py", "core/rules.py")),
    ("decoded strings kept (account ids, raw field values)", ("contracts/codec.py", "contracts/")),
    ("flow and linking pipeline", ("core/flow.py", "core/linking/pipeline.py", "core/linking/likeness.py")),
    ("worker edge: linking stages (decoded profiles), runtime, app", ("stream_guard/stream/",)),
    ("Faust, mode, aiokafka (client buffers, records)", ("/faust/", "/mode/", "/aiokafka/", "/kafka/")),
    ("prometheus_client", ("/prometheus_client/",)),
    ("asyncio", ("/asyncio/",)),
)
DETECTOR = "core/detector.py"


@functools.cache
def _functions(path: str) -> list[tuple[int, int, str]]:
    """(first line, last line, name) of every function in a source file (innermost last)."""
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError, ValueError):
        return []
    return sorted((n.lineno, n.end_lineno or n.lineno, n.name) for n in ast.walk(tree)
                  if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))


def function_at(path: str, lineno: int) -> str | None:
    """The innermost function of ``path`` holding line ``lineno``."""
    found = None
    for first, last, name in _functions(path):
        if first <= lineno <= last:
            found = name
    return found


def classify(path: str, lineno: int) -> str:
    """The part of the flow's memory an allocation site belongs to.

    >>> import stream_guard.core.detector as d, stream_guard.core.window as w
    >>> classify(w.__file__, 60), classify("/x/site-packages/river/tree/base.py", 3)
    ('account states', 'population models')
    >>> classify(d.__file__, d.Detector._new_state.__code__.co_firstlineno + 1)
    'account states'
    """
    p = path.replace(os.sep, "/")
    if p.endswith(DETECTOR):
        fn = function_at(path, lineno)
        text = linecache.getline(path, lineno)
        if fn in ("_new_state", "restore"):
            return "account states"
        if "_ids" in text or 'event["event_id"]' in text:
            return "event-id dedup (bounded per partition)"
        if fn == "take_dirty":
            return "checkpoint bookkeeping"
        return "detector schedules, accounts dict, dirty set"
    for part, suffixes in PARTS:
        if any(s in p for s in suffixes):
            return part
    return "other (interpreter, libraries)"


def _traced(snapshot: Any) -> Any:
    import tracemalloc

    return snapshot.filter_traces([
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, linecache.__file__),  # this report's own source lines
        tracemalloc.Filter(False, "*/stream_guard/loadgen/*"),  # the benchmark's traffic generator
        tracemalloc.Filter(False, __file__),
        tracemalloc.Filter(False, "<unknown>"),
    ])


def breakdown_of(snapshot: Any, base: Any, top: int = 25) -> dict[str, Any]:
    """Growth since ``base`` by part, and the top allocation lines."""
    stats = _traced(snapshot).compare_to(_traced(base), "lineno")
    parts: dict[str, int] = {}
    lines = []
    for s in stats:
        if not s.size_diff:
            continue
        frame = s.traceback[0]
        part = classify(frame.filename, frame.lineno)
        parts[part] = parts.get(part, 0) + s.size_diff
        lines.append((s.size_diff, s.count_diff, frame.filename, frame.lineno, part))
    lines.sort(reverse=True)
    short = str(REPO) + os.sep
    return {"bytes": dict(sorted(parts.items(), key=lambda kv: -kv[1])), "total": sum(parts.values()),
            "top_lines": [{"bytes": b, "blocks": c, "where": f"{f.replace(short, '')}:{ln}", "part": part,
                           "code": linecache.getline(f, ln).strip()[:120]} for b, c, f, ln, part in lines[:top]]}


def inprocess(accounts: int, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """The flow over the traffic of ``accounts`` accounts in this process (see the module doc)."""
    from stream_guard.contracts import decode_message
    from stream_guard.core.checkpoint import BlobCheckpoints, PartitionCheckpoints
    from stream_guard.core.flow import Flow, InProcessLinking
    from stream_guard.settings import Settings
    from stream_guard.stream.linking import DELTA_PASSES

    s = Settings.from_env(max_accounts=2 * accounts + 10)
    links = InProcessLinking(s, clock=lambda: 0.0)
    flow = Flow(s, links, partitions=PARTITIONS, clock=lambda: 0.0)
    pipeline = links.pipeline
    writers = {p: PartitionCheckpoints(p) for p in range(PARTITIONS)}
    index_cp, book_cp = BlobCheckpoints("0@attributes"), BlobCheckpoints("clusters")
    gen = generator(accounts, args)
    lines = gen.lines()
    first = next(lines)  # the generator's own per-run tables exist before the baseline
    b = batcher(cache=False)
    offsets = [0] * PARTITIONS
    counts = {"events": 0, "alerts": 0, "dead_letters": 0}

    def handle(p: int, payload: bytes) -> None:
        msg = decode_message(payload, max_bytes=s.max_message_bytes, max_batch=s.max_batch_events)
        counts["dead_letters"] += len(msg.dead_letters)
        for event, ts in msg.events:
            flow.process(p, event, ts, offsets[p])
        offsets[p] += 1
        counts["events"] += len(msg.events)

    def checkpoint_pass() -> int:
        n = 0
        for p, det in flow.detectors.items():
            n += sum(1 for _ in writers[p].records(det, offsets[p]))
        # as the worker's stages do (stream/linking.py): what changed, or the whole index / book
        delta = index_cp.changes_will_do(DELTA_PASSES)
        index = pipeline.index.checkpoint_data(changes=delta)
        n += len(list(index_cp.records({"index": index}, counts["events"], delta=delta)))
        delta = book_cp.changes_will_do(DELTA_PASSES)  # the cluster stage's too
        book = pipeline.book.checkpoint_data(changes=delta)
        n += len(list(book_cp.records({"book": book}, counts["events"], delta=delta)))
        return n

    def tick() -> None:
        wm = min((d.max_ts for d in flow.detectors.values() if d.max_ts > 0), default=0.0)
        if wm > 0:
            counts["alerts"] += len(flow.advance(wm))

    def sizes() -> dict[str, Any]:
        dets = list(flow.detectors.values())
        return {"accounts": sum(len(d.accounts) for d in dets),
                "open_intervals": sum(len(d.links._open) for d in dets if d.links is not None),
                "mixture_accounts": sum(len(d.links.mixture) for d in dets if d.links is not None),
                "dedup_ids": sum(len(d._ids_cur) + len(d._ids_prev) for d in dets),
                "attribute_values": len(pipeline.index), "attribute_members": pipeline.index.members(),
                "cluster_links": len(pipeline.book.links), "alerts": counts["alerts"]}

    tracing = mode == "tracemalloc"
    gc.collect()
    if tracing:
        import tracemalloc

        tracemalloc.start()
        base_snap = tracemalloc.take_snapshot()
    rss0 = rss_bytes(os.getpid()) or 0
    t0 = time.perf_counter()
    next_tick, next_checkpoint = TICK_EVENTS, CHECKPOINT_EVENTS
    for key, line in _chain(first, lines):
        for _k, p, payload in b.add(key, line, 0.0):
            handle(p, payload)
        if counts["events"] >= next_tick:
            tick()
            next_tick += TICK_EVENTS
        if counts["events"] >= next_checkpoint:
            checkpoint_pass()
            next_checkpoint += CHECKPOINT_EVENTS
    for _, p, payload in b.flush_all():
        handle(p, payload)
    tick()
    seconds = time.perf_counter() - t0
    del lines, first
    out: dict[str, Any] = {"accounts": accounts, "mode": mode, "events": counts["events"],
                           "dead_letters": counts["dead_letters"], "seconds": round(seconds, 2),
                           "events_per_s": round(counts["events"] / seconds, 1)}
    gc.collect()
    out["drained"] = {"sizes": sizes(), "rss_growth_bytes": (rss_bytes(os.getpid()) or 0) - rss0}
    if tracing:
        out["drained"]["tracemalloc"] = breakdown_of(tracemalloc.take_snapshot(), base_snap)
    newest = max(d.max_ts for d in flow.detectors.values())
    counts["alerts"] += len(flow.advance(newest + s.eval_interval_s + s.idle_grace_s))  # the idle flush
    gc.collect()
    if tracing:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
    started = time.perf_counter()
    records = checkpoint_pass()  # every account changed at the flush: a full pass
    out["full_checkpoint_pass"] = {"records": records, "seconds": round(time.perf_counter() - started, 3)}
    if tracing:
        out["full_checkpoint_pass"]["transient_peak_bytes"] = tracemalloc.get_traced_memory()[1] - before
    gc.collect()
    out["settled"] = {"sizes": sizes(), "rss_growth_bytes": (rss_bytes(os.getpid()) or 0) - rss0}
    if tracing:
        out["settled"]["tracemalloc"] = breakdown_of(tracemalloc.take_snapshot(), base_snap)
        tracemalloc.stop()
    return out


def _chain(first: tuple[bytes, bytes], rest: Iterator[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
    yield first
    yield from rest


def run_inprocess(accounts: int, mode: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """:func:`inprocess` in a fresh process (this script with ``--child``)."""
    out = work / f"inprocess-{mode}-{accounts}.json"
    cmd = [PY, str(Path(__file__).resolve()), "--child", str(accounts), "--child-mode", mode,
           "--child-out", str(out), "--seed", str(args.seed), "--traffic", args.traffic,
           "--hydra-rate", str(args.hydra_rate)]
    log(f"in-process flow, {accounts:,} accounts, {mode} ...")
    wall = run(cmd, work / f"inprocess-{mode}-{accounts}.log", timeout=args.child_timeout)
    res: dict[str, Any] = json.loads(out.read_text())
    res["wall_s"] = round(wall, 1)
    res["command"] = f"python bench/worker_memory.py --child {accounts} --child-mode {mode} (fresh process)"
    log(f"  {res['events']:,} events at {res['events_per_s']:,.0f}/s; settled RSS growth "
        f"{res['settled']['rss_growth_bytes'] / accounts:,.0f} B/account")
    return res


def part_slopes(runs: list[dict[str, Any]], point: str) -> list[dict[str, Any]]:
    """Per part, bytes per account between consecutive sizes of tracemalloc runs.

    >>> def run(n, b): return {"accounts": n, "settled": {"tracemalloc": {"bytes": {"x": b}, "total": b}}}
    >>> part_slopes([run(10, 100), run(20, 300)], "settled")
    [{'from': 10, 'to': 20, 'bytes_per_account': {'x': 20.0}, 'total': 20.0}]
    """
    runs = sorted(runs, key=lambda r: r["accounts"])
    out = []
    for a, b in itertools.pairwise(runs):
        ta, tb = a[point]["tracemalloc"], b[point]["tracemalloc"]
        d = b["accounts"] - a["accounts"]
        parts = set(ta["bytes"]) | set(tb["bytes"])
        slope = {p: round((tb["bytes"].get(p, 0) - ta["bytes"].get(p, 0)) / d, 1) for p in parts}
        out.append({"from": a["accounts"], "to": b["accounts"],
                    "bytes_per_account": dict(sorted(slope.items(), key=lambda kv: -kv[1])),
                    "total": round((tb["total"] - ta["total"]) / d, 1)})
    return out


def rss_slopes(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """RSS growth per account between consecutive sizes of in-process runs."""
    runs = sorted(runs, key=lambda r: r["accounts"])
    return [{"from": a["accounts"], "to": b["accounts"],
             **{p: round((b[p]["rss_growth_bytes"] - a[p]["rss_growth_bytes"]) / (b["accounts"] - a["accounts"]), 1)
                for p in ("drained", "settled")}} for a, b in itertools.pairwise(runs)]


# --------------------------------------------------------------------------- report

def _mb(x: float | None) -> str:
    return f"{x / 1e6:,.0f}" if x is not None else "-"


def _b(x: float | None) -> str:
    return f"{x:,.0f}" if x is not None else "-"


def tables(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, markdown table) of every result section present."""
    out: list[tuple[str, str]] = []
    w = doc.get("worker") or {}
    runs = sorted(w.get("runs") or [], key=lambda r: r["accounts"])
    if runs:
        rows = [[f"{r['accounts']:,}", _b(r["tracked_accounts"]), _mb(r["idle"]["rss_bytes"]),
                 _mb(r["drained"]["rss_bytes"]), _mb(r["settled"]["rss_bytes"]), _mb(r["after_rounds"]["rss_bytes"]),
                 _mb(r["peak_rss_bytes"]), _mb(r["settled"]["metrics_rss_bytes"])] for r in runs]
        out.append(("worker process RSS (MB)", md_table(
            ["accounts", "tracked", "idle", "drained", "settled", "after rounds", "peak (VmHWM)",
             "settled (/metrics)"], rows, set(range(8)))))
        sl = w.get("slopes") or {}
        rows = [[f"over idle at {k}", *(_b(v[p]) for p in ("drained", "settled", "after_rounds", "peak"))]
                for k, v in (sl.get("over_idle") or {}).items()]
        rows += [[f"slope {b['from']:,} -> {b['to']:,}", *(_b(b[p]) for p in ("drained", "settled", "after_rounds",
                                                                             "peak"))]
                 for b in sl.get("between") or []]
        out.append((f"worker RSS per tracked account (bytes; target <= {TARGET_BYTES_PER_ACCOUNT:,.0f})", md_table(
            ["", "drained", "settled", "after rounds", "peak"], rows, {1, 2, 3, 4})))
        rows = []
        for r in runs:
            t = r["throughput"]
            rs = r["rounds"]
            rows.append([f"{r['accounts']:,}", _b(t["median"]), f"{_b(t['min'])}-{_b(t['max'])}",
                         ", ".join(_b(x.get("events_per_s_all")) for x in rs),
                         _b(per_cpu(r)), ", ".join(str(x.get("worker_cpu_cores")) for x in rs),
                         ", ".join(str(x.get("other_load_cores")) for x in rs),
                         _b(r["load_events_per_s"]), str(r["settle"]["idle_worker_cpu_cores"]),
                         f"{r['settle']['idle_checkpoint_seconds']} / {r['settle']['idle_window_s']}"])
        out.append(("worker throughput: a batch of further events of already-tracked accounts", md_table(
            ["accounts", "events/s median (drain)", "min-max", "first-to-last per round",
             "events per worker CPU-s (median)", "worker CPU (cores)", "others (cores)", "initial load events/s",
             "idle CPU (cores)", "idle checkpoint s / window s"], rows, {1, 4, 7})))
    for s in w.get("skipped") or []:
        out.append((f"skipped: {s['accounts']:,} accounts", s["reason"]))
    for r in runs:
        a = r.get("allocators") or {}
        rows = allocator_rows([(a.get(p) or {}).get("before") for p in ("idle", "drained", "settled", "after_rounds")]
                              + [(a.get("after_rounds") or {}).get("after_trim")])
        if rows:
            out.append((f"where the worker's RSS is, {r['accounts']:,} accounts (MB; pymalloc's arenas are mmapped, "
                        "outside glibc's figures)", md_table(
                            ["", "idle", "drained", "settled", "after rounds", "after rounds, gc + malloc_trim(0)"],
                            rows, {1, 2, 3, 4, 5})))
    tw = doc.get("traced_worker") or {}
    if (tw.get("settled") or {}).get("heap"):
        n = tw["accounts"]
        dr, se = tw["drained"]["heap"], tw["settled"]["heap"]
        parts = list(dict.fromkeys([*se["bytes"], *dr["bytes"]]))
        rows = [[p, _b(dr["bytes"].get(p, 0) / n), _b(se["bytes"].get(p, 0) / n)] for p in parts]
        rows.append(["**total traced**", _b(dr["total"] / n), _b(se["total"] / n)])
        rows.append(["RSS growth over idle (tracemalloc's own overhead included)",
                     _b((tw["drained"]["rss_bytes"] - tw["idle"]["rss_bytes"]) / n),
                     _b((tw["settled"]["rss_bytes"] - tw["idle"]["rss_bytes"]) / n)])
        out.append((f"the worker process's Python heap over idle by part, {n:,} accounts (traced worker, bytes "
                    "per account)", md_table(["part", "drained", "settled"], rows, {1, 2})))
        settled = tw.get("settled_allocators") or {}
        rows = allocator_rows([(tw.get("idle_allocators") or {}).get("before"),
                               (tw.get("drained_allocators") or {}).get("before"), settled.get("before"),
                               settled.get("after_trim")])
        if rows:
            out.append((f"where the traced worker's RSS is, {n:,} accounts (MB; pymalloc arenas are mmapped, "
                        "outside glibc's figures)", md_table(
                            ["", "idle", "drained", "settled", "settled, after gc + malloc_trim(0)"], rows,
                            {1, 2, 3, 4})))
        rows = [[_b(x["bytes"] / n), x["part"], f"`{x['where']}`", f"`{x['code']}`"] for x in se["top_lines"][:15]]
        out.append((f"top allocation lines of the traced worker, {n:,} accounts, settled (bytes per account)",
                    md_table(["B/account", "part", "where", "code"], rows, {0})))
    ip = doc.get("inprocess") or {}
    if ip.get("runs"):
        rows = [[f"{r['accounts']:,}", _b(r["events_per_s"]), _b(r["drained"]["rss_growth_bytes"] / r["accounts"]),
                 _b(r["settled"]["rss_growth_bytes"] / r["accounts"]),
                 f"{r['full_checkpoint_pass']['seconds']} s"] for r in sorted(ip["runs"], key=lambda r: r["accounts"])]
        rows += [[f"slope {s['from']:,} -> {s['to']:,}", "", _b(s["drained"]), _b(s["settled"]), ""]
                 for s in ip.get("slopes") or []]
        out.append(("in-process Flow + InProcessLinking, RSS growth per account (bytes)", md_table(
            ["accounts", "events/s", "drained", "settled", "full checkpoint pass"], rows, {1, 2, 3})))
    bd = doc.get("breakdown") or {}
    if bd.get("runs"):
        runs_b = sorted(bd["runs"], key=lambda r: r["accounts"])
        parts: list[str] = []
        for r in runs_b:
            for p in r["settled"]["tracemalloc"]["bytes"]:
                if p not in parts:
                    parts.append(p)
        slopes = {pt: (bd.get("slopes") or {}).get(pt) or [] for pt in ("drained", "settled")}
        header = ["part", *(f"{r['accounts']:,} settled" for r in runs_b)]
        header += [f"slope {s['from']:,}->{s['to']:,} {pt}" for pt in ("drained", "settled") for s in slopes[pt]]
        rows = []
        for p in parts:
            rows.append([p, *(_b(r["settled"]["tracemalloc"]["bytes"].get(p, 0) / r["accounts"]) for r in runs_b),
                         *(_b(s["bytes_per_account"].get(p)) for pt in ("drained", "settled") for s in slopes[pt])])
        rows.append(["**total traced**", *(_b(r["settled"]["tracemalloc"]["total"] / r["accounts"]) for r in runs_b),
                     *(_b(s["total"]) for pt in ("drained", "settled") for s in slopes[pt])])
        out.append(("breakdown: Python heap per account by part (tracemalloc, bytes)",
                    md_table(header, rows, set(range(1, len(header))))))
        big = runs_b[-1]
        rows = [[_b(x["bytes"] / big["accounts"]), x["part"], f"`{x['where']}`", f"`{x['code']}`"]
                for x in big["settled"]["tracemalloc"]["top_lines"][:15]]
        out.append((f"top allocation lines at {big['accounts']:,} accounts, settled (bytes per account)",
                    md_table(["B/account", "part", "where", "code"], rows, {0})))
    return out


def per_cpu(run: dict[str, Any]) -> float | None:
    """Median events per worker CPU-second over a size's rounds (less sensitive to the other
    processes on a shared machine than events/s)."""
    values = [x.get("events_per_worker_cpu_s") or (x["events_per_s_all"] / x["worker_cpu_cores"]
                                                   if x.get("events_per_s_all") and x.get("worker_cpu_cores") else None)
              for x in run.get("rounds") or []]
    present = [v for v in values if v]
    return round(statistics.median(present), 1) if present else None


def allocator_rows(points: list[dict[str, Any] | None]) -> list[list[str]]:
    """Rows of allocator statistics (:func:`allocator_stats`), one column per point."""
    if not any(points):
        return []

    def get(point: dict[str, Any] | None, *path: str) -> float | None:
        value: Any = point
        for key in path:
            value = (value or {}).get(key)
        return value

    def free_py(point: dict[str, Any] | None) -> float | None:
        a, u = get(point, "pymalloc", "available_blocks_bytes"), get(point, "pymalloc", "unused_pools_bytes")
        return a + u if a is not None and u is not None else None

    rows = [("RSS", lambda x: get(x, "rss_bytes")),
            ("pymalloc arenas (objects <= 512 B)", lambda x: get(x, "pymalloc", "total_bytes")),
            ("  of which in live blocks", lambda x: get(x, "pymalloc", "allocated_blocks_bytes")),
            ("  of which free (blocks, empty pools)", free_py),
            ("glibc malloc in use (larger objects, C/C++)", lambda x: get(x, "glibc", "in_use_bytes")),
            ("glibc malloc free, kept in its arenas", lambda x: get(x, "glibc", "free_bytes")),
            ("glibc mmapped blocks", lambda x: get(x, "glibc", "mmap_bytes")),
            ("tracemalloc: traced Python heap", lambda x: get(x, "tracemalloc_traced_bytes")),
            ("tracemalloc: its own traces", lambda x: get(x, "tracemalloc_own_bytes"))]
    out = [[name, *(_mb(f(p)) for p in points)] for name, f in rows]
    out.append(["glibc arenas", *(str(get(p, "glibc", "arenas") or "-") for p in points)])
    return out


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The targets against what was measured."""
    w = doc.get("worker") or {}
    sl = w.get("slopes") or {}
    between = sl.get("between") or []
    per = between[-1]["settled"] if between else None
    runs = sorted(w.get("runs") or [], key=lambda r: r["accounts"])
    rates = {str(r["accounts"]): r["throughput"]["median"] for r in runs}
    cpu = {str(r["accounts"]): per_cpu(r) for r in runs}
    vals = [v for v in rates.values() if v]
    cvals = [v for v in cpu.values() if v]
    return {
        "bytes_per_tracked_account": {
            "target": TARGET_BYTES_PER_ACCOUNT, "measured_slope_settled": per,
            "measured_over_idle_settled": {k: v["settled"] for k, v in (sl.get("over_idle") or {}).items()},
            "reached": (per <= TARGET_BYTES_PER_ACCOUNT) if per is not None else None,
            "note": "worker process RSS slope between the two largest sizes, settled"},
        "throughput_flat": {
            "target": "flat from 10k to 1M tracked accounts", "measured_events_per_s": rates,
            "largest_over_smallest": round(vals[-1] / vals[0], 3) if len(vals) > 1 else None,
            "measured_events_per_worker_cpu_s": cpu,
            "per_cpu_largest_over_smallest": round(cvals[-1] / cvals[0], 3) if len(cvals) > 1 else None,
            "sizes_skipped": [s["accounts"] for s in w.get("skipped") or []]},
    }


def print_report(doc: dict[str, Any]) -> str:
    lines = [f"stream-guard worker memory ({doc.get('label', '')}): commit "
             f"{((doc.get('machine') or {}).get('git') or {}).get('commit', '?')[:10]}, "
             f"{(doc.get('machine') or {}).get('date')}", ""]
    for title, table in tables(doc):
        lines += [f"## {title}", "", table, ""]
    s = doc.get("summary") or {}
    bpa = s.get("bytes_per_tracked_account") or {}
    if bpa:
        verdict = {True: "reached", False: "NOT reached", None: "not measured"}[bpa.get("reached")]
        lines.append(f"target <= {TARGET_BYTES_PER_ACCOUNT:,.0f} B per tracked account (worker, slope, settled): "
                     f"{_b(bpa.get('measured_slope_settled'))} -> {verdict}")
    flat = s.get("throughput_flat") or {}
    if flat.get("measured_events_per_s"):
        lines.append("throughput (median events/s): " + ", ".join(
            f"{int(k):,}: {_b(v)}" for k, v in flat["measured_events_per_s"].items())
            + f"; largest/smallest {flat.get('largest_over_smallest')} (per worker CPU-second: "
            f"{flat.get('per_cpu_largest_over_smallest')})")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main

def _sizes(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x.strip()]


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench/worker_memory.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", default=",".join(STEPS),
                   help=f"comma-separated subset of {','.join(STEPS)} (default all)")
    p.add_argument("--traced-size", type=int, default=20_000,
                   help="accounts of the traced worker (step traced; default 20,000; ~4x slower than a worker)")
    p.add_argument("--sizes", default=None, help=f"tracked accounts per worker run (default {DEFAULT_SIZES}; "
                                                 "sizes above 100k only if the projected memory and time allow)")
    p.add_argument("--inprocess-sizes", default=None, help="accounts per in-process RSS run (default: --sizes, "
                                                           "at most 100k each)")
    p.add_argument("--breakdown-sizes", default="10000,20000",
                   help="accounts per tracemalloc run (default 10000,20000; slow: ~8 s per 1,000 accounts)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: sizes 5k and 10k, one round, in-process at 5k and 10k, breakdown at 2k and 5k")
    p.add_argument("--traffic", choices=("hydra", "unlinked"), default="hydra",
                   help="hydra: the load generator's hydra (shared IPs, cards, client fingerprint, system prompt: "
                        "its accounts cluster); unlinked: each account its own (default hydra)")
    p.add_argument("--hydra-rate", type=float, default=72.0,
                   help="requests per account per day over the one hour of traffic (default 72: ~3 per account)")
    p.add_argument("--seed", type=int, default=11, help="load generator seed (default 11)")
    p.add_argument("--rounds", type=int, default=3, help="throughput rounds per size (default 3)")
    p.add_argument("--batch-accounts", type=int, default=10_000,
                   help="accounts whose events make each throughput batch (default 10,000)")
    p.add_argument("--batch-repeat", type=int, default=2,
                   help="times each of their (~3) events is sent per batch (default 2: ~60k events per batch)")
    p.add_argument("--batch-span-s", type=float, default=600.0,
                   help="event-time seconds each throughput batch spans (default 600)")
    p.add_argument("--idle-s", type=float, default=5.0, help="seconds to wait after ready before the idle RSS")
    p.add_argument("--settle-s", type=float, default=20.0,
                   help="seconds nothing may change for the worker to count as settled (default 20: two "
                        "checkpoint intervals), its event loop turning")
    p.add_argument("--round-settle-s", type=float, default=6.0, help="the same between throughput rounds")
    p.add_argument("--settle-timeout", type=float, default=900.0, help="bound of each settle wait (s)")
    p.add_argument("--max-rss-share", type=float, default=0.6,
                   help="skip a size (> 100k) whose projected peak RSS exceeds this share of the machine's memory")
    p.add_argument("--max-size-s", type=float, default=1200.0,
                   help="skip a size (> 100k) whose projected initial load takes longer (s, default 1200)")
    p.add_argument("--worker-env", type=_env_pair, action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment of the worker (e.g. MALLOC_ARENA_MAX=2); repeatable")
    p.add_argument("--bootstrap", default=None, help="an existing broker instead of a fresh one")
    p.add_argument("--child-timeout", type=float, default=1800.0, help="bound of each in-process run (s)")
    p.add_argument("--work", type=Path, default=None, help="work dir (default a temp dir, removed)")
    p.add_argument("--out", type=Path, default=RESULTS / "worker_memory.json", help="JSON result")
    p.add_argument("--md", default=str(RESULTS / "worker_memory.md"),
                   help="markdown tables (default bench/results/worker_memory.md; '' for none)")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--report", type=Path, default=None, metavar="JSON",
                   help="run nothing: print the tables (and write --md) of a stored result, its summary recomputed")
    p.add_argument("--probe-worker", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--probe-trace", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--plain-worker", action="store_true",
                   help="step worker: run `python -m stream_guard worker` itself (WorkerProcess) instead of the "
                        "probed worker (the same command in this script, plus allocator figures and a malloc_trim "
                        "probe)")
    p.add_argument("--child-mode", default="rss", help=argparse.SUPPRESS)
    p.add_argument("--child-out", type=Path, default=None, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.report is not None:
        doc = json.loads(args.report.read_text())
        doc["summary"] = summary(doc)  # derived: recomputed (and stored) with this version's summary
        write_json(args.report, doc)
        report = print_report(doc)
        if args.md:
            Path(args.md).write_text(f"# Worker memory benchmark\n\n`{doc['command']}`\n\n{report}\n")
        print(report, flush=True)
        return 0
    if args.probe_worker is not None:
        return probed_worker_main(args.probe_worker, args.probe_trace)
    if args.child is not None:
        write_json(args.child_out, inprocess(args.child, args.child_mode, args))
        return 0
    if args.quick:
        args.sizes = args.sizes or QUICK["sizes"]
        args.rounds = QUICK["rounds"] if args.rounds == 3 else args.rounds
        args.inprocess_sizes = args.inprocess_sizes or QUICK["inprocess_sizes"]
        if args.breakdown_sizes == "10000,20000":
            args.breakdown_sizes = QUICK["breakdown_sizes"]
        if args.traced_size == 20_000:
            args.traced_size = QUICK["traced_size"]
    args.sizes = _sizes(args.sizes or DEFAULT_SIZES)
    args.worker_env = dict(args.worker_env)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = set(steps) - set(STEPS)
    if unknown:
        build_parser().error(f"unknown steps: {sorted(unknown)}")
    inproc_sizes = _sizes(args.inprocess_sizes) if args.inprocess_sizes else [n for n in args.sizes if n <= 100_000]
    work = args.work or Path(tempfile.mkdtemp(prefix="stream-guard-worker-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    kl = kafka_local()
    doc: dict[str, Any] = {
        "benchmark": "memory per tracked account and throughput of a real stream-guard worker (bench/worker_memory.py)",
        "label": "QUICK smoke run" if args.quick else "full run",
        "command": "python bench/worker_memory.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(None if args.bootstrap else getattr(kl, "KAFKA_VERSION", None)),
        "memory": memory_info(),
        "settings": {"sizes": args.sizes, "inprocess_sizes": inproc_sizes, "breakdown_sizes":
                     _sizes(args.breakdown_sizes), "traffic": args.traffic, "hydra_rate": args.hydra_rate,
                     "seed": args.seed, "rounds": args.rounds, "batch_accounts": args.batch_accounts,
                     "batch_span_s": args.batch_span_s, "batch_repeat": args.batch_repeat, "settle_s": args.settle_s,
                     "partitions": PARTITIONS,
                     "batch_events_per_message": BATCH, "worker_env": args.worker_env,
                     "traced_size": args.traced_size, "traffic_command": traffic_command(max(args.sizes), args)},
        "targets": {"bytes_per_tracked_account": TARGET_BYTES_PER_ACCOUNT,
                    "throughput": "flat from 10k to 1M tracked accounts"},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    log(f"work dir {work}; steps {', '.join(steps)}")
    m0, l0 = machine_busy_s(), loadavg()
    try:
        if "worker" in steps or "traced" in steps:
            kdir = work / "kafka"
            with broker(args.bootstrap, kdir, timeout=180) as bootstrap:
                kafka_pid = broker_pid(kdir) if not args.bootstrap else None
                if "worker" in steps:
                    step_worker(args, work, doc, bootstrap, kafka_pid)
                if "traced" in steps:
                    step_traced(args, work, doc, bootstrap, kafka_pid)
                    write_json(args.out, doc)
        if "inprocess" in steps:
            runs = [run_inprocess(n, "rss", args, work) for n in inproc_sizes]
            doc["inprocess"] = {"runs": runs, "slopes": rss_slopes(runs)}
            write_json(args.out, doc)
        if "breakdown" in steps:
            runs = [run_inprocess(n, "tracemalloc", args, work) for n in _sizes(args.breakdown_sizes)]
            doc["breakdown"] = {"runs": runs, "slopes": {pt: part_slopes(runs, pt) for pt in ("drained", "settled")}}
    finally:
        wall = time.monotonic() - t0
        m1 = machine_busy_s()
        doc["wall_s"] = round(wall, 1)
        doc["load"] = {"loadavg_before": l0, "loadavg_after": loadavg(),
                       "machine_busy_cores_mean": round((m1 - m0) / wall, 2) if m0 is not None and m1 is not None
                       and wall > 0 else None}
        doc["summary"] = summary(doc)
        write_json(args.out, doc)
        log(f"wrote {args.out}")
        if args.work is None:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    report = print_report(doc)
    if args.md:
        Path(args.md).write_text(f"# Worker memory benchmark\n\n`{doc['command']}`\n\n{report}\n")
        log(f"wrote {args.md}")
    print(report, flush=True)
    return 0


if __name__ == "__main__":
    main_entry(main)
