#!/usr/bin/env python3
"""Peak memory of ``stream-guard replay`` against the size of its input file.

Generates one events file with the load generator (``stream-guard loadgen --scenario
standard --duration 7d --limit N``: benign population plus campaigns, ~1 KB per line, in
event-time order), takes its first ``n`` lines for each size, and runs ``stream-guard
replay FILE --out /dev/null`` on each in a fresh subprocess. The peak resident set size is
the child's ``ru_maxrss`` (``os.wait4``), which counts everything the process ever held
(Python heap, DataSketches' C++ allocations, the reorder buffer, gzip buffers), plus that of
its input and cross-account processes when it runs them (``--jobs 3``, the default on two or
more cores; ``wait4`` gives only the largest of them, so replay prints each one's own peak).

Before issue 10, replay read the whole file into a list and sorted it: 7.7 GB peak RSS on
a 2.15M-event file. Now the file is streamed through a bounded reorder buffer
(``--reorder-events``, default 100,000 events), so peak RSS should not grow with the file.

    python bench/replay_memory.py                      # 200k and 2M events (~10 minutes)
    python bench/replay_memory.py --sizes 50000,200000 --work /tmp/rm

Writes ``bench/results/replay_memory.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness_common import RESULTS, log

SUMMARY = re.compile(r"^replay: ([\d,]+) events in ([\d.]+) s \(([\d,]+)/s\)", re.MULTILINE)


def generate(path: Path, events: int) -> None:
    """The load generator's standard scenario over a week, cut at ``events`` events."""
    cmd = [sys.executable, "-m", "stream_guard", "loadgen", "--scenario", "standard", "--seed", "1",
           "--duration", "7d", "--limit", str(events), "--out", str(path), "--quiet"]
    log(f"generating {events:,} events: {' '.join(cmd[2:])}")
    subprocess.run(cmd, check=True)


def head(src: Path, dst: Path, lines: int) -> None:
    """The first ``lines`` lines of ``src`` (a prefix in event time: still sorted)."""
    with src.open("rb") as fi, dst.open("wb") as fo:
        for i, line in enumerate(fi):
            if i >= lines:
                break
            fo.write(line)


def measure(path: Path, extra: list[str]) -> dict[str, Any]:
    """Run one replay in a fresh process; its peak RSS, wall time and summary line."""
    cmd = [sys.executable, "-m", "stream_guard", "replay", str(path), "--out", os.devnull,
           "--progress-every", "30", *extra]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"replay failed ({proc.returncode}):\n{err}")
    m = SUMMARY.search(err)
    late = re.search(r"late (\d+);", err)
    # with the cross-account stages in a second process (replay --jobs 2), ru_maxrss is the
    # larger of the two processes: replay prints each one's peak, and their sum is reported
    rss = re.search(r"peak RSS ([\d,]+) MB this process(?: \+ ([\d,]+) MB the input process)?"
                    r"(?: \+ ([\d,]+) MB the cross-account process)?", err)

    def mb(group: int) -> int:
        return int(rss.group(group).replace(",", "")) * 1_000_000 if rss and rss.group(group) else 0

    own = mb(1) if rss else usage.ru_maxrss * 1024  # Linux: kilobytes
    reader, child = mb(2), mb(3)
    return {
        "command": " ".join(["stream-guard", *cmd[3:]]),
        "file_bytes": path.stat().st_size,
        "events": int(m.group(1).replace(",", "")) if m else None,
        "replay_s": float(m.group(2)) if m else None,
        "events_per_s": int(m.group(3).replace(",", "")) if m else None,
        "wall_s": round(wall, 1),
        "late": int(late.group(1)) if late else None,
        "peak_rss_bytes": own + reader + child,  # every process
        "peak_rss_replay_bytes": own,
        "peak_rss_input_process_bytes": reader,
        "peak_rss_linking_process_bytes": child,
    }


def table(runs: list[dict[str, Any]]) -> str:
    """The result table (also printed by ``suite.py``)."""
    lines = [f"{'events':>10}  {'file MB':>8}  {'peak RSS MB':>11}  {'events/s':>9}  {'wall s':>7}  late"]
    for r in runs:
        lines.append(f"{r['events'] or r['size']:>10,}  {r['file_bytes'] / 1e6:>8.0f}  "
                     f"{r['peak_rss_bytes'] / 1e6:>11.0f}  {r['events_per_s'] or 0:>9,}  {r['wall_s']:>7.0f}  "
                     f"{r['late']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="200000,2000000", help="events per file, comma-separated")
    ap.add_argument("--work", type=Path, default=Path("/tmp/stream-guard-replay-memory"),
                    help="where the generated files go (kept for re-runs)")
    ap.add_argument("--out", type=Path, default=RESULTS / "replay_memory.json",
                    help="JSON result file (default bench/results/replay_memory.json)")
    ap.add_argument("replay_args", nargs="*", help="extra `stream-guard replay` options (after --)")
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    args.work.mkdir(parents=True, exist_ok=True)
    full = args.work / f"events-{sizes[-1]}.jsonl"
    if not full.exists() or sum(1 for _ in full.open("rb")) < sizes[-1]:
        generate(full, sizes[-1])
    runs = []
    for n in sizes:
        path = full if n == sizes[-1] else args.work / f"events-{n}.jsonl"
        if path != full:
            head(full, path, n)
        log(f"replaying {n:,} events ...")
        runs.append({"size": n, **measure(path, args.replay_args)})
    doc = {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
                   f"Python {platform.python_version()}",
        "note": "peak RSS = ru_maxrss of the replay process plus those of its input and cross-account "
                "processes (replay --jobs 3, the default on 2+ cores; each printed by replay); files from "
                "`stream-guard loadgen --scenario standard "
                "--seed 1 --duration 7d --limit N` (first N lines for smaller sizes)",
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(table(runs))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
