#!/usr/bin/env python3
"""The benchmark set in one command: JSON of every result plus a PNG of throughput per round.

Steps, run one after the other, each in its own processes (a step that fails is recorded
and the others still run):

* ``throughput``: ``bench/throughput.py --skip-memory`` on its own real Kafka broker: the
  aiokafka + orjson ceiling, a bare Faust agent and the stream-guard worker cases,
  interleaved per round, plus ``WorkerRuntime.handle()`` in-process (``bench/handle.py``).
* ``replay``: ``bench/replay_memory.py``: ``stream-guard replay`` of standard-scenario
  files of growing size (events/s and peak RSS of the replay process).
* ``memory``: ``bench/memory.py`` in a fresh process per size (as ``throughput.py`` runs
  it): bytes per tracked account of the detection core.
* ``worker_memory``: ``bench/worker_memory.py``: RSS per tracked account of a real worker
  process (slope between sizes) and its throughput at each size, with the in-process
  breakdown of where the memory goes (``--quick``: its worker step only, at 5k and 10k).
* ``text_kernel``: ``bench/text_kernel.py``: the compiled text kernel against the
  pure-Python reference on the load generator's prompts (us per prompt, ratio, and the
  prompts on which they disagree, which must be none).

Writes every step's JSON, per-round rates and ratios and the issue's targets into
``--out`` and plots ``--png``: events/s of each case per round next to the ceiling and
bare Faust, and the per-round ratios against the ceiling and bare Faust. A ``--quick``
run writes ``suite-quick.json`` / ``throughput-quick.png`` (labelled ``"quick": true``), so
that it never replaces the results of a full run.

Progress goes to stderr (the steps' own progress too), the table to stdout. A benchmark,
not a test: targets are reported, never enforced. Exit status 0 when every step ran, 1 when
a step could not run (its error is in the JSON and the table).

Examples::

    python bench/suite.py --quick            # smoke run, ~5 minutes
    python bench/suite.py                    # full run, ~45-50 minutes (estimated)
    python bench/suite.py --steps throughput --throughput-args "--runs 5"
    python bench/suite.py --replot bench/results/suite.json   # table and PNG from a stored run
"""

from __future__ import annotations

import argparse
import collections
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import replay_memory
import throughput
import worker_memory
from harness_common import (
    BENCH,
    PY,
    REPO,
    RESULTS,
    clean_env,
    log,
    machine_info,
    main_entry,
    spawn,
    tail,
    terminate,
    terminate_all,
    write_json,
)

STEPS = ("throughput", "replay", "memory", "worker_memory", "text_kernel")
#: Replayed file sizes (events) of a full and of a --quick run.
REPLAY_SIZES = {"full": "200000,2000000", "quick": "20000,100000"}
#: The issue's targets that the replay and memory steps measure (reported, never enforced).
TARGET_REPLAY_EVENTS_PER_S = 40_000.0
TARGET_REPLAY_PEAK_RSS_BYTES = 1 << 30
TARGET_REPLAY_RSS_AT_EVENTS = 2_000_000
TARGET_BYTES_PER_ACCOUNT = 2048.0
#: bench/worker_memory.py's options of a full and of a --quick run.
WORKER_MEMORY_ARGS = {"full": [], "quick": ["--quick", "--steps", "worker"]}


# --------------------------------------------------------------------------- steps

