#!/usr/bin/env python3
"""What analyst verdicts change (issue 13, item 4): precision, recall and time to detect
before and after a labelling policy, on labelled load-generator traffic.

For each labelled events file (``stream-guard loadgen --out EVENTS --labels LABELS``):

1. ``stream-guard replay`` without verdicts (*before*);
2. a labelling policy over those alerts, by event time, as a team working the alert queue
   would: each alerted subject (account or cluster) is reviewed at its first alert with
   probability ``--share`` (10 %), drawn separately for true alerts (the subject is a
   campaign account, or a cluster whose named accounts are mostly campaign accounts) and
   false ones; a reviewed true alert is *confirmed* (``malicious``), a reviewed false one
   *cleared* (``benign``), ``--delay`` (1 h) of event time after the alert;
3. ``stream-guard replay --verdicts`` with those verdicts (*after*);
4. both scored with ``stream-guard score``: on all accounts, and on the accounts no verdict
   named (neither directly nor as a listed member of a judged cluster), so that what the
   analysts were told is not counted as the detector's merit.

Both runs use the same evaluators: by default the documented ones; ``--supervised`` adds
the supervised model, which learns from the verdicts. The policy samples the *before*
alerts: a live team would review the alerts as they come, which are the same until the
first verdict applies and differ only after it (cleared accounts stop alerting).

Prints a table and writes ``bench/results/feedback.json`` (or ``--out``). A benchmark,
not a test; each replay of the held-out designs file takes about half a minute here.

Example::

    stream-guard loadgen --scenario designs --seed 12 --out /tmp/d.jsonl --labels /tmp/d.labels.json
    python bench/feedback.py /tmp/d.jsonl /tmp/d.labels.json --supervised
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

from stream_guard.contracts import parse_ts
from stream_guard.loadgen.timeutil import parse_iso

import harness_common

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
FIGURES = ("precision", "mean_recall_medium", "benign_fpr_medium", "benign_fpr_high", "alerts_per_account_day",
           "episodes_per_account_day")


def is_true_alert(alert: dict[str, Any], accounts: dict[str, Any]) -> bool:
    """Whether an alert names extraction: its account is a campaign account active by then, or
    most of the accounts a cluster alert lists are."""
    at = parse_ts(alert["raised_at"])
    named = alert["account_ids"] or [alert["subject"]]

    def attack(acct: str) -> bool:
        e = accounts.get(acct) or {}
        start = e.get("active_from") or e.get("first_ts")
        return e.get("label") == "campaign" and (start is None or parse_iso(start) <= at)

    return sum(map(attack, named)) * 2 > len(named)


def policy(alerts: list[dict[str, Any]], accounts: dict[str, Any], share: float, delay_s: float,
           seed: int) -> list[dict[str, Any]]:
    """The verdicts of the labelling policy (see the module docstring), in the contract's form."""
    draws = {True: random.Random(seed), False: random.Random(seed + 1)}
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    for a in sorted(alerts, key=lambda a: (a["raised_at"], a["alert_id"])):
        key = (a["kind"], a["subject"])
        if key in seen:
            continue
        seen.add(key)
        true = is_true_alert(a, accounts)
        if draws[true].random() >= share:
            continue
        out.append({"verdict_id": f"policy-{len(out)}", "subject": a["subject"], "subject_kind": a["kind"],
                    "verdict": "malicious" if true else "benign", "at": parse_ts(a["raised_at"]) + delay_s,
                    "reason": "confirmed by the harness policy" if true else "cleared by the harness policy",
                    "analyst": "harness", "account_ids": a["account_ids"]})
    return out


def unjudged(alerts: Path, named: set[str], out: Path) -> Path:
    """``alerts`` less those whose subject and every listed account a verdict named."""
    kept = [line for line in alerts.read_text().splitlines()
            if not ({(a := json.loads(line))["subject"], *a["account_ids"]} <= named)]
    out.write_text("".join(line + "\n" for line in kept))
    return out


def run(cmd: list[str], env: dict[str, str], log: Path) -> float:
    """``cmd`` to completion (an hour at most); its wall time (the bench toolkit's runner)."""
    return harness_common.run(cmd, log, 3600.0, env)


