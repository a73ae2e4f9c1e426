#!/usr/bin/env python3
"""Throughput benchmark of stream-guard on a real Kafka broker, in one go.

One broker (a real Apache Kafka started with ``scripts/kafka_local.py`` in a temp dir,
or ``--bootstrap``), two input topics produced once (4 partitions, keyed by account id,
~10k accounts, ~300-byte request events per the contract, event-time ordered within
each partition):

* ``one``:     one event per message (``--one-event-events`` messages);
* ``batched``: JSON arrays of ``--batch-size`` events per message (``--events`` events);
  each array holds consecutive events of accounts of one partition (as a log shipper
  that batches per partition would send them), keyed by its first event's account.

Cases, run interleaved (``--runs`` rounds; each round runs every case once, starting
at a different case), each in its own process:

* (a) ``ceiling_*``: plain aiokafka ``getmany`` + ``orjson.loads`` of every value
  (``bench/ceiling.py``), on both topics;
* (b) ``bare_faust``: a Faust agent that only counts (``bench/bare_faust.py``), on the
  one-event topic, with Faust's default consumer settings; ``bare_faust_worker_consumer``:
  the same with the worker's (``stream_guard.stream.app.CONSUMER_TUNING``: a 16 MiB fetch
  and at most 500 records a poll), which alone makes a do-nothing agent faster (12.4-14.3k
  vs 8.2-10.8k events/s measured once), so the worker is compared with both;
* (c) ``worker_*``: the real ``python -m stream_guard worker`` (fresh app id and data dir
  per run, so it reads from the beginning), on both topics. Its rate comes from
  ``/metrics`` counter deltas: from the first sample in which
  ``stream_guard_events_total`` (all outcomes) is non-zero to the first in which it
  reaches the topic's event count; start-up, group join and state recovery are excluded.
  The (d) cases run it with cross-account detection off, the (e) cases with Python's
  default garbage collector (``STREAM_GUARD_GC_THRESHOLD=0``, see ``stream_guard/gc_tuning.py``).

Then (unless ``--skip-memory``) memory per tracked account of the detection core at
``--memory-sizes`` accounts, in fresh processes (``bench/memory.py``, no Kafka).

Prints a table (medians, min/max, ratios measured within each round) and writes every
run's raw numbers, medians, ratios and machine info to ``--out``. A benchmark, not a
test: targets are reported, never enforced (exit status is 0 unless the benchmark
itself could not run).

Examples::

    python bench/throughput.py --quick                  # smoke run, < 2 minutes
    python bench/throughput.py                          # full run, ~10 minutes
    python bench/throughput.py --runs 5 --bootstrap 127.0.0.1:9092 --skip-memory

Adding a case (e.g. the worker with another signal set): append a :class:`Case` to
:func:`cases` with its ``env`` overrides; it is then run, summarised and written like
the others. Further result sections go into the ``sections`` dict of :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stream_guard.stream.app import CONSUMER_TUNING  # the worker's consumer settings (case b)

from harness_common import (
    BENCH,
    PY,
    REPO,
    WorkerProcess,
    broker_pid,
    clean_env,
    cpu_seconds,
    create_topics,
    delete_topics,
    kafka_local,
    log,
    machine_busy_s,
    machine_info,
    main_entry,
    next_poll_s,
    produce_located,
    spawn,
    tail,
    terminate,
    terminate_all,
    wait_quiet,
    write_json,
)

#: Event time of the first event: 2026-03-01T00:00:00Z.
START = 1772323200.0
#: The issue's targets for the worker (case c); reported, never enforced.
TARGET_BATCHED_EVENTS_PER_S = 100_000.0
TARGET_ONE_VS_BARE = 0.90

# --------------------------------------------------------------------------- data

MODELS = ("model-large", "model-medium", "model-small")
USER_AGENTS = ("anthropic-python/0.49.0", "openai-python/1.66.3", "python-httpx/0.28.1", "curl/8.5.0")
COUNTRIES = ("US", "DE", "FR", "GB", "IN", "BR", "JP", "CA", "NL", "SG")
TOPICS = ("my cover letter", "a python error", "a trip to Lisbon", "a SQL query", "gift ideas",
          "a birthday poem", "the meaning of a word", "a recipe for dinner", "unit tests in Go")
TASKS = ("Solve: a train leaves at {a} km/h and another at {b} km/h. Think step by step.",
         "Write a function that returns the {a}th prime, with tests.",
         "Question {a}: which of A) {b} B) {a} C) {c} is correct? Show your reasoning.")


@dataclass
class Dataset:
    """Pre-encoded events and the messages of both topics."""

    events: int
    accounts: int
    mean_event_bytes: float
    one: list[tuple[bytes, bytes]]  # (key, value), partitioner picks the partition
    batched: list[tuple[int, bytes, bytes]]  # (partition, key, value)
    batched_events: int
    one_events: int
    span_s: float


def _iso(ts: float, cache: dict[int, str]) -> str:
    sec = int(ts)
    head = cache.get(sec)
    if head is None:
        head = cache[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{head}.{int((ts - sec) * 1000):03d}+00:00"


def make_dataset(events: int, one_events: int, accounts: int, batch: int, partitions: int,
                 rate: float, seed: int) -> Dataset:
    """``max(events, one_events)`` events in event-time order, encoded once.

    Accounts have log-normal activity weights (a few heavy ones, a long tail); ~35% of
    accounts are privacy-minded and send ``prompt_hash`` instead of text; ~10% of prompts
    are templated chain-of-thought tasks.
    """
    import orjson
    from aiokafka.partitioner import murmur2

    rnd = random.Random(seed)
    total = max(events, one_events)
    profiles = []
    for i in range(accounts):
        profiles.append({
            "id": f"acct-{i:05d}",
            "ip": f"198.51.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
            # linking attributes for the cross-account stages: a few popular clients, a card each
            "user_agent": rnd.choice(USER_AGENTS),
            "client_fingerprint": f"t13d1516h2_{rnd.randrange(12):012x}_000000000000",
            "payment_fingerprint": f"pm_{i:05d}",
            "country": rnd.choice(COUNTRIES),
            "model": rnd.choice(MODELS),
            "private": rnd.random() < 0.35,
        })
    weights = [rnd.lognormvariate(0.0, 1.2) for _ in range(accounts)]
    picks = rnd.choices(range(accounts), weights=weights, k=total)
    part_of = [murmur2(p["id"].encode()) & 0x7FFFFFFF for p in profiles]
    part_of = [h % partitions for h in part_of]
    iso_cache: dict[int, str] = {}
    encoded: list[bytes] = []
    owner: list[int] = []
    dumps = orjson.dumps
    size = 0
    for seq in range(total):
        a = picks[seq]
        p = profiles[a]
        ts = START + seq / rate
        out_tokens = rnd.randint(20, 1200)
        ev: dict[str, Any] = {
            "event_id": f"bench-{seed}-{seq}",
            "ts": _iso(ts, iso_cache),
            "account_id": p["id"],
            "model": p["model"],
            "input_tokens": rnd.randint(10, 2000),
            "output_tokens": out_tokens,
            "max_tokens": 1024,
            "ip": p["ip"],
            "country": p["country"],
            "user_agent": p["user_agent"],
            "client_fingerprint": p["client_fingerprint"],
            "payment_fingerprint": p["payment_fingerprint"],
            "status": 200 if rnd.random() < 0.97 else 429,
            "stop_reason": "max_tokens" if out_tokens > 1024 else "end_turn",
            "turn_index": rnd.choice((0, 0, 1, 2, 3)),
        }
        if p["private"]:
            ev["prompt_hash"] = f"{rnd.getrandbits(64):016x}"
        elif rnd.random() < 0.1:
            ev["prompt"] = rnd.choice(TASKS).format(a=rnd.randint(2, 999), b=rnd.randint(2, 999),
                                                    c=rnd.randint(2, 999))
        else:
            ev["prompt"] = f"Can you help me with {rnd.choice(TOPICS)}? ({rnd.randint(1, 99)})"
        raw = dumps(ev)
        size += len(raw)
        encoded.append(raw)
        owner.append(a)
    one = [(profiles[owner[i]]["id"].encode(), encoded[i]) for i in range(one_events)]
    per_part: list[list[int]] = [[] for _ in range(partitions)]
    for i in range(events):
        per_part[part_of[owner[i]]].append(i)
    batched: list[tuple[int, bytes, bytes]] = []
    for part, idx in enumerate(per_part):
        for j in range(0, len(idx), batch):
            chunk = idx[j:j + batch]
            value = b"[" + b",".join(encoded[i] for i in chunk) + b"]"
            batched.append((part, profiles[owner[chunk[0]]]["id"].encode(), value))
    return Dataset(events=total, accounts=len(set(picks)), mean_event_bytes=size / total, one=one,
                   batched=batched, batched_events=events, one_events=one_events, span_s=total / rate)


# --------------------------------------------------------------------------- cases


@dataclass
class Ctx:
    """What every case needs."""

    bootstrap: str
    work: Path
    prefix: str
    topics: dict[str, str]  # "one"/"batched" -> topic name
    totals: dict[str, int]  # "one"/"batched" -> events in that topic
    partitions: int
    poll_s: float
    broker_pid: int | None
    quick: bool
    ceiling_events: int  # the ceiling re-reads a topic until it has decoded at least this many
    code_dir: Path  # the checkout whose stream_guard the worker and memory processes run (--code)
    # longest sleep between samples once the worker is processing (see next_poll_s)
    poll_max_s: float = 2.0


@dataclass
class Case:
    """One measured configuration. ``kind``: ceiling, bare_faust or worker."""

    name: str
    kind: str
    topic: str  # "one" or "batched"
    label: str
    env: dict[str, str] = field(default_factory=dict)  # extra worker settings
    faust: dict[str, Any] = field(default_factory=dict)  # Faust settings of a bare Faust case


def cases() -> list[Case]:
    """All cases, in the order of the first round."""
    return [
        Case("ceiling_one", "ceiling", "one", "(a) aiokafka + orjson, one event/message"),
        Case("ceiling_batched", "ceiling", "batched", "(a) aiokafka + orjson, batched messages"),
        Case("bare_faust", "bare_faust", "one", "(b) bare Faust agent, one event/message"),
        Case("bare_faust_worker_consumer", "bare_faust", "one",
             "(b) bare Faust, one event, worker's consumer", faust=dict(CONSUMER_TUNING)),
        Case("worker_one", "worker", "one", "(c) stream-guard worker, one event/message"),
        Case("worker_batched", "worker", "batched", "(c) stream-guard worker, batched messages"),
        Case("worker_batched_per_account", "worker", "batched",
             "(d) worker, batched, cross-account detection off", env={"STREAM_GUARD_CROSS_ACCOUNT": "false"}),
        Case("worker_one_per_account", "worker", "one",
             "(d) worker, one event, cross-account detection off", env={"STREAM_GUARD_CROSS_ACCOUNT": "false"}),
        Case("worker_batched_gc_default", "worker", "batched",
             "(e) worker, batched, Python's default garbage collector", env={"STREAM_GUARD_GC_THRESHOLD": "0"}),
        Case("worker_one_gc_default", "worker", "one",
             "(e) worker, one event, Python's default garbage collector", env={"STREAM_GUARD_GC_THRESHOLD": "0"}),
    ]


def case_timeout(ctx: Ctx, case: Case) -> float:
    # generous: start-up plus the topic at 1,000 events/s
    return 120.0 + ctx.totals[case.topic] / 1000.0


def run_ceiling(ctx: Ctx, case: Case, run_dir: Path) -> dict[str, Any]:
    out = run_dir / "result.json"
    cmd = [PY, str(BENCH / "ceiling.py"), "--bootstrap", ctx.bootstrap, "--topic", ctx.topics[case.topic],
           "--events", str(ctx.totals[case.topic]), "--out", str(out),
           "--timeout", str(case_timeout(ctx, case)),
           "--passes", str(max(1, -(-ctx.ceiling_events // ctx.totals[case.topic])))]
    if ctx.broker_pid:
        cmd += ["--broker-pid", str(ctx.broker_pid)]
    return _run_to_result(cmd, out, run_dir / "log.txt", case_timeout(ctx, case) + 30)


def run_bare_faust(ctx: Ctx, case: Case, run_dir: Path) -> dict[str, Any]:
    out = run_dir / "result.json"
    cmd = [PY, str(BENCH / "bare_faust.py"), "--bootstrap", ctx.bootstrap, "--topic", ctx.topics[case.topic],
           "--count", str(ctx.totals[case.topic]), "--app-id", f"{ctx.prefix}-bare-{uuid.uuid4().hex[:6]}",
           "--out", str(out), "--partitions", str(ctx.partitions), "--data-dir", str(run_dir / "data")]
    if ctx.broker_pid:
        cmd += ["--broker-pid", str(ctx.broker_pid)]
    for key, value in case.faust.items():
        cmd += ["--faust-setting", f"{key}={value}"]
    return _run_to_result(cmd, out, run_dir / "log.txt", case_timeout(ctx, case))


def _run_to_result(cmd: list[str], out: Path, log_path: Path, timeout: float) -> dict[str, Any]:
    started = time.monotonic()
    proc = spawn(cmd, log_path)
    try:
        while not out.exists():
            if proc.poll() is not None and not out.exists():
                raise RuntimeError(f"{Path(cmd[1]).name} exited with {proc.returncode}:\n{tail(log_path)}")
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{Path(cmd[1]).name} gave no result in {timeout:.0f}s:\n{tail(log_path)}")
            time.sleep(0.1)
        result: dict[str, Any] = json.loads(out.read_text())
        result["process_s"] = time.monotonic() - started
        return result
    finally:
        terminate(proc, timeout=30.0)


def scrape(port: int) -> dict[str, float]:
    """The counters the benchmark needs from the worker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[str, float] = {"events": 0.0, "alerts": 0.0}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name, _, value = line.rpartition(" ")
        if name.startswith('stream_guard_events_total{outcome="'):
            outcome = name.split('"')[1]
            out[outcome] = float(value)
            out["events"] += float(value)
        elif name == "stream_guard_messages_consumed_total":
            out["messages"] = float(value)
        elif name.startswith("stream_guard_alerts_total{"):
            out["alerts"] += float(value)
        elif name in ("stream_guard_evaluations_total", "stream_guard_checkpoint_states_total",
                      "stream_guard_tracked_accounts"):
            out[name.removeprefix("stream_guard_")] = float(value)
    return out


