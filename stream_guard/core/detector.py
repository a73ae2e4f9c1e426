"""The per-account detector: events in, alerts out, on event time only.

One :class:`Detector` owns the state of a set of accounts and its own population models
(the worker keeps one per Kafka partition; ``replay`` splits accounts over the same
number of detectors with Kafka's partitioner). Per event it does O(1) work: drop
duplicates, update the account's windows, rings and timing, and, when the event crosses
the account's next evaluation boundary ``B``, *stage* the account's features as of ``B``.
Quiet accounts are staged when the watermark passes their boundary plus a grace.

**One scheduler per account.** Every per-account task that runs at an event-time boundary
sits in one heap of boundaries: staging an account's evaluation (every
``eval_interval_s``), finalising a boundary, and closing the account's cross-account profile
(every ``link_interval_s``, :class:`~stream_guard.core.linking.profile.ProfileBuilder` holds
the open intervals, not their schedule). A task runs when the watermark passes its boundary
plus the grace, or, for the account's own tasks, at its first event past the boundary
(before that event is counted). A profile that closes at a boundary where the account's
features were already staged reuses them.

Staging first screens the account cheaply: an account with too little traffic in the
long and day windows for any rule is not featurised (unless it is its turn to feed the
models). Once the watermark passes ``B`` plus the grace, boundary ``B`` is *finalised*: its
staged accounts are scored in account-id order (rules and population models, which then learn
from the clean ones), and alerts go out. Features at ``B`` hold exactly the account's
events before ``B``, and models change only at finalisation, in boundary order, so the
live worker and ``replay`` raise the same alerts whatever the arrival order across
partitions.

>>> from stream_guard.settings import Settings
>>> det = Detector(Settings(eval_interval_s=60, rule_short_requests=50, rule_day_requests=200), clock=lambda: 0.0)
>>> alerts = []
>>> for i in range(400):   # 2 requests/s of templated, step-by-step prompts
...     ev = {"event_id": f"e{i}", "account_id": "x", "model": "m", "input_tokens": 50,
...           "output_tokens": 1500, "prompt": f"Problem {i}: think step by step."}
...     det.process(ev, 1000.0 + i / 2)
...     alerts += det.advance(1000.0 + i / 2)
>>> alerts += det.flush()
>>> sorted({a["subject"] for a in alerts}), alerts[0]["evidence"]["episode"], alerts[0]["detectors"][0]
(['x'], 'new', 'evidence_score')
>>> det.process(ev, 1200.0), det.duplicates   # same event_id again: dropped
(None, 1)
"""

from __future__ import annotations

import heapq
import math
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import xxhash

from stream_guard.contracts import parse_ts
from stream_guard.core.alerts import Alert, admit, build_alert, episode_step
from stream_guard.core.features import unpack
from stream_guard.core.linking.profile import AccountProfile, ProfileBuilder
from stream_guard.core.scoring import Assessment, Evaluator, Scorer
from stream_guard.core.state import AccountState
from stream_guard.core.state_record import decode_state, encode_state
from stream_guard.core.verdicts import VerdictBook
from stream_guard.settings import Settings

__all__ = ["Detector"]


