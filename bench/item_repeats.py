#!/usr/bin/env python3
"""Would an "item asked again today, in another format" signal help? An offline test before building it.

Research groups and evaluation harnesses ask a finite item set again, across models and runs,
each run in its own prompt format (the same question, a different instruction around it), so
the exact prompt hash rarely repeats and ``distinct_ratio_day`` stays near 1 (held-out research
groups at ``medium`` rose after the evening refit of 2026-12-07; docs/detection.md 5.0). A
distiller asks ever-new items. The item is approximated without knowing any benchmark: the
prompt's *longest paragraph* (blank-line separated, whitespace folded), which is the question
itself when instructions sit before or after it. For each calibration row
(``evidence_calibration.py collect``) this script computes, from the events file, the share of
the account's prompts of the current UTC day (up to the row's time) whose item was already asked
earlier that day, adds it as an *against* term (``share * n / (n + 50)``, ``n`` the day's
prompts with text, weight capped at ``--cap``), refits the evidence on the training rows with
and without it, and scores both fits on the held-out rows. Hash-only events have no item: 0.

    python bench/item_repeats.py \\
        --train std1.npz=std1.jsonl ... --heldout std2.npz=std2.jsonl des13.npz=des13.jsonl \\
        --out bench/results/item_repeats.json

Each ``ROWS=EVENTS`` pair is a rows file and the events file it was collected from
(``stream-guard loadgen`` with the same options regenerates it).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import orjson
import xxhash
from stream_guard.contracts import parse_ts

from recurring_items import experiment

NAME = "item_repeat"
_DAY = 86400.0
_PARAGRAPHS = re.compile(r"\n\s*\n")
_SPACE = re.compile(r"\s+")


def item_key(prompt: str) -> int:
    """The hash of the prompt's longest paragraph, whitespace folded (an instruction longer
    than the question itself would be taken for the item: a known weakness).

    >>> q = "A train leaves at 3 pm at 60 km/h. When has it covered 150 km?\\nA) 5:30 pm\\nB) 5:00 pm"
    >>> item_key(q + "\\n\\nLet's think step by step.") == item_key(q + "\\n\\nAnswer with the letter only.")
    True
    >>> item_key(q) == item_key(q.replace("150", "120"))
    False
    """
    longest = max(_PARAGRAPHS.split(prompt), key=len)
    return xxhash.xxh3_64_intdigest(_SPACE.sub(" ", longest).strip().encode())


def item_repeat_share(events: Path, rows_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the share of the account's text prompts of the row's UTC day (before the
    row's time) whose item was asked earlier that day, and how many text prompts that is."""
    d = np.load(rows_path)
    accounts, ats = d["account"], d["at"]  # an NpzFile reads an array again at each access
    index = {str(n): i for i, n in enumerate(d["names"])}
    asked: dict[int, list[tuple[float, int]]] = defaultdict(list)
    with events.open("rb") as f:
        for line in f:
            e = orjson.loads(line)
            a = index.get(e.get("account_id"))
            if a is not None and isinstance(e.get("prompt"), str):
                asked[a].append((parse_ts(e["ts"]), item_key(e["prompt"])))
    share, basis = np.zeros(len(ats)), np.zeros(len(ats))
    account, seen, j = -1, [], 0
    day, items, prompts, repeats = -1, set(), 0, 0
    for i in np.lexsort((ats, accounts)):
        if int(accounts[i]) != account:
            account = int(accounts[i])
            seen, j, day, items, prompts, repeats = sorted(asked.get(account, [])), 0, -1, set(), 0, 0
        at = float(ats[i])
        while j < len(seen) and seen[j][0] < at:
            ts, key = seen[j]
            if int(ts // _DAY) != day:
                day, items, prompts, repeats = int(ts // _DAY), set(), 0, 0
            prompts += 1
            repeats += key in items
            items.add(key)
            j += 1
        if int(at // _DAY) != day:  # nothing yet on the row's day
            continue
        basis[i] = prompts
        share[i] = repeats / prompts if prompts else 0.0
    return share, basis


def main() -> None:
    experiment(NAME, "item_repeat_share_day", "items asked again today in another format", item_repeat_share, 50.0,
               __doc__ or "", [1.0, 2.5])


if __name__ == "__main__":
    main()