def run_worker(ctx: Ctx, case: Case, run_dir: Path) -> dict[str, Any]:
    total = ctx.totals[case.topic]
    env = {
        "STREAM_GUARD_APP_ID": f"{ctx.prefix}-{case.name}-{uuid.uuid4().hex[:6]}",
        "STREAM_GUARD_INPUT_TOPIC": ctx.topics[case.topic],
        "STREAM_GUARD_ALERTS_TOPIC": f"{ctx.prefix}.alerts",
        "STREAM_GUARD_DLQ_TOPIC": f"{ctx.prefix}.dlq",
        "STREAM_GUARD_TOPIC_PARTITIONS": str(ctx.partitions),
        **case.env,
    }
    log_path = run_dir / "log.txt"
    timeout = case_timeout(ctx, case)
    started = time.monotonic()
    worker = WorkerProcess(ctx.bootstrap, env, run_dir / "data", log_path, code_dir=ctx.code_dir).launch()
    proc, port = worker.proc, worker.port
    assert proc is not None
    samples: list[dict[str, float]] = []
    first: dict[str, float] | None = None
    last: dict[str, float] | None = None
    broker0 = machine0 = None
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}:\n{tail(log_path)}")
            if time.monotonic() - started > timeout:
                got = samples[-1]["events"] if samples else 0
                raise TimeoutError(f"worker at {got:.0f}/{total} events after {timeout:.0f}s:\n{tail(log_path)}")
            t_req = time.monotonic()
            try:
                m = scrape(port)
            except (urllib.error.URLError, OSError, ValueError):
                time.sleep(ctx.poll_s)
                continue
            t = (t_req + time.monotonic()) / 2
            m["t"] = t - started
            m["cpu_s"] = cpu_seconds(proc.pid) or 0.0
            if m["events"] > 0:
                samples.append(m)
                if first is None:
                    first = m
                    broker0 = cpu_seconds(ctx.broker_pid) if ctx.broker_pid else None
                    machine0 = machine_busy_s()
                if m["events"] >= total:
                    last = m
                    break
            wait = next_poll_s(ctx.poll_s, ctx.poll_max_s, first, m, total)
            time.sleep(max(0.0, wait - (time.monotonic() - t_req)))
        broker1 = cpu_seconds(ctx.broker_pid) if ctx.broker_pid else None
        machine1 = machine_busy_s()
    finally:
        code = terminate(proc, timeout=30.0)
    assert first is not None and last is not None
    seconds = last["t"] - first["t"]
    events = last["events"] - first["events"]
    cpu_share = (last["cpu_s"] - first["cpu_s"]) / seconds if seconds > 0 else None
    machine = (machine1 - machine0) / seconds if machine0 is not None and machine1 is not None and seconds > 0 else None
    broker = (broker1 - broker0) / seconds if broker0 is not None and broker1 is not None and seconds > 0 else None
    result: dict[str, Any] = {
        "case": case.name,
        "events": int(last["events"]),
        "messages": int(last.get("messages", 0)),
        "outcomes": {k: int(last.get(k, 0)) for k in ("processed", "duplicate", "untracked", "dead_lettered")},
        "alerts": int(last["alerts"]),
        "evaluations": int(last.get("evaluations_total", 0)),
        "checkpoint_states": int(last.get("checkpoint_states_total", 0)),
        "tracked_accounts": int(last.get("tracked_accounts", 0)),
        "startup_s": first["t"],
        "seconds": seconds,
        "timed_events": int(events),
        "events_per_s": events / seconds if seconds > 0 else None,
        "samples": len(samples),
        "cpu_share": cpu_share,
        "machine_busy_cores": machine,
        "broker_cpu_share": broker,
        "other_load_cores": machine - (cpu_share or 0.0) - (broker or 0.0) if machine is not None else None,
        "exit_code": code,
    }
    if len(samples) < 5:
        result["warning"] = f"only {len(samples)} samples: the rate is coarse (raise --events)"
    return result