def _relay(stream: Any, last: collections.deque[str]) -> None:
    """Copy a child's stderr (its progress) to ours, keeping its last lines for the error report."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace")
        last.append(line.rstrip("\n"))
        sys.stderr.write(line)
        sys.stderr.flush()


def run_child(name: str, cmd: list[str], work: Path, timeout: float) -> dict[str, Any]:
    """Run one benchmark script: its stderr relayed to ours, its stdout to ``work/NAME.stdout.txt``."""
    out_log = work / f"{name}.stdout.txt"
    log(f"{name}: {' '.join(cmd[1:])}")
    t0 = time.monotonic()
    proc = spawn(cmd, out_log, env=clean_env(), stderr_pipe=True)
    last: collections.deque[str] = collections.deque(maxlen=20)
    relay = threading.Thread(target=_relay, args=(proc.stderr, last), daemon=True)
    relay.start()
    step: dict[str, Any] = {"command": " ".join(["python", *(_shown(c) for c in cmd[1:])])}
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        rc = None
    finally:  # also on Ctrl-C / SIGTERM: the child stops its own children and broker
        code = terminate(proc, timeout=90.0)
        relay.join(10)
    step["seconds"] = round(time.monotonic() - t0, 1)
    step["ok"] = rc == 0
    if rc is None:
        step["error"] = f"timed out after {timeout:.0f} s (exit {code})"
    elif rc != 0:
        step["error"] = f"exit {rc}"
    if rc != 0:
        step["error"] += "\n--- stderr (tail) ---\n" + "\n".join(last) + f"\n--- stdout (tail) ---\n{tail(out_log)}"
    return step


def _shown(arg: str) -> str:
    """A path inside the repo as a relative one (for the recorded command line)."""
    path = Path(arg)
    return str(path.relative_to(REPO)) if path.is_absolute() and path.is_relative_to(REPO) else arg


def _first_lines(error: str) -> str:
    """The exit line and the child's last stderr line of a step error (for the table)."""
    head, _, rest = error.partition("\n--- stderr (tail) ---\n")
    stderr_tail = [ln for ln in rest.split("\n--- stdout (tail) ---\n")[0].splitlines() if ln.strip()]
    return (head + (f": {stderr_tail[-1]}" if stderr_tail else ""))[:300]


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def step_throughput(args: argparse.Namespace, work: Path) -> tuple[dict[str, Any], Any]:
    out = work / "throughput.json"
    cmd = [PY, str(BENCH / "throughput.py"), "--skip-memory", "--out", str(out)]
    cmd += ["--quick"] if args.quick else []
    cmd += shlex.split(args.throughput_args)
    step = run_child("throughput", cmd, work, 1200.0 if args.quick else 3600.0)
    result = load_json(out)
    if result is None and step["ok"]:
        step.update(ok=False, error=f"no result in {out}")
    return step, result


def step_replay(args: argparse.Namespace, work: Path, sizes: str) -> tuple[dict[str, Any], Any]:
    out = work / "replay_memory.json"
    cmd = [PY, str(BENCH / "replay_memory.py"), "--sizes", sizes, "--work", str(args.replay_work),
           "--out", str(out), *shlex.split(args.replay_args)]
    step = run_child("replay", cmd, work, 1200.0 if args.quick else 3600.0)
    result = load_json(out)
    if result is None and step["ok"]:
        step.update(ok=False, error=f"no result in {out}")
    return step, result


def step_worker_memory(args: argparse.Namespace, work: Path) -> tuple[dict[str, Any], Any]:
    out = work / "worker_memory.json"
    cmd = [PY, str(BENCH / "worker_memory.py"), "--out", str(out), "--md", "",
           *WORKER_MEMORY_ARGS["quick" if args.quick else "full"], *shlex.split(args.worker_memory_args)]
    step = run_child("worker_memory", cmd, work, 1800.0 if args.quick else 3600.0)
    result = load_json(out)
    if result is None and step["ok"]:
        step.update(ok=False, error=f"no result in {out}")
    return step, result


def step_text_kernel(args: argparse.Namespace, work: Path) -> tuple[dict[str, Any], Any]:
    out = work / "text_kernel.json"
    cmd = [PY, str(BENCH / "text_kernel.py"), "--out", str(out)]
    cmd += ["--prompts-n", "5000", "--rounds", "1"] if args.quick else []
    step = run_child("text_kernel", cmd, work, 600.0 if args.quick else 1800.0)
    result = load_json(out)
    if result is None and step["ok"]:
        step.update(ok=False, error=f"no result in {out}")
    return step, result


