"""Offline replay: the same detection core over a file of request events.

Events are read from JSON Lines (optionally gzip-compressed; a line may hold one event
or a JSON array of them), validated with the same codec as the worker, sorted by event
time (stable for ties) and fed to one :class:`~stream_guard.core.detector.Detector`, with
the watermark advancing as event time does. Accounts are split over as many detectors as
the input topic has partitions (``--partitions``, default ``STREAM_GUARD_TOPIC_PARTITIONS``)
with Kafka's default partitioner, so each detector's population models see the same
accounts as the live worker's. The live worker raises the same alerts for the same input
(``tests/integration/test_worker.py``).
"""

from __future__ import annotations

import gzip
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from stream_guard.contracts import decode_message
from stream_guard.core.detector import Detector
from stream_guard.core.linking import LinkingPipeline
from stream_guard.core.linking.pipeline import linked_boundary
from stream_guard.core.partitioning import partition_for
from stream_guard.settings import Settings

__all__ = ["ReplayReport", "read_events", "replay"]


@dataclass(slots=True)
class ReplayReport:
    """What a replay saw and raised."""

    events: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    untracked: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    linking: LinkingPipeline | None = None  # the cross-account stages at the end (for inspection)


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return path.open("rb")


def read_events(path: Path, report: ReplayReport) -> list[tuple[float, int, dict[str, Any]]]:
    """Valid events of a file as (event time, sequence, event); bad lines are counted."""
    out: list[tuple[float, int, dict[str, Any]]] = []
    with _open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            msg = decode_message(line, max_bytes=sys.maxsize, max_batch=sys.maxsize)
            for dl in msg.dead_letters:
                report.dead_letters[dl.reason.value] += 1
            for event, ts in msg.events:
                out.append((ts, len(out), event))
    return out


def replay(
    path: Path,
    settings: Settings,
    *,
    flush: bool = True,
    partitions: int | None = None,
    on_alert: Callable[[dict[str, Any]], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    """Run the detector over ``path`` in event-time order; see the module docstring.

    With ``flush`` the accounts still pending at the end are evaluated too (as if the
    stream went on); without it the replay stops where a live worker's watermark would.
    """
    started = time.perf_counter()
    report = ReplayReport()
    events = read_events(path, report)
    events.sort(key=lambda item: (item[0], item[1]))
    n = partitions or settings.topic_partitions
    detectors = [Detector(settings) for _ in range(n)]
    owner: dict[str, Detector] = {}
    step = settings.eval_interval_s
    next_advance = 0.0
    linking = LinkingPipeline(settings) if settings.cross_account else None
    latest_profile = [-math.inf]

    def emit(alerts: list[dict[str, Any]]) -> None:
        for alert in alerts:
            report.alerts.append(alert)
            if on_alert is not None:
                on_alert(alert)

    def advance(watermark: float) -> None:
        for det in detectors:
            emit(det.advance(watermark))
            det.scores.clear()  # the worker turns these into a histogram; replay does not
            if linking is not None:
                profiles = det.take_profiles()
                if profiles:
                    latest_profile[0] = max(latest_profile[0], profiles[-1].at)
                linking.feed(profiles)
        if linking is not None:
            emit(linking.advance(linked_boundary(settings, watermark, latest_profile[0])))

    for i, (ts, _, event) in enumerate(_with_progress(events, progress)):
        if ts >= next_advance:
            advance(ts)
            next_advance = (ts // step + 1) * step
        account = event["account_id"]
        det = owner.get(account)
        if det is None:
            det = owner[account] = detectors[partition_for(account, n)]
        det.process(event, ts)
        report.events = i + 1
    advance(max((d.max_ts for d in detectors), default=0.0))
    if flush:
        advance(math.inf)
    report.linking = linking
    report.duplicates = sum(d.duplicates for d in detectors)
    report.untracked = sum(d.rejected for d in detectors)
    report.seconds = time.perf_counter() - started
    return report


def _with_progress(
    events: list[tuple[float, int, dict[str, Any]]], progress: Callable[[int, int], None] | None
) -> Iterator[tuple[float, int, dict[str, Any]]]:
    total = len(events)
    for i, item in enumerate(events):
        if progress is not None and i % 100_000 == 0:
            progress(i, total)
        yield item


def write_alerts(alerts: list[dict[str, Any]], out: IO[bytes]) -> None:
    """Alerts as JSON Lines."""
    for alert in alerts:
        out.write(orjson.dumps(alert) + b"\n")
