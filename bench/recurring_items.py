"""Would a cross-day item memory help? An offline test before building it (issue 12, item 5).

An evaluation harness asks a finite item set again, across runs, models and days; a
distiller asks ever-new items. The core remembers an account's last 16 prompts and
counts the day's distinct ones, so "asked again on another day" is not a feature yet.
Building it means a new per-account sketch in the compiled kernel and a new record
version, so this script measures first: for each calibration row (``evidence_calibration.py
collect``) it computes, from the events file, the share of the account's distinct items of
the current UTC day that it also asked on the previous day (exactly, by ``prompt_hash``),
adds it as an *against* term (``share * n / (n + 10)``, ``n`` the day's distinct items,
weight capped at ``--cap``), refits the evidence on the training rows with and without it,
and scores both fits on the held-out rows.

    python bench/recurring_items.py \\
        --train std1.npz=std1.jsonl ... --heldout std2.npz=std2.jsonl des12.npz=des12.jsonl \\
        --out bench/results/recurring_items.json

Each ``ROWS=EVENTS`` pair is a rows file and the events file it was collected from
(``stream-guard loadgen`` with the same options regenerates it).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from stream_guard.contracts import parse_ts
from stream_guard.core import evidence

import evidence_calibration as cal

NAME = "recurring"
_DAY = 86400.0


def recurring_share(events: Path, rows_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the share of the day's distinct items (up to the row's time) that the
    account also asked on the previous UTC day, and the day's distinct items."""
    d = np.load(rows_path)
    accounts, ats = d["account"], d["at"]  # an NpzFile reads an array again at each access
    index = {str(n): i for i, n in enumerate(d["names"])}
    asked: dict[int, list[tuple[float, str]]] = defaultdict(list)
    with events.open("rb") as f:
        for line in f:
            e = orjson.loads(line)
            a = index.get(e.get("account_id"))
            if a is not None and e.get("prompt_hash"):
                asked[a].append((parse_ts(e["ts"]), e["prompt_hash"]))
    share, basis = np.zeros(len(ats)), np.zeros(len(ats))
    days: dict[int, set[str]] = defaultdict(set)
    account, seen, j = -1, [], 0
    for i in np.lexsort((ats, accounts)):
        if int(accounts[i]) != account:
            account = int(accounts[i])
            seen, j, days = sorted(asked.get(account, [])), 0, defaultdict(set)
        at = float(ats[i])
        while j < len(seen) and seen[j][0] < at:
            days[int(seen[j][0] // _DAY)].add(seen[j][1])
            j += 1
        today, yesterday = days.get(int(at // _DAY), set()), days.get(int(at // _DAY) - 1, set())
        basis[i] = len(today)
        share[i] = len(today & yesterday) / len(today) if today else 0.0
    return share, basis


ShareFn = Callable[[Path, Path], tuple[np.ndarray, np.ndarray]]


def rows_with_term(pairs: list[tuple[Path, Path]], share_of: ShareFn, k: float) -> cal.Rows:
    """The rows of ``pairs`` with the experiment's term (the last column): ``share * n / (n + k)``."""
    rows = cal.Rows([r for r, _ in pairs])  # computed with the extra term at 0
    parts = [share_of(e, r) for r, e in pairs]
    rows.phi[:, -1] = np.concatenate([s * n / (n + k) for s, n in parts])
    return rows


def experiment(name: str, signal: str, detail: str, share_of: ShareFn, k: float, doc: str,
               caps: list[float]) -> None:
    """An *against* term ``name`` added to the evidence, refitted at each cap of its weight
    (0 first: the fit without it) on ``--train`` rows and scored on ``--heldout`` rows."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    pair = lambda text: tuple(Path(p) for p in text.split("=", 1))  # noqa: E731
    ap.add_argument("--train", type=pair, nargs="+", required=True, metavar="ROWS=EVENTS")
    ap.add_argument("--heldout", type=pair, nargs="+", required=True, metavar="ROWS=EVENTS")
    ap.add_argument("--cap", type=float, nargs="+", default=caps, help="caps of the term's weight to try")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    term = evidence.Term(name, signal, detail, lambda f: 0.0, evidence.AGAINST, 0.0)
    evidence.TERMS = (*evidence.TERMS, term)  # an experiment: the packaged evaluator is not changed
    cal.TERMS = evidence.TERMS
    train, heldout = rows_with_term(args.train, share_of, k), rows_with_term(args.heldout, share_of, k)
    results: list[dict[str, Any]] = []
    for cap in [0.0, *args.cap]:
        evidence.TERMS = (*evidence.TERMS[:-1], evidence.Term(name, term.signal, term.detail, term.of,
                                                             evidence.AGAINST, cap))
        cal.TERMS = evidence.TERMS
        w = cal.fit_weights(train, cal.FitParams(), [r for r, _ in args.train])
        fig = cal.figures(heldout, w)
        entry = {"cap": cap, "weight": w.weights.get(name, 0.0), **cal._summary(fig),
                 "research_nat_medium": fig.get("benign:research_nat", {}).get("share", {}).get("medium"),
                 "eval_run_medium": fig.get("benign:eval_run", {}).get("share", {}).get("medium"),
                 "weights": w.weights}
        results.append(entry)
        print(f"cap {cap:4.2f}: weight {entry['weight']:+.2f}  recall@medium {100 * entry['mean_recall_medium']:.1f}%  "
              f"FPR@medium {100 * entry['benign_fpr_medium']:.2f}%  FPR@high {100 * entry['benign_fpr_high']:.2f}%  "
              f"research groups @medium {100 * (entry['research_nat_medium'] or 0):.1f}%  "
              f"evaluation runs @medium {100 * (entry['eval_run_medium'] or 0):.1f}%", flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps({"train": [str(r) for r, _ in args.train],
                                        "heldout": [str(r) for r, _ in args.heldout], "results": results},
                                       indent=2) + "\n")


def main() -> None:
    experiment(NAME, "recurring_share_day", "items also asked on the previous day", recurring_share, 10.0,
               __doc__ or "", [0.75, 2.0])


if __name__ == "__main__":
    main()
