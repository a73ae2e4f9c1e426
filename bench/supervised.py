#!/usr/bin/env python3
"""What the supervised model adds over the graded evidence alone (issue 12, item 3).

For each labelled events file (``stream-guard loadgen --out EVENTS --labels LABELS``):

1. a verdicts file as analysts would give them: ``--share`` (10 %) of the campaign
   accounts labelled ``malicious`` and the same share of the active benign accounts
   labelled ``benign``, chosen by a seeded draw, each verdict ``--delay`` (1 h) of event
   time after the account's first event;
2. ``stream-guard replay`` twice: the evidence and the population models (*evidence
   alone*), then with the supervised model learning from the verdicts (*with
   supervised*: ``STREAM_GUARD_PER_ACCOUNT_EVALUATORS=evidence,population,supervised``);
3. both scored with ``stream-guard score`` on the accounts *without* a verdict (a derived
   labels file drops the labelled ones), so that what the model was told is not counted.

Prints a table and writes ``bench/results/supervised.json``. The figures compare the
two runs in the same process tree, same files. A benchmark, not a test.

Example::

    stream-guard loadgen --scenario designs --seed 12 --out /tmp/d.jsonl --labels /tmp/d.labels.json
    python bench/supervised.py /tmp/d.jsonl /tmp/d.labels.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stream_guard.loadgen.timeutil import parse_iso

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def verdicts(labels: dict[str, Any], share: float, delay_s: float, seed: int) -> tuple[list[dict[str, Any]], set[str]]:
    """The sampled verdicts and the accounts they name."""
    rnd = random.Random(seed)
    out: list[dict[str, Any]] = []
    for account, e in sorted(labels["accounts"].items()):
        if not e.get("events") or not e.get("first_ts"):
            continue
        if rnd.random() >= share:
            continue
        label = "malicious" if e.get("label") == "campaign" else "benign"
        start = parse_iso(e["first_ts"])
        if label == "malicious" and e.get("active_from"):
            start = max(start, parse_iso(e["active_from"]))
        out.append({"account_id": account, "label": label, "at": start + delay_s})
    return out, {v["account_id"] for v in out}


def run(cmd: list[str], env: dict[str, str], log: Path) -> float:
    t0 = time.monotonic()
    with log.open("wb") as fh:
        subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, check=True)
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("events", type=Path)
    ap.add_argument("labels", type=Path)
    ap.add_argument("--share", type=float, default=0.1, help="share of accounts given a verdict (default 0.1)")
    ap.add_argument("--delay", type=float, default=3600.0, help="event seconds from first event to verdict")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=RESULTS / "supervised.json")
    args = ap.parse_args()
    doc = json.loads(args.labels.read_text())
    given, named = verdicts(doc, args.share, args.delay, args.seed)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_GUARD_")}
    sg = [sys.executable, "-m", "stream_guard"]
    results: dict[str, Any] = {"events": str(args.events), "share": args.share, "delay_s": args.delay,
                               "verdicts": {"malicious": sum(v["label"] == "malicious" for v in given),
                                            "benign": sum(v["label"] == "benign" for v in given)}}
    with tempfile.TemporaryDirectory(prefix="sg-supervised-") as tmp:
        work = Path(tmp)
        vfile = work / "verdicts.jsonl"
        vfile.write_text("".join(json.dumps(v) + "\n" for v in given))
        unlabelled = dict(doc, accounts={a: e for a, e in doc["accounts"].items() if a not in named})
        lfile = work / "unlabelled.labels.json"
        lfile.write_text(json.dumps(unlabelled))
        runs = {"evidence alone": {"STREAM_GUARD_PER_ACCOUNT_EVALUATORS": "evidence,population"},
                "with supervised": {"STREAM_GUARD_PER_ACCOUNT_EVALUATORS": "evidence,population,supervised",
                                    "STREAM_GUARD_SUPERVISED_LABELS_FILE": str(vfile)}}
        for name, extra in runs.items():
            alerts = work / f"{name.replace(' ', '-')}.alerts.jsonl"
            print(f"[supervised] replay, {name} ...", flush=True)
            wall = run([*sg, "replay", str(args.events), "--out", str(alerts), "--partitions", "4"],
                       {**env, **extra}, work / "replay.log")
            report = work / "score.json"
            run([*sg, "score", "--alerts", str(alerts), "--labels", str(lfile), "--json", str(report)], env,
                work / "score.log")
            r = json.loads(report.read_text())
            results[name] = {"summary": r["summary"], "replay_wall_s": round(wall, 1),
                             "campaigns": {c["name"]: {"detected": c["detected"],
                                                       "time_to_detect_s": c["time_to_detect_s"],
                                                       "recall_medium": c.get("recall_medium")}
                                           for c in r["campaigns"]},
                             "fpr_by_kind_high": {k: v.get("high") for k, v in
                                                  r["benign"].get("by_kind_severity", {}).items()}}
    a, b = results["evidence alone"], results["with supervised"]
    print(f"\nverdicts: {results['verdicts']} ({args.share:.0%} of accounts, {args.delay / 3600:g} h after their "
          f"first event); scored on the accounts without a verdict")
    print(f"{'':28s} {'evidence alone':>16s} {'with supervised':>16s}")
    for key in ("mean_recall_medium", "benign_fpr_medium", "benign_fpr_high", "alerts_per_account_day"):
        print(f"{key:28s} {a['summary'].get(key, 0):16.4f} {b['summary'].get(key, 0):16.4f}")
    for name in a["campaigns"]:
        ta, tb = a["campaigns"][name]["time_to_detect_s"], b["campaigns"][name]["time_to_detect_s"]
        print(f"  {name:26s} ttd {'-' if ta is None else f'{ta / 60:.0f} min':>10s} -> "
              f"{'-' if tb is None else f'{tb / 60:.0f} min':>10s}; recall@medium "
              f"{a['campaigns'][name]['recall_medium']} -> {b['campaigns'][name]['recall_medium']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
