"""One event-time ordered stream from every simulated account, and its labels.

Each account is a lazy generator of its own events in time order (a campaign with a
common schedule, like the hydra, is one merged generator for all its accounts); a heap
holds one pending event per generator and always releases the earliest, so memory stays
bounded by the number of accounts whatever the simulated span (weeks, 20,000+ accounts). The
output is deterministic for a seed: every account draws from its own ``random.Random``
seeded from ``(seed, kind, index)`` through BLAKE2b, ties are broken by generator index,
and nothing depends on wall-clock time, dict order of unhashed inputs, or ``hash()``.

>>> from stream_guard.loadgen.scenarios import scenario
>>> gen = Generator(scenario("smoke", duration="1h", benign_accounts=10, campaigns="blunt"))
>>> evs = list(gen.events())
>>> all(a["ts"] <= b["ts"] for a, b in zip(evs, evs[1:]))
True
>>> gen.labels_doc()["run"]["complete"], "campaign" in evs[0]
(True, False)
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from stream_guard.loadgen.accounts import Account, Event, ModelCatalog, RunContext
from stream_guard.loadgen.calibration import Calibration, load_calibration
from stream_guard.loadgen.campaigns import Campaign, build_campaigns
from stream_guard.loadgen.designs import build_design_campaigns, build_design_population
from stream_guard.loadgen.ids import short_hex
from stream_guard.loadgen.labels import LABELS_SCHEMA_VERSION
from stream_guard.loadgen.population import build_population
from stream_guard.loadgen.prompts import PromptLibrary
from stream_guard.loadgen.scenarios import BENIGN_KINDS, CORE_BENIGN_KINDS, Scenario, recorded_knobs
from stream_guard.loadgen.timeutil import TsFormatter, format_iso

__all__ = ["REQUIRED_FIELDS", "Generator"]

REQUIRED_FIELDS = ("event_id", "ts", "account_id", "model", "input_tokens", "output_tokens")


def _bucket_s(span_s: float) -> int:
    if span_s <= 12 * 3600:
        return 300
    if span_s <= 2 * 86400:
        return 900
    if span_s <= 14 * 86400:
        return 3600
    return 21600


class Generator:
    """Builds the accounts of a scenario and merges their events.

    ``ts_format``: ``"iso"`` (RFC 3339 with ``+00:00``) or ``"epoch"`` (seconds, ms
    precision). ``omit_fields``: optional fields to drop from every event (to test a
    detector against poorer gateways); required fields cannot be omitted.
    """

    def __init__(
        self,
        sc: Scenario,
        *,
        prompts: PromptLibrary | None = None,
        calibration: Calibration | None = None,
        ts_format: str = "iso",
        omit_fields: tuple[str, ...] = (),
    ) -> None:
        if ts_format not in ("iso", "epoch"):
            raise ValueError("ts_format must be 'iso' or 'epoch'")
        bad = set(omit_fields) & set(REQUIRED_FIELDS)
        if bad:
            raise ValueError(f"required fields cannot be omitted: {', '.join(sorted(bad))}")
        self.scenario = sc
        self.ts_format = ts_format
        self.omit_fields = tuple(omit_fields)
        self.start_ms = round(sc.start_s * 1000)
        self.end_ms = self.start_ms + round(sc.span_s * 1000)
        if self.end_ms <= self.start_ms:
            raise ValueError("duration must be > 0")
        campaigns = sc.campaign_list()
        release = self.start_ms + int(sc.offset_s(sc.release_at) * 1000) if "pivot" in campaigns else None
        knobs = {k: v for k, v in recorded_knobs(sc).items() if k != "name"}
        self.run_id = short_hex("run", orjson.dumps(knobs, option=orjson.OPT_SORT_KEYS).decode(), size=4)
        self.ctx = RunContext(
            seed=sc.seed,
            start_ms=self.start_ms,
            end_ms=self.end_ms,
            calibration=calibration or load_calibration(),
            prompts=prompts or PromptLibrary.builtin(),
            models=ModelCatalog(new_model=sc.new_model, release_ms=release),
            privacy=sc.privacy,
            error_rate=sc.error_rate,
        )
        self.benign: list[Account] = build_population(self.ctx, sc) + build_design_population(self.ctx, sc)
        self.campaigns: list[Campaign] = build_campaigns(self.ctx, sc) + build_design_campaigns(self.ctx, sc)
        self.accounts: list[Account] = list(self.benign)
        for c in self.campaigns:
            self.accounts.extend(c.accounts)
        # activity series: one per campaign, one per core benign kind, one per newer benign
        # kind that has accounts (so runs without them keep the series they always had)
        present = {a.kind for a in self.benign}
        self.series_names: list[str] = [c.name for c in self.campaigns] + [
            f"benign:{k}" for k in BENIGN_KINDS if k in CORE_BENIGN_KINDS or k in present
        ]
        index = {n: i for i, n in enumerate(self.series_names)}
        self._series_of: list[int] = [index[f"benign:{a.kind}"] for a in self.benign]
        for c in self.campaigns:
            self._series_of.extend(index[c.name] for _ in c.accounts)
        self.bucket_s = _bucket_s(sc.span_s)
        n_buckets = -(-(self.end_ms - self.start_ms) // (self.bucket_s * 1000))
        self._series: list[list[int]] = [[0] * n_buckets for _ in self.series_names]
        self._count: list[int] = [0] * len(self.accounts)
        self._first: list[int] = [-1] * len(self.accounts)
        self._last: list[int] = [-1] * len(self.accounts)
        self.emitted = 0
        self.last_ts_ms = self.start_ms
        self.complete = False

    def sources(self) -> list[Iterator[tuple[int, Event]]]:
        """Every lazy event source, in a fixed order (its index breaks time ties)."""
        out = [a.events() for a in self.benign]
        for c in self.campaigns:
            out.extend(c.sources())
        return out

    def merged(self, select: Callable[[int], bool] | None = None) -> Iterator[tuple[int, int, Event]]:
        """``(ts_ms, source index, event)`` of the selected sources, in ``(ts, index)`` order.

        Events still have placeholder ``event_id`` / ``ts``; :meth:`events` fills them.
        """
        heap: list[tuple[int, int, Event, Any]] = []
        for idx, source in enumerate(self.sources()):
            if select is not None and not select(idx):
                continue
            nxt = source.__next__
            try:
                ts, ev = nxt()
            except StopIteration:
                continue
            heap.append((ts, idx, ev, nxt))
        heapq.heapify(heap)
        heapreplace, heappop = heapq.heapreplace, heapq.heappop
        while heap:
            ts, idx, ev, nxt = heap[0]
            try:
                t2, ev2 = nxt()
                heapreplace(heap, (t2, idx, ev2, nxt))
            except StopIteration:
                heappop(heap)
            yield ts, idx, ev

    def positions(self) -> dict[str, int]:
        """account_id -> position in :attr:`accounts`."""
        return {a.account_id: i for i, a in enumerate(self.accounts)}

    def events(self) -> Iterator[Event]:
        """All events, in event-time order (a generator: call once)."""
        fmt = TsFormatter()
        iso = self.ts_format == "iso"
        omit = self.omit_fields
        prefix = f"{self.run_id}-"
        series, series_of = self._series, self._series_of
        position = self.positions()
        count, first, last = self._count, self._first, self._last
        start, bucket_ms = self.start_ms, self.bucket_s * 1000
        seq = self.emitted
        prev = start
        for ts, _idx, ev in self.merged():
            if ts < prev:  # an account's clock never goes back, but be safe: keep order
                ts = prev
            prev = ts
            seq += 1
            ev["event_id"] = f"{prefix}{seq}"
            ev["ts"] = fmt(ts) if iso else ts / 1000.0
            if omit:
                for k in omit:
                    ev.pop(k, None)
            pos = position[ev["account_id"]]
            series[series_of[pos]][(ts - start) // bucket_ms] += 1
            count[pos] += 1
            if first[pos] < 0:
                first[pos] = ts
            last[pos] = ts
            if not seq & 1023:  # progress for sinks, without an attribute write per event
                self.emitted = seq
                self.last_ts_ms = ts
            yield ev
        self.emitted = seq
        self.last_ts_ms = prev
        self.complete = True

    def lines(self, workers: int = 1) -> Iterator[tuple[bytes, bytes]]:
        """``(account_id, JSON line)`` of every event, in order; the bytes are identical
        whatever ``workers`` is (> 1: sources are generated in that many processes)."""
        if workers > 1:
            from stream_guard.loadgen.parallel import parallel_lines

            yield from parallel_lines(self, workers)
            return
        dumps = orjson.dumps
        for ev in self.events():
            yield ev["account_id"].encode(), dumps(ev)

    def labels_doc(self) -> dict[str, Any]:
        """The labels document (see ``labels``); complete once ``events()`` is exhausted."""
        sc = self.scenario
        accounts: dict[str, dict[str, Any]] = {}

        def entry(i: int, acct: Account, label: str, campaign: str | None, active_from: int) -> None:
            accounts[acct.account_id] = {
                "label": label,
                "kind": acct.kind,
                "campaign": campaign,
                "active_from": format_iso(active_from / 1000.0),
                "events": self._count[i],
                "first_ts": format_iso(self._first[i] / 1000.0) if self._first[i] >= 0 else None,
                "last_ts": format_iso(self._last[i] / 1000.0) if self._last[i] >= 0 else None,
            }
            if acct.variant is not None:  # the newer designs only
                accounts[acct.account_id]["variant"] = acct.variant

        i = 0
        kinds: dict[str, dict[str, Any]] = {}
        for acct in self.benign:
            entry(i, acct, "benign", None, self.start_ms)
            k = kinds.setdefault(acct.kind, {"accounts": 0, "active_accounts": 0, "events": 0})
            k["accounts"] += 1
            k["active_accounts"] += self._count[i] > 0
            k["events"] += self._count[i]
            if acct.variant is not None:
                per = k.setdefault("variants", {})
                per[acct.variant] = per.get(acct.variant, 0) + 1
            i += 1
        campaigns: dict[str, dict[str, Any]] = {}
        for c in self.campaigns:
            n_events = 0
            for acct in c.accounts:
                entry(i, acct, "campaign", c.name, c.active_from_ms)
                n_events += self._count[i]
                i += 1
            campaigns[c.name] = {
                "kind": c.kind,
                "active_from": format_iso(c.active_from_ms / 1000.0),
                "pivot_at": format_iso(c.pivot_at_ms / 1000.0) if c.pivot_at_ms is not None else None,
                "accounts": len(c.accounts),
                "events": n_events,
                "params": c.params,
            }
        return {
            "schema_version": LABELS_SCHEMA_VERSION,
            "run": {
                "run_id": self.run_id,
                "scenario": sc.name,
                "seed": sc.seed,
                "start": format_iso(self.start_ms / 1000.0),
                "end": format_iso(self.end_ms / 1000.0),
                "events": self.emitted,
                "complete": self.complete,
                "knobs": recorded_knobs(sc),
            },
            "campaigns": campaigns,
            "benign_kinds": kinds,
            "accounts": accounts,
            "activity": {
                "bucket_s": self.bucket_s,
                "start": format_iso(self.start_ms / 1000.0),
                "series": dict(zip(self.series_names, self._series, strict=True)),
            },
        }
