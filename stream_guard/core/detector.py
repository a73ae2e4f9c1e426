"""The per-account detector: events in, alerts out, on event time only.

One :class:`Detector` owns the state of a set of accounts (the worker keeps one per
Kafka partition; ``replay`` keeps one for the whole file). Per event it does O(1) work:
drop duplicates, update the account's windows, and evaluate the account when the event
crosses the account's next evaluation boundary. Accounts that go quiet are evaluated once
the watermark passes their boundary plus a grace (:meth:`Detector.advance`).

An account is evaluated at boundary ``B`` (a multiple of ``eval_interval_s``) with exactly
its events before ``B``, whatever the arrival order across accounts or partitions, so the
live worker and ``replay`` raise the same alerts for the same input.

>>> from stream_guard.settings import Settings
>>> det = Detector(Settings(eval_interval_s=60, rule_short_requests=50), clock=lambda: 0.0)
>>> alerts = []
>>> for i in range(400):   # 2 requests/s of distinct, step-by-step prompts
...     ev = {"event_id": f"e{i}", "account_id": "x", "model": "m", "input_tokens": 50,
...           "output_tokens": 1500, "prompt": f"Problem {i}: think step by step."}
...     alerts += det.process(ev, 1000.0 + i / 2)
>>> [(a["subject"], a["severity"], a["window_end"]) for a in alerts]   # then escalation
[('x', 'high', '1970-01-01T00:18:00.000Z'), ('x', 'critical', '1970-01-01T00:19:00.000Z')]
>>> det.process(ev, 1200.0), det.duplicates   # same event_id again: dropped
([], 1)
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import xxhash

from stream_guard.core.alerts import admit, build_alert
from stream_guard.core.rules import Verdict, VolumeRule
from stream_guard.core.state import AccountState
from stream_guard.settings import Settings

__all__ = ["Detector"]


class Detector:
    """Per-account state and evaluation for one partition of the account space."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.s = settings
        self.clock = clock
        self.rules = [VolumeRule(settings)]
        self.accounts: dict[str, AccountState] = {}
        self.dirty: set[str] = set()
        self._due: dict[float, list[str]] = {}  # boundary -> accounts with events before it
        self._due_heap: list[float] = []
        self._ids_cur: set[int] = set()  # recent event ids, two generations
        self._ids_prev: set[int] = set()
        self._next_sweep = 0.0
        self.max_ts = 0.0  # the latest event time seen (this partition's watermark)
        self.duplicates = 0
        self.rejected = 0  # events of new accounts refused because max_accounts was reached
        self.evaluations = 0

    # --- the per-event path -----------------------------------------------------------------
    def process(self, event: dict[str, Any], ts: float) -> list[dict[str, Any]]:
        """Account for one valid event; returns the alerts it raised (usually none)."""
        key = xxhash.xxh3_64_intdigest(event["event_id"].encode())
        if key in self._ids_cur or key in self._ids_prev:
            self.duplicates += 1
            return []
        self._ids_cur.add(key)
        if len(self._ids_cur) * 2 >= self.s.dedup_window:
            self._ids_prev, self._ids_cur = self._ids_cur, set()
        if ts > self.max_ts:
            self.max_ts = ts
        account = event["account_id"]
        st = self.accounts.get(account)
        if st is None or ts - st.last_ts > self.s.account_ttl_s:
            if st is None and len(self.accounts) >= self.s.max_accounts:
                self.rejected += 1
                return []
            st = self._new_state(account, ts)
        alerts: list[dict[str, Any]] = []
        if ts >= st.next_eval:
            if st.pending:
                alerts = self._evaluate(st, st.next_eval)
            st.next_eval = self._boundary_after(ts)
        if not st.pending:
            self._schedule(account, st.next_eval)
        st.add(event, ts)
        self.dirty.add(account)
        return alerts

    # --- the per-interval path --------------------------------------------------------------
    def advance(self, watermark: float) -> list[dict[str, Any]]:
        """Evaluate quiet accounts whose boundary + grace lies at or before ``watermark``."""
        alerts: list[dict[str, Any]] = []
        limit = watermark - self.s.idle_grace_s
        while self._due_heap and self._due_heap[0] <= limit:
            boundary = heapq.heappop(self._due_heap)
            for account in self._due.pop(boundary):
                st = self.accounts.get(account)
                if st is not None and st.pending and st.next_eval == boundary:
                    alerts += self._evaluate(st, boundary)
        if watermark >= self._next_sweep:
            self._expire(watermark)
            self._next_sweep = watermark + self.s.eval_interval_s
        return alerts

    def flush(self) -> list[dict[str, Any]]:
        """Evaluate every account with pending events (end of a replay)."""
        return self.advance(math.inf)

    # --- checkpoints ------------------------------------------------------------------------
    def take_dirty(self) -> dict[str, dict[str, Any]]:
        """States of the accounts changed since the last call (and forget that they were)."""
        out = {a: self.accounts[a].to_dict() for a in self.dirty if a in self.accounts}
        self.dirty.clear()
        return out

    def restore(self, states: Iterable[dict[str, Any]]) -> int:
        """Load checkpointed account states; returns how many were loaded."""
        n = 0
        for data in states:
            st = AccountState.from_dict(data)
            self.accounts[st.account_id] = st
            self.max_ts = max(self.max_ts, st.last_ts)
            if st.pending:
                self._schedule(st.account_id, st.next_eval)
            n += 1
        return n

    # --- internals --------------------------------------------------------------------------
    def _new_state(self, account: str, ts: float) -> AccountState:
        st = AccountState(account, self.s.short_window_s, self.s.long_window_s)
        st.next_eval = self._boundary_after(ts)
        self.accounts[account] = st
        return st

    def _boundary_after(self, ts: float) -> float:
        step = self.s.eval_interval_s
        return (math.floor(ts / step) + 1) * step

    def _schedule(self, account: str, boundary: float) -> None:
        bucket = self._due.get(boundary)
        if bucket is None:
            self._due[boundary] = bucket = []
            heapq.heappush(self._due_heap, boundary)
        bucket.append(account)

    def _evaluate(self, st: AccountState, at: float) -> list[dict[str, Any]]:
        self.evaluations += 1
        st.pending = False
        self.dirty.add(st.account_id)
        snap = st.snapshot(at)
        verdicts: list[Verdict] = [v for rule in self.rules if (v := rule.evaluate(snap)) is not None]
        admitted = [
            v for v in verdicts
            if admit(st.active_alerts, v.detector, v.severity, at=at, cooldown_s=self.s.cooldown_s)
        ]
        if not admitted:
            return []
        return [
            build_alert(
                kind="account",
                subject=st.account_id,
                account_ids=[st.account_id],
                verdicts=admitted,
                window_start=at - self.s.long_window_s,
                window_end=at,
                raised_at=at,
                evidence=_evidence(snap, at),
                emitted_at=self.clock(),
            )
        ]

    def _expire(self, watermark: float) -> None:
        ttl = self.s.account_ttl_s
        stale = [a for a, st in self.accounts.items() if watermark - st.last_ts > ttl and not st.pending]
        for account in stale:
            del self.accounts[account]
            self.dirty.discard(account)


def _evidence(snap: dict[str, Any], at: float) -> dict[str, Any]:
    short, long = snap["short"], snap["long"]
    requests = max(long["requests"], 1.0)
    return {
        "short_requests": round(short["requests"], 1),
        "long_requests": round(long["requests"], 1),
        "long_input_tokens": round(long["input_tokens"]),
        "long_output_tokens": round(long["output_tokens"]),
        "long_distinct_prompts": round(long["distinct_prompts"], 1),
        "cot_share": round(long["cot_requests"] / requests, 4),
        "max_tokens_share": round(long["max_tokens_hits"] / requests, 4),
        "rate_limited_share": round(long["rate_limited"] / requests, 4),
        "first_turn_share": round(long["first_turn_requests"] / requests, 4),
        "first_seen_age_s": round(at - snap["first_seen"], 1) if snap["first_seen"] is not None else None,
    }