RUNNERS: dict[str, Callable[[Ctx, Case, Path], dict[str, Any]]] = {
    "ceiling": run_ceiling,
    "bare_faust": run_bare_faust,
    "worker": run_worker,
}


# --------------------------------------------------------------------------- summary


def summarise(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {"n": len(values), "median": statistics.median(values), "min": min(values), "max": max(values)}


RATIOS = (
    ("worker_batched/ceiling_batched", "worker_batched", "ceiling_batched"),
    ("worker_one/ceiling_one", "worker_one", "ceiling_one"),
    ("worker_one/bare_faust", "worker_one", "bare_faust"),
    ("worker_one/bare_faust_worker_consumer", "worker_one", "bare_faust_worker_consumer"),
    ("worker_batched/bare_faust", "worker_batched", "bare_faust"),
    ("bare_faust/ceiling_one", "bare_faust", "ceiling_one"),
    ("worker_batched/worker_batched_per_account", "worker_batched", "worker_batched_per_account"),
    ("worker_one_per_account/bare_faust", "worker_one_per_account", "bare_faust"),
    ("worker_batched/worker_batched_gc_default", "worker_batched", "worker_batched_gc_default"),
    ("worker_one/worker_one_gc_default", "worker_one", "worker_one_gc_default"),
)


def summary(rounds: list[dict[str, dict[str, Any]]], names: Iterable[str]) -> dict[str, Any]:
    rates = {n: [r[n]["events_per_s"] for r in rounds if n in r and r[n].get("events_per_s")] for n in names}
    out: dict[str, Any] = {"events_per_s": {n: summarise(v) for n, v in rates.items()}, "ratios": {}}
    for key in ("cpu_share", "other_load_cores", "broker_cpu_share"):
        out[key] = {n: summarise([r[n][key] for r in rounds if r.get(n, {}).get(key) is not None]) for n in names}
    for label, num, den in RATIOS:
        per_round = [r[num]["events_per_s"] / r[den]["events_per_s"] for r in rounds
                     if r.get(num, {}).get("events_per_s") and r.get(den, {}).get("events_per_s")]
        medians = out["events_per_s"]
        if num in medians and den in medians:
            of_medians = (medians[num]["median"] / medians[den]["median"]
                          if medians[num]["median"] and medians[den]["median"] else None)
            out["ratios"][label] = {**summarise(per_round), "of_medians": of_medians}
    batched = out["events_per_s"].get("worker_batched", {}).get("median")
    one_vs_bare = out["ratios"].get("worker_one/bare_faust", {}).get("median")
    out["targets"] = {
        "worker_batched_events_per_s": {"target": TARGET_BATCHED_EVENTS_PER_S, "measured": batched,
                                        "reached": bool(batched and batched >= TARGET_BATCHED_EVENTS_PER_S)},
        "worker_one_vs_bare_faust": {"target": TARGET_ONE_VS_BARE, "measured": one_vs_bare,
                                     "reached": bool(one_vs_bare and one_vs_bare >= TARGET_ONE_VS_BARE)},
    }
    return out


def fmt_rate(v: float | None) -> str:
    return f"{v:>10,.0f}" if v else f"{'-':>10}"


def overhead(summ: dict[str, Any], handle: dict[str, Any] | None) -> dict[str, float | None]:
    """us per event that the worker spends beyond ``handle()`` (median worker rates)."""
    out: dict[str, float | None] = {}
    if not handle or "error" in handle:
        return out
    for case, key in (("worker_one", "handle_one"), ("worker_batched", "handle_batched")):
        worker = summ["events_per_s"].get(case, {}).get("median")
        out[case] = (1e6 / worker - handle[key]["us_per_event"]) if worker else None
    return out


def print_table(all_cases: list[Case], summ: dict[str, Any], mem: list[dict[str, Any]] | None,
                handle: dict[str, Any] | None = None) -> None:
    rates = summ["events_per_s"]
    lines = ["", "events/s (medians of the runs; min..max); CPU = the case's process, in cores; others = "
             "cores used by other processes on the machine meanwhile (medians)", ""]
    lines.append(f"{'case':<44} {'median':>10} {'min':>10} {'max':>10}  n  {'CPU':>5} {'others':>6}")
    for c in all_cases:
        s = rates.get(c.name)
        if s is None:
            continue
        cpu = summ["cpu_share"][c.name]["median"]
        other = summ["other_load_cores"][c.name]["median"]
        lines.append(f"{c.label:<44} {fmt_rate(s['median'])} {fmt_rate(s['min'])} {fmt_rate(s['max'])}  {s['n']}"
                     f"  {f'{cpu:.0%}' if cpu is not None else '-':>5} "
                     f"{f'{other:.2f}' if other is not None else '-':>6}")
    if handle and "error" not in handle:
        lines.append(f"{'(ref) handle() in-process, one event/message':<44} "
                     f"{fmt_rate(handle['handle_one']['events_per_s'])}")
        lines.append(f"{'(ref) handle() in-process, batched messages':<44} "
                     f"{fmt_rate(handle['handle_batched']['events_per_s'])}")
        st = handle["stages_batched"]
        lines.append(f"      per event: decode+validate {st['decode_us_per_event']:.1f} us, "
                     f"Detector.process {st['detector_us_per_event']:.1f} us")
        for case, us in overhead(summ, handle).items():
            if us is not None:
                lines.append(f"      {case}: {us:.1f} us/event spent outside handle()")
    lines += ["", "ratios (median of per-round ratios; min..max)", ""]
    for label, r in summ["ratios"].items():
        if r["median"] is None:
            continue
        lines.append(f"{label:<44} {r['median']:>10.3f} {r['min']:>10.3f} {r['max']:>10.3f}  {r['n']}")
    lines += ["", "targets (reported, not enforced)"]
    t = summ["targets"]
    b, o = t["worker_batched_events_per_s"], t["worker_one_vs_bare_faust"]

    def verdict(x: dict[str, Any], shown: str) -> str:
        if x["measured"] is None:
            return "not measured"
        return f"{shown} -> {'reached' if x['reached'] else 'NOT reached'}"

    lines.append(f"  worker batched >= {b['target']:,.0f} events/s: {verdict(b, fmt_rate(b['measured']).strip())}")
    share = f"{(o['measured'] or 0):.1%}"
    lines.append(f"  worker one-event >= {o['target']:.0%} of bare Faust: {verdict(o, share)}")
    if mem:
        lines += memory_table(mem)
    print("\n".join(lines), flush=True)


def memory_table(mem: list[dict[str, Any]]) -> list[str]:
    """Lines of the memory-per-account table (also printed by ``suite.py``)."""
    lines = ["", "memory per tracked account (detection core, in-process)", ""]
    lines.append(f"{'accounts':>10} {'mode':<26} {'events/acct':>11} {'B/account':>10} "
                 f"{'excl. dedup':>11} {'checkpoint B':>12}")
    for m in mem:
        if "error" in m:
            lines.append(f"{m.get('accounts', '?'):>10} {m.get('mode', '?'):<26} error: {m['error'][:60]}")
            continue
        lines.append(f"{m['accounts']:>10,} {m['mode']:<26} {m['events_per_account']:>11} "
                     f"{m['bytes_per_account']:>10,.0f} {m['bytes_per_account_excl_dedup']:>11,.0f} "
                     f"{m['checkpoint_json_bytes_per_account']:>12,.0f}")
    return lines


# --------------------------------------------------------------------------- memory


def run_memory(sizes: list[int], tracemalloc_sizes: list[int], events_per_account: int,
               env: dict[str, str], cwd: Path) -> list[dict[str, Any]]:
    results = []
    # every account of memory.py is active within one link interval: the cross-account
    # builder holds an open interval for each (its worst case), so the first size is also
    # measured with cross-account detection off
    plan = ([(n, "rss", True) for n in sizes] + [(sizes[0], "rss", False)] if sizes else []) + [
        (n, "tracemalloc", True) for n in tracemalloc_sizes]
    for n, mode, cross in plan:
        mode_label = mode if cross else f"{mode}, per-account only"
        log(f"memory: {n:,} accounts ({mode_label}) ...")
        cmd = [PY, str(BENCH / "memory.py"), "--accounts", str(n), "--mode", mode,
               "--events-per-account", str(events_per_account)]
        run_env = dict(env, STREAM_GUARD_CROSS_ACCOUNT="true" if cross else "false")
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=run_env, timeout=900)
            if res.returncode != 0:
                raise RuntimeError(res.stderr[-2000:])
            m = json.loads(res.stdout.strip().splitlines()[-1])
            m["cross_account"] = cross
            m["mode"] = mode_label
            log(f"memory: {n:,} accounts ({mode_label}): {m['bytes_per_account']:,.0f} B/account "
                f"({m['bytes_per_account_excl_dedup']:,.0f} without the dedup sets), "
                f"{m['us_per_event']:.1f} us/event in Detector.process")
        except Exception as exc:  # noqa: BLE001 - report, keep going
            log(f"memory: {n:,} accounts ({mode}) failed: {exc!r}")
            m = {"accounts": n, "mode": mode_label, "error": repr(exc)}
        results.append(m)
    return results