def step_memory(args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    t0 = time.monotonic()
    sizes, tracemalloc_sizes = throughput.memory_plan(args)
    per_account = args.memory_events_per_account
    results = throughput.run_memory(sizes, tracemalloc_sizes, per_account, clean_env(), REPO)
    errors = [r["error"] for r in results if "error" in r]
    step: dict[str, Any] = {"command": f"python bench/memory.py --accounts N --events-per-account {per_account}: "
                                       f"rss at {sizes} (the first also cross-account off), tracemalloc at "
                                       f"{tracemalloc_sizes or 'none'}",
                            "seconds": round(time.monotonic() - t0, 1), "ok": bool(results) and not errors}
    if errors:
        step["error"] = "; ".join(errors)[-3000:]
    return step, {"what": f"Detector (one per input partition) fed N accounts x {per_account} events with prompt "
                          "text, in a fresh process per size (bench/memory.py); rss includes the C++ HLL sketches",
                  "results": results}


# --------------------------------------------------------------------------- derived numbers

def per_round(tp: dict[str, Any] | None) -> dict[str, Any]:
    """events/s of every case and the throughput ratios, one value per round (None: missing)."""
    if not tp:
        return {"rounds": 0, "labels": {}, "events_per_s": {}, "ratios": {}}
    n = int(tp["settings"]["runs"])
    names = [c["name"] for c in tp["settings"]["cases"]]
    rates: dict[str, list[float | None]] = {name: [None] * n for name in names}
    for r in tp["throughput"]["runs"]:
        if r.get("case") in rates and r.get("events_per_s"):
            rates[r["case"]][int(r["round"])] = r["events_per_s"]
    ratios = {}
    for label, num, den in throughput.RATIOS:
        if num in rates and den in rates:
            ratios[label] = [a / b if a and b else None for a, b in zip(rates[num], rates[den], strict=True)]
    return {"rounds": n, "labels": {c["name"]: c["label"] for c in tp["settings"]["cases"]},
            "events_per_s": rates, "ratios": ratios}


def targets(doc: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets against what this run measured (``reached`` None: not measured)."""
    out: dict[str, Any] = {}
    tp = doc.get("throughput") or {}
    for key, t in ((tp.get("throughput") or {}).get("summary") or {}).get("targets", {}).items():
        out[key] = {**t, "reached": t["reached"] if t.get("measured") is not None else None}
    runs = [r for r in (doc.get("replay") or {}).get("runs", []) if r.get("events_per_s")]
    out["replay_events_per_s"] = {
        "target": TARGET_REPLAY_EVENTS_PER_S, "measured": {str(r["size"]): r["events_per_s"] for r in runs},
        "reached": all(r["events_per_s"] >= TARGET_REPLAY_EVENTS_PER_S for r in runs) if runs else None}
    big = [r for r in runs if r["size"] >= TARGET_REPLAY_RSS_AT_EVENTS]
    out["replay_peak_rss_bytes_at_2m_events"] = {
        "target": TARGET_REPLAY_PEAK_RSS_BYTES, "measured": max((r["peak_rss_bytes"] for r in big), default=None),
        "reached": all(r["peak_rss_bytes"] <= TARGET_REPLAY_PEAK_RSS_BYTES for r in big) if big else None,
        "note": None if big else f"no replay of {TARGET_REPLAY_RSS_AT_EVENTS:,} events or more in this run"}
    mem = [m for m in (doc.get("memory") or {}).get("results", [])
           if "error" not in m and m.get("mode") == "rss" and m.get("cross_account")]
    out["bytes_per_tracked_account"] = {
        "target": TARGET_BYTES_PER_ACCOUNT, "measured": {str(m["accounts"]): m["bytes_per_account"] for m in mem},
        "reached": all(m["bytes_per_account"] <= TARGET_BYTES_PER_ACCOUNT for m in mem) if mem else None,
        "note": "the Detector in-process (bench/memory.py)"}
    wm = ((doc.get("worker_memory") or {}).get("summary") or {})
    bpa = wm.get("bytes_per_tracked_account") or {}
    out["bytes_per_tracked_account_worker"] = {
        "target": TARGET_BYTES_PER_ACCOUNT, "measured": bpa.get("measured_slope_settled"),
        "reached": bpa.get("reached"),
        "note": "RSS of a real worker process, slope between the two largest sizes (bench/worker_memory.py)"}
    flat = wm.get("throughput_flat") or {}
    rates = {k: v for k, v in (flat.get("measured_events_per_s") or {}).items() if v}
    spans_1m = bool(rates) and min(map(int, rates)) <= 10_000 and max(map(int, rates)) >= 1_000_000
    out["worker_throughput_flat_10k_to_1m"] = {
        "target": 0.9, "measured": flat.get("largest_over_smallest"),
        "reached": (flat["largest_over_smallest"] >= 0.9) if spans_1m and flat.get("largest_over_smallest") else None,
        "note": "events/s at the largest size / at the smallest (medians); judged only when 10k and 1M were "
                f"measured (this run: {', '.join(f'{int(k):,}' for k in rates) or 'none'})"}
    return out


# --------------------------------------------------------------------------- table and plot

def _ratio(v: float | None) -> str:
    return f"{v:>10.3f}" if v else f"{'-':>10}"


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v]
    return statistics.median(present) if present else None


def others_cores(doc: dict[str, Any]) -> float | None:
    """The most cores other processes used meanwhile, over the throughput cases (medians)."""
    summary = ((doc.get("throughput") or {}).get("throughput") or {}).get("summary") or {}
    values = [s["median"] for s in (summary.get("other_load_cores") or {}).values() if s.get("median") is not None]
    return max(values) if values else None


def table(doc: dict[str, Any]) -> str:
    git = (doc.get("machine") or {}).get("git") or {}
    lines = [f"stream-guard bench suite{' (QUICK smoke run)' if doc.get('quick') else ''}: commit "
             f"{(git.get('commit') or '?')[:10]}, stream_guard/ changed: {git.get('dirty')}, "
             f"{(doc.get('machine') or {}).get('date')}", ""]
    pr = doc.get("per_round") or {}
    n = pr.get("rounds", 0)
    if n:
        rounds = [f"round {i + 1}" for i in range(n)] + ["median"]
        lines.append(f"{'events/s':<48}" + "".join(f"{h:>10}" for h in rounds))
        for name, values in pr["events_per_s"].items():
            cells = "".join(throughput.fmt_rate(v) for v in [*values, _median(values)])
            lines.append(f"{pr['labels'].get(name, name):<48}{cells}")
        lines += ["", f"{'ratio (same round)':<48}" + "".join(f"{h:>10}" for h in rounds)]
        for label, values in pr["ratios"].items():
            lines.append(f"{label:<48}" + "".join(_ratio(v) for v in [*values, _median(values)]))
        others = others_cores(doc)
        if others is not None:
            lines.append(f"other processes on the machine used up to {others:.2f} cores during the cases")
        handle = ((doc.get("throughput") or {}).get("handle_in_process") or {}).get("results") or {}
        if "handle_batched" in handle:
            lines.append(f"(ref) handle() in-process: one-event {handle['handle_one']['events_per_s']:,.0f}, "
                         f"batched {handle['handle_batched']['events_per_s']:,.0f} events/s")
    replay = (doc.get("replay") or {}).get("runs") or []
    if replay:
        lines += ["", "stream-guard replay (standard scenario)", "", replay_memory.table(replay)]
    mem = (doc.get("memory") or {}).get("results") or []
    if mem:
        lines += throughput.memory_table(mem)
    wm = doc.get("worker_memory") or {}
    if (wm.get("worker") or {}).get("runs"):
        lines += ["", "worker process (bench/worker_memory.py)"]
        for title, md in worker_memory.tables({"worker": wm["worker"]})[:3]:
            lines += ["", title, md]
    text = (doc.get("text_kernel") or {}).get("results") or {}
    if text:
        lines += ["", "text signals, us per prompt: Python reference / compiled kernel (bench/text_kernel.py)"]
        for name, r in text.items():
            a, k = r["analyze"], r["analyze+sketch"]
            lines.append(f"  {name}: analyze {a['python_us']:.1f} / {a['kernel_us']:.1f} ({a['ratio']:.1f}x), "
                         f"with sketch {k['python_us']:.1f} / {k['kernel_us']:.1f} ({k['ratio']:.1f}x), "
                         f"kernel reads {r['read_by_kernel']:.1%}, disagreements {r['disagreements']}")
    lines += ["", "targets (reported, not enforced)"]
    for key, t in (doc.get("targets") or {}).items():
        verdict = {True: "reached", False: "NOT reached", None: "not measured"}[t.get("reached")]
        measured = t.get("measured")
        if isinstance(measured, dict):
            shown = ", ".join(f"{k}: {v:,.0f}" for k, v in measured.items()) or "-"
        elif isinstance(measured, float) and measured < 10:
            shown = f"{measured:.3f}"
        else:
            shown = f"{measured:,.0f}" if measured is not None else "-"
        goal = t["target"]
        lines.append(f"  {key}: target {goal:.2f}" if goal < 10 else f"  {key}: target {goal:,.0f}")
        lines[-1] += f", measured {shown} -> {verdict}"
    lines += ["", "steps: " + ", ".join(
        f"{name} {'ok' if s.get('ok') else 'FAILED'} ({s.get('seconds', 0):.0f} s)"
        for name, s in (doc.get("steps") or {}).items())]
    for name, s in (doc.get("steps") or {}).items():
        if s.get("error"):
            lines.append(f"  {name}: {_first_lines(s['error'])}")
    return "\n".join(lines)


#: Colours: references grey/orange, the worker in blues.
COLOURS = {"ceiling_one": "#9e9e9e", "ceiling_batched": "#616161", "bare_faust": "#ef8a17",
           "bare_faust_worker_consumer": "#a63603",
           "worker_one": "#6baed6", "worker_batched": "#2171b5", "worker_batched_per_account": "#08306b",
           "worker_one_per_account": "#9ecae1"}


def plot(doc: dict[str, Any], png: Path) -> bool:
    """Two panels: events/s per case per round (log scale), ratios per round. False: nothing to plot."""
    pr = doc.get("per_round") or {}
    n = pr.get("rounds", 0)
    if not n:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 9), gridspec_kw={"height_ratios": [3, 2]})
    names = list(pr["events_per_s"])
    width = 0.8 / max(len(names), 1)
    for k, name in enumerate(names):
        xs = [i + (k - (len(names) - 1) / 2) * width for i in range(n)]
        ys = [v or 0.0 for v in pr["events_per_s"][name]]
        bars = top.bar(xs, ys, width * 0.95, label=pr["labels"].get(name, name), color=COLOURS.get(name))
        for bar, v in zip(bars, pr["events_per_s"][name], strict=True):
            if v:
                top.annotate(f"{v / 1000:,.1f}k", (bar.get_x() + bar.get_width() / 2, v), ha="center",
                             va="bottom", fontsize=7, rotation=90, xytext=(0, 2), textcoords="offset points")
    top.set_yscale("log")
    top.set_ylabel("events/s (log scale)")
    top.set_xticks(range(n), [f"round {i + 1}" for i in range(n)])
    top.set_title("throughput per round: the worker against the aiokafka + orjson ceiling and bare Faust")
    top.grid(axis="y", which="both", alpha=0.3)
    top.margins(y=0.25)
    target = (((doc.get("throughput") or {}).get("throughput") or {}).get("summary") or {}).get("targets", {})
    goal = (target.get("worker_batched_events_per_s") or {}).get("target")
    if goal:
        top.axhline(goal, color="#2171b5", ls="--", lw=1, label=f"target: worker batched {goal / 1000:,.0f}k")

    labels = [lb for lb in pr["ratios"] if any(pr["ratios"][lb])]
    width = 0.8 / max(len(labels), 1)
    cmap = plt.get_cmap("tab10")
    for k, label in enumerate(labels):
        xs = [i + (k - (len(labels) - 1) / 2) * width for i in range(n)]
        bars = bottom.bar(xs, [v or 0.0 for v in pr["ratios"][label]], width * 0.95, label=label, color=cmap(k))
        for bar, v in zip(bars, pr["ratios"][label], strict=True):
            if v:
                bottom.annotate(f"{v:.3g}", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom",
                                fontsize=7, rotation=90, xytext=(0, 2), textcoords="offset points")
    one_vs_bare = (target.get("worker_one_vs_bare_faust") or {}).get("target")
    if one_vs_bare:
        bottom.axhline(one_vs_bare, color="#2ca02c", ls="--", lw=1,
                       label=f"target: worker_one/bare_faust {one_vs_bare:g}")
    top.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    bottom.set_yscale("log")
    bottom.set_ylabel("ratio within the round (log scale)")
    bottom.set_xticks(range(n), [f"round {i + 1}" for i in range(n)])
    bottom.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    bottom.grid(axis="y", which="both", alpha=0.3)
    bottom.margins(y=0.3)
    git = (doc.get("machine") or {}).get("git") or {}
    dataset = (doc.get("throughput") or {}).get("dataset") or {}
    quick = " (QUICK smoke run: small topics, not for comparison)" if doc.get("quick") else ""
    changed = " + changes" if git.get("dirty") else ""
    fig.suptitle(f"stream-guard bench suite{quick} - commit {(git.get('commit') or '?')[:10]}{changed}, "
                 f"{(doc.get('machine') or {}).get('date', '')}\n"
                 f"batched topic {dataset.get('batched_events', 0):,} events in arrays of "
                 f"{dataset.get('batch_size', '?')}, one-event topic {dataset.get('one_event_messages', 0):,} "
                 f"messages, {dataset.get('partitions', '?')} partitions, "
                 f"{(doc.get('machine') or {}).get('cpu_count')} cores"
                 + (f", other processes used up to {others:.2f} of them" if (others := others_cores(doc)) is not None
                    else ""), fontsize=10)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench/suite.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke run (~5 minutes): throughput.py --quick (1 round, 200k batched events, 30k "
                        "one-event messages), replay of 20k and 100k events, memory at 100k accounts, the worker "
                        "memory's worker step at 5k and 10k accounts; writes "
                        "suite-quick.json and throughput-quick.png unless --out/--png are given")
    p.add_argument("--steps", default=",".join(STEPS),
                   help=f"comma-separated subset of {','.join(STEPS)} (default all)")
    p.add_argument("--out", type=Path, default=None,
                   help="JSON result (default bench/results/suite.json; --quick: bench/results/suite-quick.json)")
    p.add_argument("--png", type=Path, default=None,
                   help="throughput plot (default bench/results/throughput.png; --quick: "
                        "bench/results/throughput-quick.png)")
    p.add_argument("--throughput-args", default="",
                   help='extra options for bench/throughput.py, one string, e.g. "--runs 5 --bootstrap '
                        '127.0.0.1:9092" (see python bench/throughput.py --help)')
    p.add_argument("--replay-sizes", default=None,
                   help="events per replayed file, comma-separated (default 200000,2000000; --quick: 20000,100000)")
    p.add_argument("--replay-work", type=Path, default=Path("/tmp/stream-guard-replay-memory"),
                   help="where the replay step keeps its generated event files for re-runs "
                        "(default /tmp/stream-guard-replay-memory)")
    p.add_argument("--replay-args", default="",
                   help="extra options for bench/replay_memory.py, one string (e.g. \"-- --reorder-events 50000\")")
    throughput.add_memory_options(p)
    p.add_argument("--worker-memory-args", default="",
                   help='extra options for bench/worker_memory.py, one string (e.g. "--sizes 10000,100000,1000000")')
    p.add_argument("--keep", action="store_true", help="keep the work dir (the steps' stdout and JSON)")
    p.add_argument("--replot", type=Path, default=None, metavar="SUITE_JSON",
                   help="run nothing: print the table and draw the PNG of a stored suite result")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.replot:
        doc = json.loads(args.replot.read_text())
        png = args.png or RESULTS / ("throughput-quick.png" if doc.get("quick") else "throughput.png")
        if plot(doc, png):
            log(f"wrote {png}")
        print(table(doc), flush=True)
        return 0
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = set(steps) - set(STEPS)
    if unknown:
        build_parser().error(f"unknown steps: {sorted(unknown)}")
    mode = "quick" if args.quick else "full"
    out = args.out or RESULTS / ("suite-quick.json" if args.quick else "suite.json")
    png = args.png or RESULTS / ("throughput-quick.png" if args.quick else "throughput.png")
    work = Path(tempfile.mkdtemp(prefix="stream-guard-suite-"))
    t0 = time.monotonic()
    doc: dict[str, Any] = {
        "benchmark": "stream-guard bench suite (bench/suite.py)",
        "quick": args.quick,
        "label": ("QUICK smoke run: small topics, one round, small replay files and memory sizes; it shows that "
                  "the benchmarks run, its numbers are not for comparison") if args.quick else "full run",
        "command": "python bench/suite.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(),
        "steps": {},
        "throughput": None,
        "replay": None,
        "memory": None,
        "worker_memory": None,
        "text_kernel": None,
    }
    log(f"suite ({mode}): steps {', '.join(steps)}; work dir {work}")
    try:
        for name in steps:
            log(f"step {name} ...")
            if name == "throughput":
                doc["steps"][name], doc["throughput"] = step_throughput(args, work)
            elif name == "replay":
                doc["steps"][name], doc["replay"] = step_replay(args, work, args.replay_sizes or REPLAY_SIZES[mode])
            elif name == "worker_memory":
                doc["steps"][name], doc["worker_memory"] = step_worker_memory(args, work)
            elif name == "text_kernel":
                doc["steps"][name], doc["text_kernel"] = step_text_kernel(args, work)
            else:
                doc["steps"][name], doc["memory"] = step_memory(args)
            s = doc["steps"][name]
            log(f"step {name}: {'ok' if s['ok'] else 'FAILED'} in {s['seconds']:.0f} s"
                + (f": {_first_lines(s['error'])}" if s.get("error") else ""))
    finally:
        terminate_all()
        doc["wall_s"] = round(time.monotonic() - t0, 1)
        doc["per_round"] = per_round(doc["throughput"])
        doc["targets"] = targets(doc)
        doc["png"] = str(png.relative_to(REPO)) if png.is_relative_to(REPO) else str(png)
        write_json(out, doc)
        log(f"wrote {out}")
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    try:
        if plot(doc, png):
            log(f"wrote {png}")
        else:
            log("no throughput rounds: no plot")
    except Exception as exc:  # noqa: BLE001 - the plot must not lose the results
        log(f"plot failed: {exc!r}")
    print(table(doc), flush=True)
    return 0 if all(s["ok"] for s in doc["steps"].values()) else 1


if __name__ == "__main__":
    main_entry(main)
