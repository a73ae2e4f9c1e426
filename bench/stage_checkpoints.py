#!/usr/bin/env python3
"""Cost of the cross-account stages' checkpoint passes: changes only against the whole state.

Runs the detection flow (4 partitions, cross-account on, in this process) over the first
``--events`` events of a file, writes one whole pass of the attribute index and of the
cluster book, then after every ``--step`` further events a pass of changes of each
(``checkpoint_data(changes=True)`` through ``BlobCheckpoints``, as the worker's attribute
and cluster stages do), and prints its time and compressed size next to what serializing
and compressing the whole state would cost at the same point. Passes that span a link
boundary carry what was judged there; the others little more than the fields written whole.

    python bench/stage_checkpoints.py EVENTS.jsonl --events 150000 --step 500 --passes 5

(results: ``bench/results/stage_checkpoints.txt``). A benchmark: nothing is enforced.
"""

from __future__ import annotations

import argparse
import itertools
import time
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import orjson
from stream_guard.contracts import decode_message
from stream_guard.core.checkpoint import BlobCheckpoints
from stream_guard.core.flow import Flow, InProcessLinking
from stream_guard.core.partitioning import partition_for
from stream_guard.settings import Settings

PARTITIONS = 4


class Stage(Protocol):
    """What both the attribute index and the cluster book offer a checkpoint pass."""

    def checkpoint_data(self, *, changes: bool) -> dict[str, Any]: ...
    def export(self) -> dict[str, Any]: ...


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("events_file", type=Path, help="events (JSON Lines, one event per line, in event-time order)")
    ap.add_argument("--events", type=int, default=150_000, help="events before the whole pass (default 150,000)")
    ap.add_argument("--step", type=int, default=500, help="events between passes of changes (default 500)")
    ap.add_argument("--passes", type=int, default=5, help="passes of changes (default 5)")
    args = ap.parse_args(argv)
    s = Settings()
    links = InProcessLinking(s, clock=lambda: 0.0)
    flow = Flow(s, links, partitions=PARTITIONS, clock=lambda: 0.0)
    index, book = links.pipeline.index, links.pipeline.book
    parts: list[tuple[str, Stage, BlobCheckpoints]] = [
        ("index", index, BlobCheckpoints("0@attributes")), ("book", book, BlobCheckpoints("clusters"))]
    next_advance = 0.0

    def feed(lines: Iterable[bytes]) -> None:
        nonlocal next_advance
        for line in lines:
            for event, ts in decode_message(line).events:
                flow.process(partition_for(event["account_id"], PARTITIONS), event, ts)
                if ts >= next_advance:
                    flow.advance(ts)
                    next_advance = (ts // s.eval_interval_s + 1) * s.eval_interval_s

    with args.events_file.open("rb") as fh:
        feed(itertools.islice(fh, args.events))
        for _, state, cp in parts:
            list(cp.records({"state": state.checkpoint_data(changes=False)}, 0))
        print(f"after {args.events:,} events: {len(index):,} values, {index.members():,} members; "
              f"{len(book.links):,} links, {len(book.account_cluster):,} clustered accounts; "
              f"a pass every {args.step:,} events:")
        for k in range(args.passes):
            feed(itertools.islice(fh, args.step))
            for name, state, cp in parts:
                started = time.perf_counter()
                data = {"state": state.checkpoint_data(changes=True)}
                size = sum(len(r.value or b"") for r in cp.records(data, k + 1, delta=True))
                changes_s = time.perf_counter() - started
                started = time.perf_counter()
                whole = len(zlib.compress(orjson.dumps(state.export()), 1))
                whole_s = time.perf_counter() - started
                print(f"  pass {k} {name:5}: changes {changes_s * 1000:7.1f} ms {size:>11,} B   "
                      f"whole would be {whole_s * 1000:7.1f} ms {whole:>11,} B")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