# --------------------------------------------------------------------------- handle() in-process


def run_handle(events: int, one_events: int, args: argparse.Namespace, env: dict[str, str],
               cwd: Path) -> dict[str, Any]:
    """``bench/handle.py``: the worker's per-message path without Kafka and Faust."""
    log(f"in-process WorkerRuntime.handle(): {events:,} batched + {one_events:,} one-event events ...")
    cmd = [PY, str(BENCH / "handle.py"), "--events", str(events), "--one-event-events", str(one_events),
           "--accounts", str(args.accounts), "--batch-size", str(args.batch_size),
           "--partitions", str(args.partitions), "--event-rate", str(args.event_rate), "--seed", str(args.seed)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)
        if res.returncode != 0:
            raise RuntimeError(res.stderr[-2000:])
        out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
        log(f"handle(): one-event {out['handle_one']['events_per_s']:,.0f} events/s, batched "
            f"{out['handle_batched']['events_per_s']:,.0f} events/s (decode "
            f"{out['stages_batched']['decode_us_per_event']:.1f} us + Detector.process "
            f"{out['stages_batched']['detector_us_per_event']:.1f} us per event)")
        return out
    except Exception as exc:  # noqa: BLE001 - report, keep going
        log(f"in-process handle() failed: {exc!r}")
        return {"error": repr(exc)}


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/throughput.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true",
                   help="small smoke run (< 2 minutes): 1 run, 200k batched events, 30k one-event "
                        "messages, memory at 100k accounts only; explicit options still win")
    p.add_argument("--runs", type=int, default=None, help="rounds of all cases (default 3; --quick: 1)")
    p.add_argument("--events", type=int, default=None,
                   help="events in the batched topic (default 1,000,000; --quick: 200,000)")
    p.add_argument("--one-event-events", type=int, default=None,
                   help="messages (= events) in the one-event topic; Faust handles ~5-8k/s of them, so "
                        "this is smaller (default 200,000; --quick: 30,000)")
    p.add_argument("--ceiling-events", type=int, default=None,
                   help="the ceiling (a) reads its topic several times until it has decoded at least "
                        "this many events, for a long enough timed span (default 2,000,000; --quick: 400,000)")
    p.add_argument("--batch-size", type=int, default=100, help="events per batched message (default 100)")
    p.add_argument("--accounts", type=int, default=10_000, help="accounts in the data (default 10,000)")
    p.add_argument("--partitions", type=int, default=4, help="partitions of the input topics (default 4)")
    p.add_argument("--event-rate", type=float, default=1000.0,
                   help="event-time events per second of the generated traffic (default 1000: 1M events "
                        "span ~17 minutes of event time)")
    p.add_argument("--seed", type=int, default=7, help="seed of the generated data (default 7)")
    p.add_argument("--cases", default=None,
                   help="comma-separated subset of cases to run (default all: "
                        + ",".join(c.name for c in cases()) + ")")
    p.add_argument("--poll", type=float, default=0.2,
                   help="seconds between /metrics samples at the start and near the end of a run (default 0.2)")
    p.add_argument("--poll-max", type=float, default=2.0,
                   help="longest sleep between /metrics samples while the worker processes (default 2.0; a scrape "
                        "costs the worker time: --poll-max 0.2 samples every 0.2 s throughout, as before)")
    p.add_argument("--bootstrap", default=None,
                   help="use this Kafka (host:port) instead of starting one; the benchmark's topics "
                        "(prefix bench-<tag>) are deleted at the end")
    p.add_argument("--out", default=str(BENCH / "results" / "throughput.json"),
                   help="JSON result file (default bench/results/throughput.json)")
    p.add_argument("--skip-memory", action="store_true", help="skip the memory-per-account section")
    p.add_argument("--skip-handle", action="store_true",
                   help="skip the in-process WorkerRuntime.handle() reference (bench/handle.py)")
    add_memory_options(p)
    p.add_argument("--code", choices=("worktree", "head"), default="worktree",
                   help="which stream-guard to run: the repo's working tree as it is (default), or a "
                        "snapshot of the committed HEAD (git archive into the work dir; use it while "
                        "the working tree is being edited)")
    p.add_argument("--quiet-wait", type=float, default=None,
                   help="before each case wait up to this many seconds until other processes on the "
                        "(shared) machine use less than --quiet-threshold cores; 0: don't wait "
                        "(default 15; --quick: 5)")
    p.add_argument("--quiet-budget", type=float, default=None,
                   help="total seconds all those waits may take (default 60; --quick: 15)")
    p.add_argument("--quiet-threshold", type=float, default=0.3,
                   help="cores that other processes may use for the machine to count as quiet (default 0.3)")
    p.add_argument("--keep", action="store_true", help="keep the work dir (logs, broker data) for inspection")
    return p


