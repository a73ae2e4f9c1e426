#!/usr/bin/env python3
"""Taking partitions over: how long a fresh worker takes to restore the state of N accounts
from the checkpoint topics, and its peak memory while it does, this checkout against a
baseline commit in the same run (issue 11, item 5: state without a second copy).

Per round and per code (the baseline first, then this checkout; each round on fresh topics
of one real Apache Kafka broker, ``harness_common.broker``):

1. a writer worker (``harness_common.WorkerProcess`` of that code, every default setting
   but a 2 s checkpoint interval and an account cap above N) consumes ``bench/throughput.py``'s
   event pool (``make_dataset``: log-normal account activity, linking attributes, prompt
   text or hashes) in per-partition JSON arrays, until ``stream_guard_events_total`` has
   every event; it is stopped (SIGTERM: its final checkpoint);
2. a reader worker of the same code starts on the same topics: *ready* = from its launch
   until ``/readyz`` is 200 (partitions assigned and state restored); *restored* = until its
   ``stream_guard_tracked_accounts`` equals the writer's; *peak RSS* = its ``VmHWM`` then
   (the restore is the largest thing it has done), *RSS* = its ``VmRSS``.

The baseline is a detached ``git worktree`` of ``--baseline`` (default 46a95a5: the worker
still restored through Faust tables, whose recovery keeps the records it reads in the table's
memory until the worker clears it) with this checkout's compiled text kernel copied in.
Prints a table and the medians' ratios (this / baseline); writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness_common import (
    REPO,
    WorkerProcess,
    broker,
    create_topics,
    git_info,
    log,
    machine_info,
    main_entry,
    md_table,
    metric,
    produce,
    rss_bytes,
    unique_names,
    wait_for,
    write_json,
)
from throughput import make_dataset

PARTITIONS = 4


def baseline_checkout(ref: str, workdir: Path) -> Path:
    """A detached worktree of ``ref`` with this checkout's compiled kernel (if built)."""
    path = workdir / f"baseline-{ref}"
    if not path.exists():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), ref], check=True,
                       capture_output=True)
    for so in (REPO / "stream_guard").glob("_native*.so"):
        shutil.copy2(so, path / "stream_guard" / so.name)
    return path


def one_round(bootstrap: str, code: Path, label: str, messages: list[tuple[int, bytes, bytes]], events: int,
              accounts: int, workdir: Path) -> dict[str, Any]:
    names = unique_names(f"restore-{label}")
    create_topics(bootstrap, [names["STREAM_GUARD_INPUT_TOPIC"]], PARTITIONS)
    env = {**names, "STREAM_GUARD_TOPIC_PARTITIONS": str(PARTITIONS), "STREAM_GUARD_CHECKPOINT_INTERVAL_S": "2",
           "STREAM_GUARD_MAX_ACCOUNTS": str(2 * accounts)}
    tag = f"{label}-{names['STREAM_GUARD_APP_ID']}"
    writer = WorkerProcess(bootstrap, env, workdir / f"{tag}-w", workdir / f"{tag}-writer.log", code_dir=code)
    writer.start()
    try:
        produce(bootstrap, names["STREAM_GUARD_INPUT_TOPIC"], messages, timeout=600)
        wait_for(lambda: metric(writer.metrics(), "stream_guard_events_total", outcome="processed") >= events,
                 timeout=1800, interval=1.0, what="the writer processed every event")
        time.sleep(3)  # the gauges of the last tick; a checkpoint pass (the final one follows on SIGTERM)
        tracked = metric(writer.metrics(), "stream_guard_tracked_accounts")
    finally:
        code_w = writer.stop(timeout=300)
    if code_w != 0:
        raise RuntimeError(f"writer exited {code_w}:\n{writer.log_tail()}")
    reader = WorkerProcess(bootstrap, env, workdir / f"{tag}-r", workdir / f"{tag}-reader.log", code_dir=code)
    t0 = time.monotonic()
    reader.launch()
    try:
        wait_for(lambda: reader.status("/readyz", timeout=2) == 200, timeout=1800, interval=0.2,
                 what="the reader ready")
        ready_s = time.monotonic() - t0
        wait_for(lambda: metric(reader.metrics(), "stream_guard_tracked_accounts") >= tracked, timeout=600,
                 interval=0.2, what="the reader tracking every account")
        restored_s = time.monotonic() - t0
        assert reader.proc is not None
        pid = reader.proc.pid
        peak, rss = rss_bytes(pid, peak=True), rss_bytes(pid)
        got = metric(reader.metrics(), "stream_guard_tracked_accounts")
    finally:
        code_r = reader.stop(timeout=120)
    row = {"code": label, "accounts_tracked": tracked, "reader_tracked": got, "ready_s": round(ready_s, 2),
           "restored_s": round(restored_s, 2), "peak_rss_bytes": peak, "rss_bytes": rss, "reader_exit": code_r}
    log(f"{label}: {row}")
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=100_000, help="accounts of the event pool")
    ap.add_argument("--events", type=int, default=300_000, help="events produced per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--baseline", default="46a95a5", help="git ref of the baseline code")
    ap.add_argument("--bootstrap", help="an existing broker (default: start one in --workdir)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/sg-restore"))
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "restore.json")
    a = ap.parse_args()
    a.workdir.mkdir(parents=True, exist_ok=True)
    codes = {"baseline": baseline_checkout(a.baseline, a.workdir), "this": REPO}
    started = time.monotonic()
    data = make_dataset(a.events, 0, a.accounts, 100, PARTITIONS, 50.0, seed=7)
    log(f"event pool: {data.events:,} events over {data.accounts:,} accounts in {len(data.batched):,} messages")
    rows: list[dict[str, Any]] = []
    with broker(a.bootstrap, a.workdir / "kafka") as bootstrap:
        for r in range(a.rounds):
            for label, code in codes.items():
                rows.append({"round": r + 1, **one_round(bootstrap, code, label, data.batched, data.events,
                                                          a.accounts, a.workdir)})
    mib = 1024 * 1024
    table = md_table(["round", "code", "accounts", "ready", "all accounts back", "peak RSS", "RSS after"],
                     [[str(x["round"]), x["code"], f"{x['accounts_tracked']:,.0f}", f"{x['ready_s']:.1f} s",
                       f"{x['restored_s']:.1f} s", f"{(x['peak_rss_bytes'] or 0) / mib:,.0f} MiB",
                       f"{(x['rss_bytes'] or 0) / mib:,.0f} MiB"] for x in rows], right={0, 2, 3, 4, 5, 6})
    ratios = {}
    for key in ("ready_s", "restored_s", "peak_rss_bytes", "rss_bytes"):
        base = statistics.median(x[key] or 0 for x in rows if x["code"] == "baseline")
        this = statistics.median(x[key] or 0 for x in rows if x["code"] == "this")
        ratios[f"{key} this/baseline"] = round(this / base, 3) if base else None
    print(table)
    print("medians, this / baseline: " + ", ".join(f"{k} {v}" for k, v in ratios.items()))
    write_json(a.out, {"benchmark": "restoring partitions' state in a fresh worker (issue 11 item 5)",
                       "command": " ".join(sys.argv), "machine": machine_info(), "git": git_info(),
                       "settings": {k: str(v) for k, v in vars(a).items()}, "rows": rows, "ratios": ratios,
                       "table": table, "wall_s": round(time.monotonic() - started, 1)})
    return 0


if __name__ == "__main__":
    main_entry(main)