class Detector:
    """Per-account state, models and evaluation for one partition of the account space."""

    def __init__(
        self, settings: Settings, *, clock: Callable[[], float] = time.time, evaluators: Sequence[Evaluator] = (),
        verdicts: VerdictBook | None = None,
    ) -> None:
        self.s = settings
        self.clock = clock
        # analyst verdicts (core/verdicts.py): shared by every detector of a Flow
        self.verdicts = verdicts if verdicts is not None else VerdictBook.of(settings)
        self.scorer = Scorer(settings, evaluators, self.verdicts)  # the configured evaluators, then these
        self._horizons = settings.horizons  # one tuple shared by every account
        self.accounts: dict[str, AccountState] = {}
        self.dirty: set[str] = set()
        self.expired: set[str] = set()  # dropped since the last take_dirty (for tombstones)
        self._due: dict[float, list[str]] = {}  # boundary -> accounts with events before it
        self._staged: dict[float, list[str]] = {}  # boundary -> accounts with features staged
        self._link_due: dict[float, list[str]] = {}  # boundary -> accounts whose link interval ends there
        self._heap: list[float] = []  # boundaries present in _due, _staged or _link_due
        # expiry wheel: sweep slot -> accounts that may be stale by then (each account once)
        self._expiry: dict[int, list[str]] = {}
        self._ids_cur: set[int] = set()  # recent event ids, two generations
        # the previous generation, sorted: 8 bytes an id instead of ~60 in a set of ints
        self._ids_prev = array("Q")
        self.ids_generation = 0  # how many times the id generations turned over
        self._ids_new: list[int] = []  # ids added since the last take_new_ids (checkpoints)
        self._ids_turned: list[tuple[int, list[int]]] = []  # ... of generations turned over since
        self._next_sweep = 0.0
        self.advanced_to = 0.0  # the latest finite watermark given to advance()
        self.max_ts = 0.0  # the latest event time seen (this partition's watermark)
        self.duplicates = 0
        self.rejected = 0  # events of new accounts refused because max_accounts was reached
        self.evaluations = 0
        self.silenced = 0  # findings that raised no alert because of an allow or benign verdict
        self.scores: list[float] = []  # scores of finalised evaluations not yet collected
        # cross-account: linking values per account and interval (None when switched off)
        self.links = ProfileBuilder(settings, clock=clock) if settings.cross_account else None
        self.profiles: list[AccountProfile] = []  # closed profiles not yet collected

    # --- the per-event path -----------------------------------------------------------------
    def process(self, event: dict[str, Any], ts: float, offset: int = -1) -> None:
        """Account for one valid event (alerts come from :meth:`advance`).

        ``offset`` is the event's input offset: an account whose restored checkpoint
        already covers it (``offset < upto``, a partition re-read after a crash) only
        remembers its id.
        """
        key = xxhash.xxh3_64_intdigest(event["event_id"].encode())
        if key in self._ids_cur or self._seen_before(key):
            self.duplicates += 1
            return
        self._ids_cur.add(key)
        self._ids_new.append(key)
        if len(self._ids_cur) * 2 >= self.s.dedup_window:
            self._ids_prev, self._ids_cur = array("Q", sorted(self._ids_cur)), set()
            self._ids_turned.append((self.ids_generation, self._ids_new))
            self.ids_generation += 1
            self._ids_new = []
        if ts > self.max_ts:  # a compare, not max(): this runs per event
            self.max_ts = ts
        account = event["account_id"]
        st = self.accounts.get(account)
        if st is not None and offset < st.upto:
            return
        if st is None or (ts - st.last_ts > self.s.account_ttl_s and not st.staged):
            if st is None:
                if len(self.accounts) >= self.s.max_accounts:
                    self.rejected += 1
                    return
                self._expire_later(account, ts)
            st = self._new_state(account, ts)
        if ts >= st.next_eval:
            if st.pending:
                self._stage(st, st.next_eval)
            st.next_eval = self._boundary_after(ts)
        if not st.pending:
            self._push(self._due, st.next_eval, account)
        links = self.links
        if links is not None:
            end = links.open_end(account)
            if end is not None and ts >= end:  # past its link interval: the profile first
                links.close_at(st, end, self._staged_features(st, end))
            opened = links.observe(st, event, ts, st.add(event, ts, self.s))
            if opened is not None:
                self._push(self._link_due, opened, account)
        else:
            st.add(event, ts, self.s)
        self.dirty.add(account)

    # --- the per-interval path --------------------------------------------------------------
    def advance(self, watermark: float) -> list[Alert]:
        """Stage quiet accounts and finalise every boundary at or before ``watermark`` - grace."""
        alerts: list[Alert] = []
        limit = watermark - self.s.idle_grace_s
        links = self.links
        while self._heap and self._heap[0] <= limit:
            boundary = heapq.heappop(self._heap)
            for account in self._due.pop(boundary, ()):
                st = self.accounts.get(account)
                if st is not None and st.pending and st.next_eval == boundary:
                    self._stage(st, boundary)
                    # a late event (before this boundary) now belongs to the next interval
                    st.next_eval = boundary + self.s.eval_interval_s
            if links is not None:
                for account in sorted(self._link_due.pop(boundary, ())):
                    st = self.accounts.get(account)
                    links.close_at(st, boundary, self._staged_features(st, boundary))
            alerts += self._finalise(boundary)
        if links is not None:
            profiles, mixture_alerts = links.take(watermark)
            self.profiles += profiles
            alerts += self._unsilenced(mixture_alerts)
            self.dirty.update(p.account for p in profiles if p.account in self.accounts)
        if watermark >= self._next_sweep and math.isfinite(watermark):
            self._expire(watermark)
            self._next_sweep = watermark + self.s.eval_interval_s
        if math.isfinite(watermark) and watermark > self.advanced_to:
            self.advanced_to = watermark
        return alerts

    def flush(self) -> list[Alert]:
        """Evaluate and finalise everything pending (end of a replay)."""
        return self.advance(math.inf)

    def _unsilenced(self, alerts: list[Alert]) -> list[Alert]:
        """``alerts`` less those on accounts an allow or benign verdict silences when raised."""
        if not alerts or not len(self.verdicts):
            return alerts
        kept = [a for a in alerts if self.verdicts.silenced(a["subject"], parse_ts(a["raised_at"])) is None]
        self.silenced += len(alerts) - len(kept)
        return kept

    def take_profiles(self) -> list[AccountProfile]:
        """Account profiles closed since the last call (for the linking stage)."""
        out, self.profiles = self.profiles, []
        return out

    # --- checkpoints ------------------------------------------------------------------------
    def take_dirty(self, upto: int = -1) -> dict[str, bytes | None]:
        """Checkpoint records (:mod:`~stream_guard.core.state_record`) of the states changed
        since the last call (``None`` for expired accounts); forgets them.

        ``upto`` is the next input offset: each state records that it covers every event
        of its account before it (see :meth:`process`).
        """
        # Sorted: the same state gives the same records in the same order in every process.
        out: dict[str, bytes | None] = dict.fromkeys(sorted(self.expired))
        links = self.links
        for a in sorted(self.dirty):
            st = self.accounts.get(a)
            if st is None:
                continue
            st.upto = upto
            out[a] = encode_state(st, links.export(a) if links is not None else None)
        self.dirty.clear()
        self.expired.clear()
        return out

    def take_new_ids(self) -> list[tuple[int, list[int]]]:
        """(id generation, event ids remembered in it since the last call), oldest first."""
        out = [*self._ids_turned, (self.ids_generation, self._ids_new)]
        self._ids_turned, self._ids_new = [], []
        return out

    def load_ids(self, generation: int, current: Iterable[int], previous: Iterable[int]) -> None:
        """Restore the duplicate-id memory (the inverse of collecting :meth:`take_new_ids`)."""
        self.ids_generation = generation
        self._ids_cur, self._ids_prev = set(current), array("Q", sorted(set(previous)))
        self._ids_new, self._ids_turned = [], []

    def _seen_before(self, key: int) -> bool:
        """Whether ``key`` is in the previous id generation."""
        prev = self._ids_prev
        i = bisect_left(prev, key)
        return i < len(prev) and prev[i] == key

    def clock_state(self) -> dict[str, float]:
        """Where this detector is in event time (for a checkpoint's marker)."""
        return {"max_ts": self.max_ts, "advanced_to": self.advanced_to, "next_sweep": self._next_sweep}

    def load_clock_state(self, data: dict[str, float]) -> None:
        """Restore :meth:`clock_state` (after :meth:`restore`)."""
        self.max_ts = max(self.max_ts, float(data["max_ts"]))
        self.advanced_to = float(data["advanced_to"])
        self._next_sweep = float(data["next_sweep"])
        if self.links is not None:
            self.links.expire(self.advanced_to)  # sub-streams dropped after their account's record

    def restore(self, states: Iterable[bytes]) -> int:
        """Load checkpoint records of account states (:meth:`take_dirty`); returns how many."""
        n = 0
        for value in states:
            st, link = decode_state(value)
            self.accounts[st.account_id] = st
            if self.links is not None:
                end = self.links.load(st.account_id, link)
                if end is not None:
                    self._push(self._link_due, end, st.account_id)
            self.max_ts = max(self.max_ts, st.last_ts)
            self._expire_later(st.account_id, st.last_ts)
            for boundary, _ in st.staged or ():
                self._push(self._staged, boundary, st.account_id)
            if st.pending:
                self._push(self._due, st.next_eval, st.account_id)
            n += 1
        return n

    # --- internals --------------------------------------------------------------------------
    def _new_state(self, account: str, ts: float) -> AccountState:
        st = AccountState(account, self._horizons)
        st.next_eval = self._boundary_after(ts)
        self.accounts[account] = st
        return st

    def _boundary_after(self, ts: float) -> float:
        step = self.s.eval_interval_s
        return (math.floor(ts / step) + 1) * step

    def _push(self, table: dict[float, list[str]], boundary: float, account: str) -> None:
        bucket = table.get(boundary)
        if bucket is None:
            table[boundary] = bucket = []
            heapq.heappush(self._heap, boundary)
        bucket.append(account)

    def _learn_turn(self, account: str, boundary: float) -> bool:
        turn = xxhash.xxh3_64_intdigest(account.encode()) + int(boundary // self.s.eval_interval_s)
        return turn % self.s.model_learn_every == 0

    def _could_fire(self, st: AccountState) -> bool:
        """Cheap screen: can any rule fire for this account at all? (Most quiet accounts can't.)"""
        s = self.s
        return (
            st.windows.requests_bound(2) >= min(s.pattern_min_requests, s.model_min_requests)
            or st.windows.requests_bound(1) >= s.rule_min_requests
        )

    def _stage(self, st: AccountState, boundary: float) -> None:
        st.pending = False
        if st.staged is None:
            st.staged = []
        needed = self._could_fire(st) or self._learn_turn(st.account_id, boundary)
        st.staged.append((boundary, st.features(boundary, self.s) if needed else None))
        self._push(self._staged, boundary, st.account_id)
        self.dirty.add(st.account_id)

    @staticmethod
    def _staged_features(st: AccountState | None, boundary: float) -> dict[str, float] | None:
        """The features staged for ``boundary``, if any (a profile closing there shares them)."""
        if st is None or not st.staged:
            return None
        for at, packed in st.staged:
            if at == boundary and packed is not None:
                return unpack(packed)
        return None

    def _finalise(self, boundary: float) -> list[Alert]:
        alerts = []
        for account in sorted(set(self._staged.pop(boundary, ()))):
            st = self.accounts.get(account)
            if st is None or not st.staged:
                continue
            entry = next((item for item in st.staged if item[0] == boundary), None)
            if entry is None:
                continue
            st.staged = [item for item in st.staged if item[0] != boundary] or None
            self.dirty.add(account)
            self.evaluations += 1
            if entry[1] is None:  # screened out at staging: too little traffic for any rule
                self.scores.append(0.0)
                continue
            features = unpack(entry[1])
            gate = st.active_alerts or {}
            calm = all(until <= boundary for _, until in gate.values())
            # an account an analyst judged benign is clean data, whatever fires on it
            clean = self.verdicts.label_at(account, boundary) is False
            may_learn = (calm or clean) and self._learn_turn(account, boundary)
            memory = st.memory if st.memory is not None else {}
            assessment = self.scorer.assess(features, may_learn=may_learn, account=account, at=boundary,
                                            memory=memory, clean=clean)
            st.memory = memory or None
            self.scores.append(assessment.score)
            alert = self._gate(st, boundary, features, assessment)
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _gate(self, st: AccountState, at: float, features: dict[str, float], a: Assessment) -> Alert | None:
        if a.severity is None:
            return None
        if self.verdicts.silenced(st.account_id, at) is not None:
            self.silenced += 1  # allow-listed or judged benign: tracked, no alert, no episode
            return None
        if st.active_alerts is None:
            st.active_alerts = {}
        step = None
        if self.s.alert_episodes:
            step = episode_step(st.active_alerts, a.severity, at=at, cooldown_s=self.s.cooldown_s)
            if step is None:
                return None
        elif not [v for v in a.verdicts
                  if admit(st.active_alerts, v.detector, a.severity, at=at, cooldown_s=self.s.cooldown_s)]:
            return None
        evidence = _evidence(features, a.population)
        if step is not None:
            evidence["episode"] = step
        return build_alert(
            kind="account",
            subject=st.account_id,
            account_ids=[st.account_id],
            verdicts=a.verdicts,
            score=a.score,
            severity=a.severity,
            window_start=at - self.s.day_window_s,
            window_end=at,
            raised_at=at,
            evidence=evidence,
            emitted_at=self.clock(),
        )

    def _slot(self, t: float) -> int:
        return math.floor(t / self.s.eval_interval_s)

    def _expire_later(self, account: str, last_ts: float, not_before: int | None = None) -> None:
        """Put ``account`` in the wheel at the sweep that could first find it stale (at the
        earliest at slot ``not_before``)."""
        slot = self._slot(last_ts + self.s.account_ttl_s)
        if not_before is not None and slot < not_before:
            slot = not_before
        self._expiry.setdefault(slot, []).append(account)

    def _expire(self, watermark: float) -> None:
        """Drop the accounts idle for more than the TTL at ``watermark`` (and not waiting for
        an evaluation). Only the wheel's due slots are visited: an account still active goes
        back in at the slot its last event gives, so each is looked at about once per TTL."""
        ttl = self.s.account_ttl_s
        now = self._slot(watermark)
        for slot in sorted(k for k in self._expiry if k <= now):
            for account in self._expiry.pop(slot):
                st = self.accounts.get(account)
                if st is None:
                    continue
                if watermark - st.last_ts > ttl and not st.pending and not st.staged:
                    del self.accounts[account]
                    self.dirty.discard(account)
                    self.expired.add(account)
                else:
                    self._expire_later(account, st.last_ts, not_before=now + 1)

_EVIDENCE = (
    "short_requests", "long_requests", "day_requests", "long_input_tokens", "long_output_tokens",
    "day_output_tokens", "distinct_prompts_day", "distinct_ratio_day", "cot_share_day", "benchmark_share_day",
    "template_repeat_share_day", "near_dup_share_day", "first_turn_share_day", "max_tokens_share_day",
    "rate_limited_share_day", "categories_day", "active_hours", "iat_cv_day", "distinct_models", "distinct_ips",
    "account_age_days",
)


def _evidence(features: dict[str, float], population: str) -> dict[str, Any]:
    out: dict[str, Any] = {k: round(features[k], 4) for k in _EVIDENCE}
    out["population"] = population
    return out