def scored(sg: list[str], alerts: Path, labels: Path, env: dict[str, str], work: Path) -> dict[str, Any]:
    report = work / "score.json"
    run([*sg, "score", "--alerts", str(alerts), "--labels", str(labels), "--json", str(report)], env,
        work / "score.log")
    r = json.loads(report.read_text())
    summary = dict(r["summary"], precision=r["alerts"]["precision"], alerts=r["alerts"]["considered"])
    return {"summary": summary,
            "campaigns": {c["name"]: {"detected": c["detected"], "time_to_detect_s": c["time_to_detect_s"],
                                      "recall_medium": c.get("recall_medium")} for c in r["campaigns"]}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("events", type=Path)
    ap.add_argument("labels", type=Path)
    ap.add_argument("--share", type=float, default=0.1, help="share of true and of false alerts reviewed (0.1)")
    ap.add_argument("--delay", type=float, default=3600.0, help="event seconds from an alert to its verdict")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--supervised", action="store_true", help="add the supervised model to both runs")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a STREAM_GUARD_* setting for both runs (the caller's environment is dropped)")
    ap.add_argument("--workdir", type=Path, help="keep the alerts, verdicts and logs here (default: a temp dir)")
    ap.add_argument("--out", type=Path, default=RESULTS / "feedback.json")
    args = ap.parse_args()
    args.events, args.labels = args.events.resolve(), args.labels.resolve()  # the children run in the repo
    doc = json.loads(args.labels.read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_GUARD_")}
    if args.supervised:
        env["STREAM_GUARD_PER_ACCOUNT_EVALUATORS"] = "evidence,population,supervised"
    env.update(item.split("=", 1) for item in args.set)
    sg = [sys.executable, "-m", "stream_guard"]
    results: dict[str, Any] = {"events": args.events.name, "share": args.share, "delay_s": args.delay,
                               "seed": args.seed, "supervised": args.supervised, "settings": args.set}
    with tempfile.TemporaryDirectory(prefix="sg-feedback-") as tmp:
        work = Path(tmp) if args.workdir is None else args.workdir
        work.mkdir(parents=True, exist_ok=True)
        before = work / "before.jsonl"
        print("[feedback] replay without verdicts ...", flush=True)
        results["replay_before_s"] = round(run([*sg, "replay", str(args.events), "--out", str(before),
                                                "--partitions", "4"], env, work / "replay.log"), 1)
        alerts = [json.loads(line) for line in before.read_text().splitlines()]
        given = policy(alerts, doc["accounts"], args.share, args.delay, args.seed)
        vfile = work / "verdicts.jsonl"
        vfile.write_text("".join(json.dumps({k: v for k, v in g.items() if k != "account_ids"}) + "\n"
                                 for g in given))
        results["verdicts"] = {f"{kind} {verdict}": sum(g["subject_kind"] == kind and g["verdict"] == verdict
                                                        for g in given)
                               for kind in ("account", "cluster") for verdict in ("malicious", "benign")}
        after = work / "after.jsonl"
        print(f"[feedback] {len(given)} verdicts; replay with them ...", flush=True)
        results["replay_after_s"] = round(run([*sg, "replay", str(args.events), "--out", str(after), "--partitions",
                                               "4", "--verdicts", str(vfile)], env, work / "replay.log"), 1)
        results["cluster_verdict_alerts"] = sum("cluster_verdict" in json.loads(line)["detectors"]
                                                for line in after.read_text().splitlines())
        named = {g["subject"] for g in given} | {a for g in given for a in g["account_ids"]}
        untouched = work / "untouched.labels.json"
        untouched.write_text(json.dumps(dict(doc, accounts={a: e for a, e in doc["accounts"].items()
                                                            if a not in named})))
        results["accounts_named_by_verdicts"] = len(named & set(doc["accounts"]))
        results["all accounts"] = {"before": scored(sg, before, args.labels, env, work),
                                   "after": scored(sg, after, args.labels, env, work)}
        # the other view: the alerts and accounts no verdict named (an alert naming only judged
        # accounts is left out, as are those accounts)
        results["accounts no verdict named"] = {
            name: scored(sg, unjudged(path, named, work / f"{name}.unjudged.jsonl"), untouched, env, work)
            for name, path in (("before", before), ("after", after))}
    model = "; with the supervised model" if args.supervised else ""
    print(f"alerts on accounts joining a cluster judged malicious (cluster_verdict): "
          f"{results['cluster_verdict_alerts']}")
    print(f"\nverdicts: {results['verdicts']} ({args.share:.0%} of true and of false alerted subjects, "
          f"{args.delay / 3600:g} h after their first alert){model}")
    for view in ("all accounts", "accounts no verdict named"):
        b, a = results[view]["before"], results[view]["after"]
        print(f"\n{view}:\n{'':28s} {'before':>10s} {'after':>10s}")
        for key in (*FIGURES, "alerts"):
            vb, va = b["summary"].get(key), a["summary"].get(key)
            print(f"{key:28s} {'-' if vb is None else f'{vb:.4f}':>10s} {'-' if va is None else f'{va:.4f}':>10s}")
        for name, cb in b["campaigns"].items():
            ca = a["campaigns"].get(name, {})
            tb, ta = cb["time_to_detect_s"], ca.get("time_to_detect_s")
            print(f"  {name:30s} ttd {'-' if tb is None else f'{tb / 60:.0f} min':>9s} -> "
                  f"{'-' if ta is None else f'{ta / 60:.0f} min':>9s}; recall@medium "
                  f"{cb['recall_medium']} -> {ca.get('recall_medium')}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