def add_memory_options(p: argparse.ArgumentParser) -> None:
    """The memory section's options (also ``suite.py``'s); read with :func:`memory_plan`."""
    p.add_argument("--memory-sizes", default=None,
                   help="accounts for the RSS measurement (default 100000,1000000; --quick: 100000)")
    p.add_argument("--tracemalloc-sizes", default=None,
                   help="accounts for the (slow) tracemalloc measurement (default 100000; --quick: none)")
    p.add_argument("--memory-events-per-account", type=int, default=3,
                   help="events fed per account in the memory section (default 3)")


def memory_plan(args: argparse.Namespace) -> tuple[list[int], list[int]]:
    """(RSS sizes, tracemalloc sizes) of the memory section, defaults by ``--quick``."""
    q = args.quick
    mem_sizes = _ints(args.memory_sizes if args.memory_sizes is not None else ("100000" if q else "100000,1000000"))
    tm_sizes = _ints(args.tracemalloc_sizes if args.tracemalloc_sizes is not None else ("" if q else "100000"))
    return mem_sizes, tm_sizes


def _ints(text: str | None) -> list[int]:
    return [int(x) for x in (text or "").replace("_", "").split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    q = args.quick
    runs = args.runs if args.runs is not None else (1 if q else 3)
    events = args.events if args.events is not None else (200_000 if q else 1_000_000)
    one_events = args.one_event_events if args.one_event_events is not None else (30_000 if q else 200_000)
    mem_sizes, tm_sizes = memory_plan(args)
    all_cases = cases()
    if args.cases:
        wanted = {c.strip() for c in args.cases.split(",") if c.strip()}
        unknown = wanted - {c.name for c in all_cases}
        if unknown:
            raise SystemExit(f"unknown cases: {sorted(unknown)}")
        all_cases = [c for c in all_cases if c.name in wanted]

    work = Path(tempfile.mkdtemp(prefix="stream-guard-bench-"))
    tag = uuid.uuid4().hex[:6]
    prefix = f"bench-{tag}"
    kl = None
    broker_dir = work / "kafka"
    bootstrap = args.bootstrap
    kafka_pid = None
    out_path = Path(args.out)
    log(f"work dir {work}")
    try:
        kl = kafka_local()
        kafka_version = getattr(kl, "KAFKA_VERSION", None)
        if bootstrap is None:
            log("starting a Kafka broker ...")
            bootstrap = kl.start(broker_dir, timeout=180, die_with_parent=True)
            kafka_pid = broker_pid(broker_dir)
            log(f"broker at {bootstrap} (pid {kafka_pid})")
        else:
            kafka_version = None
        info = machine_info(kafka_version)
        code_dir = REPO
        if args.code == "head":
            code_dir = work / "code"
            code_dir.mkdir()
            archive = subprocess.run(["git", "archive", "HEAD"], cwd=REPO, capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(code_dir)], input=archive, check=True)
            log(f"running stream-guard from a snapshot of HEAD ({(info.get('git') or {}).get('commit')}) in {code_dir}")
        child_env = clean_env(code_dir=code_dir)
        info["code"] = {"source": args.code, "path": str(code_dir)}

        log(f"generating {max(events, one_events):,} events for {args.accounts:,} accounts ...")
        t0 = time.monotonic()
        data = make_dataset(events, one_events, args.accounts, args.batch_size, args.partitions,
                            args.event_rate, args.seed)
        log(f"generated in {time.monotonic() - t0:.1f}s: {data.accounts:,} active accounts, "
            f"mean event {data.mean_event_bytes:.0f} B, {len(data.one):,} one-event messages, "
            f"{len(data.batched):,} batched messages")
        topics = {"one": f"{prefix}.one", "batched": f"{prefix}.batched"}
        create_topics(bootstrap, list(topics.values()), args.partitions)
        for name, messages in ((topics["one"], data.one), (topics["batched"], data.batched)):
            t_produce = time.monotonic()
            produce_located(bootstrap, name, messages, max_request_size=8 << 20, timeout=1800)
            log(f"produced {len(messages):,} messages to {name} in {time.monotonic() - t_produce:.1f}s")
        dataset_info = {
            "events_generated": data.events, "accounts_active": data.accounts, "accounts": args.accounts,
            "mean_event_bytes": round(data.mean_event_bytes, 1), "event_time_span_s": data.span_s,
            "one_event_messages": len(data.one), "batched_messages": len(data.batched),
            "batched_events": data.batched_events, "batch_size": args.batch_size,
            "partitions": args.partitions, "ts_format": "RFC 3339 string", "seed": args.seed,
            "event_rate": args.event_rate,
        }
        del data

        ctx = Ctx(bootstrap=bootstrap, work=work, prefix=prefix, topics=topics,
                  totals={"one": one_events, "batched": events}, partitions=args.partitions,
                  poll_s=args.poll, poll_max_s=max(args.poll_max, args.poll), broker_pid=kafka_pid, quick=q,
                  code_dir=code_dir,
                  ceiling_events=args.ceiling_events or (400_000 if q else 2_000_000))
        rounds: list[dict[str, dict[str, Any]]] = []
        raw_runs: list[dict[str, Any]] = []
        quiet_wait = args.quiet_wait if args.quiet_wait is not None else (5.0 if q else 15.0)
        quiet_budget = args.quiet_budget if args.quiet_budget is not None else (15.0 if q else 60.0)
        waited_total = 0.0
        for rnd in range(runs):
            order = all_cases[rnd % len(all_cases):] + all_cases[:rnd % len(all_cases)]
            results: dict[str, dict[str, Any]] = {}
            for case in order:
                run_dir = work / f"run{rnd}" / case.name
                run_dir.mkdir(parents=True)
                log(f"run {rnd + 1}/{runs}: {case.name} ({ctx.totals[case.topic]:,} events) ...")
                allowed = min(quiet_wait, quiet_budget - waited_total)
                quiet = wait_quiet(allowed, args.quiet_threshold, kafka_pid) if allowed > 0 else {}
                waited_total += quiet.get("waited_s", 0.0)
                t_case = time.monotonic()
                try:
                    res = RUNNERS[case.kind](ctx, case, run_dir)
                except Exception as exc:  # noqa: BLE001 - record it, go on with the others
                    log(f"run {rnd + 1}/{runs}: {case.name} FAILED: {exc}")
                    res = {"case": case.name, "error": str(exc)[-3000:]}
                else:
                    extra = f", CPU {res.get('cpu_share') or 0:.0%}"
                    if res.get("broker_cpu_share") is not None:
                        extra += f", broker CPU {res['broker_cpu_share']:.0%}"
                    if res.get("other_load_cores") is not None:
                        extra += f", others {res['other_load_cores']:.2f} cores"
                    if case.kind == "worker":
                        extra += f", startup {res['startup_s']:.1f}s, alerts {res['alerts']}"
                    log(f"run {rnd + 1}/{runs}: {case.name}: {res['events_per_s']:,.0f} events/s over "
                        f"{res['seconds']:.1f}s{extra} (case took {time.monotonic() - t_case:.0f}s)")
                res["case"] = case.name
                res["round"] = rnd
                res["quiet_wait"] = quiet
                results[case.name] = res
                raw_runs.append(res)
            rounds.append(results)

        summ = summary(rounds, [c.name for c in all_cases])
        sections: dict[str, Any] = {}
        handle = None
        if not args.skip_handle:
            handle = run_handle(min(events, 300_000), min(one_events, 100_000), args, child_env, code_dir)
            sections["handle_in_process"] = {
                "what": "WorkerRuntime.handle() over pre-encoded message values, no Kafka, no Faust "
                        "(bench/handle.py); 1/worker rate - 1/handle rate = what Faust/aiokafka/the "
                        "worker add per event",
                "results": handle,
                "overhead_us_per_event": overhead(summ, handle),
            }
        mem = None
        if not args.skip_memory and (mem_sizes or tm_sizes):
            mem = run_memory(mem_sizes, tm_sizes, args.memory_events_per_account, child_env, code_dir)
            sections["memory_per_account"] = {
                "what": "Detector (one per input partition) fed N accounts x K events with prompt text; "
                        "rss = resident set growth (includes the C++ HLL sketches), tracemalloc = Python "
                        "allocations only; both include the detector's event-id dedup sets (bounded by "
                        "dedup_window, reported separately)",
                "results": mem,
            }
        print_table(all_cases, summ, mem, handle)
        doc = {
            "benchmark": "stream-guard throughput",
            "machine": info,
            "settings": {"runs": runs, "quick": q, "poll_s": args.poll, "poll_max_s": args.poll_max,
                         "bootstrap_given": args.bootstrap is not None,
                         "cases": [c.__dict__ for c in all_cases]},
            "dataset": dataset_info,
            "throughput": {"summary": summ, "runs": raw_runs},
            **sections,
        }
        write_json(out_path, doc)
        log(f"wrote {out_path}")
        return 0
    finally:
        terminate_all()
        if args.bootstrap:
            try:
                n = delete_topics(args.bootstrap, prefix)
                log(f"deleted {n} benchmark topics")
            except Exception as exc:  # noqa: BLE001 - best effort
                log(f"could not delete the benchmark topics: {exc!r}")
        elif kl is not None and broker_dir.exists():
            try:
                kl.stop(broker_dir)
                log("broker stopped")
            except Exception as exc:  # noqa: BLE001 - best effort
                log(f"could not stop the broker: {exc!r}")
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main_entry(main)
