"""Account profiles: what one account did in one link interval, as seen by the linking stage.

The per-account side of cross-account detection. For every account with traffic in an
event-time interval of ``link_interval_s``, a :class:`ProfileBuilder` collects the linking
attribute values it used (with request counts) in O(1) per event, and when the interval
is over (watermark past its end plus the idle grace) turns them into one
:class:`AccountProfile`: the values plus the account's own summary (day requests,
extraction-likeness, age, 24-hour activity mask). Profiles are what gets re-keyed by
attribute value (Kafka internal topic in the worker, a plain call in ``replay``).

The builder also feeds each event to the account's :class:`MixtureDetector` (reseller
mixing) and judges the account's sub-streams when its interval closes. When the intervals
close is decided by the detector's one per-account scheduler
(:class:`~stream_guard.core.detector.Detector`), which shares the features it extracted at
the same boundary.

The detector drives it (its scheduler closes intervals); by hand:

>>> from stream_guard.settings import Settings
>>> from stream_guard.core.state import AccountState
>>> s = Settings(link_interval_s=900, idle_grace_s=0)
>>> st = AccountState("a", s.horizons)
>>> b = ProfileBuilder(s)
>>> ev = {"account_id": "a", "model": "m", "input_tokens": 5, "output_tokens": 9, "ip": "10.1.2.3"}
>>> [b.observe(st, ev, ts, st.add(ev, ts)) for ts in (100.0, 101.0, 102.0)]   # opens [0, 900)
[900.0, None, None]
>>> b.close_at(st, 900.0)
>>> profiles, alerts = b.take(1000.0)
>>> p = profiles[0]
>>> p.account, p.at, p.requests, p.values[:2]   # addresses only as hashes (attributes.opaque)
('a', 900.0, 3, [('ip', 'h:efd9cff6cb52d8c6', 3), ('ip_prefix', 'h:9325e694dcc45033', 3)])
>>> AccountProfile.from_wire(p.to_wire()) == p
True
>>> import orjson   # decoded twice (two messages), one account id string
>>> wire = orjson.dumps(p.to_wire())
>>> AccountProfile.from_wire(orjson.loads(wire)).account is AccountProfile.from_wire(orjson.loads(wire)).account
True
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import xxhash

from stream_guard.core.alerts import Alert, admit, build_alert, episode_step
from stream_guard.core.features import day_summary
from stream_guard.core.linking.attributes import event_values_shared, frames_of, template_frames
from stream_guard.core.linking.likeness import extraction_likeness
from stream_guard.core.linking.mixture import MixtureDetector
from stream_guard.core.signals import PromptSignals
from stream_guard.core.state import AccountState
from stream_guard.settings import Settings

__all__ = ["UNKNOWN_AGE", "AccountProfile", "ProfileBuilder", "is_young"]

#: ``age_days`` of an account whose creation time the gateway does not send. First-seen
#: age would make every account "young" for the first weeks a detector runs: youth counts
#: only when the creation time is known.
UNKNOWN_AGE = -1.0
#: Distinct (kind, value) keys shared between open intervals before the cache is reset.
KEY_CACHE = 200_000
#: Prompts per account and interval whose template frames are taken (a text pass each).
FRAME_SAMPLES = 2


@dataclass(slots=True)
class AccountProfile:
    """One account's linking evidence for one interval ending at ``at``."""

    account: str
    at: float
    requests: int  # in this interval
    values: list[tuple[str, str, int]]  # (kind, value, requests in this interval)
    day_requests: float
    likeness: float
    age_days: float  # from account_created_at; UNKNOWN_AGE when the gateway does not send it
    hours: int  # 24-bit activity mask, bit 0 = the hour before ``at``

    def to_wire(self) -> list[Any]:
        """A compact JSON-able form (for the re-keying topic)."""
        return [self.account, self.at, self.requests, [list(v) for v in self.values],
                self.day_requests, self.likeness, self.age_days, self.hours]

    @classmethod
    def from_wire(cls, data: list[Any]) -> AccountProfile:
        """The inverse of :meth:`to_wire`."""
        account, at, requests, values, day, likeness, age, hours = data
        # interned: the attribute index keeps the account id in every value it used, and each
        # decoded message would otherwise give each of them its own copy (~70 B apiece)
        return cls(sys.intern(account), at, requests, [(k, v, n) for k, v, n in values], day, likeness, age, hours)


def is_young(age_days: float, young_days: float) -> bool:
    """Whether an account counts as young (never when its age is unknown).

    >>> is_young(3.0, 14.0), is_young(UNKNOWN_AGE, 14.0), is_young(30.0, 14.0)
    (True, False, False)
    """
    return 0.0 <= age_days < young_days


class _Interval:
    __slots__ = ("counts", "end", "frames", "requests")

    def __init__(self, end: float) -> None:
        self.end = end
        self.requests = 0
        self.counts: dict[tuple[str, str], int] = {}
        self.frames = 0


def _stream_key(event: dict[str, Any]) -> int:
    for field in ("system_prompt_hash", "api_key_id", "client_fingerprint"):
        value = event.get(field)
        if value:
            return xxhash.xxh3_64_intdigest(f"{field}:{value}".encode())
    return 0


class ProfileBuilder:
    """Collects linking values per account and interval; one per detector (partition).

    It holds the open intervals, not their schedule: the detector's one per-account
    scheduler closes an interval (:meth:`close_at`) at its end or, before it is counted, at
    the account's first event past it; :meth:`observe` tells it when a new interval ends.
    """

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.s = settings
        self.clock = clock
        self.mixture = MixtureDetector(settings)
        self._open: dict[str, _Interval] = {}
        self._profiles: list[AccountProfile] = []  # closed, not yet taken
        self._keys: dict[tuple[str, str], tuple[str, str]] = {}  # canonical (kind, value) keys
        self._alerts: list[Alert] = []
        self._hash_key = settings.link_hash_key.encode()

    def close_at(self, st: AccountState | None, end: float, features: dict[str, float] | None = None) -> None:
        """Close ``st``'s interval if it ends at ``end`` (the scheduler's call at boundary
        ``end``; an account whose state is gone gives no profile)."""
        if st is None:
            return
        acc = self._open.get(st.account_id)
        if acc is not None and acc.end == end:
            del self._open[st.account_id]
            self._close(st, acc, features)

    def open_end(self, account: str) -> float | None:
        """The end of the account's open interval (``None``: none open)."""
        acc = self._open.get(account)
        return None if acc is None else acc.end

    def observe(self, st: AccountState, event: dict[str, Any], ts: float, sig: PromptSignals | None) -> float | None:
        """Count one event of ``st``'s account (after ``st.add``; an interval the event is
        past was closed before it with :meth:`close_at`); returns the end of the interval it
        opened, if it opened one (to schedule its close)."""
        account = st.account_id
        acc = self._open.get(account)
        opened = None
        if acc is None or ts >= acc.end:
            if acc is not None:  # close_at was not called: close it now (as of now)
                self._close(st, acc, None)
            step = self.s.link_interval_s
            acc = self._open[account] = _Interval((math.floor(ts / step) + 1) * float(step))
            opened = acc.end
        acc.requests += 1
        counts = acc.counts
        get = counts.get
        # shared tuples (event_values_shared): one per distinct value, shared by accounts
        for key in event_values_shared(event, self._hash_key):
            counts[key] = get(key, 0) + 1
        if acc.frames < FRAME_SAMPLES:
            prompt = event.get("prompt")
            if prompt is not None:
                acc.frames += 1
                keys = self._keys
                # the frames of the text the prompt signals masked already (one masking pass)
                frames = frames_of(sig.masked) if sig is not None and sig.masked else template_frames(prompt)
                for frame in frames:
                    key = ("template", frame)
                    key = keys.setdefault(key, key)
                    counts[key] = get(key, 0) + 1
        self.mixture.observe(
            account, ts, _stream_key(event), sig,
            first_turn=event.get("turn_index", 0) == 0, output_tokens=event["output_tokens"],
            hashed=sig is None and event.get("prompt_hash") is not None,
        )
        return opened

    def _close(self, st: AccountState, acc: _Interval, features: dict[str, float] | None) -> None:
        at = acc.end
        f = day_summary(st, at) if features is None else features
        self._profiles.append(AccountProfile(
            st.account_id, at, acc.requests,
            sorted((k, v, n) for (k, v), n in acc.counts.items()),
            f["day_requests"], extraction_likeness(f),
            round(f["account_age_days"], 3) if f["age_known"] else UNKNOWN_AGE,
            st.hours_as_of(at),
        ))
        alert = self._mixture_alert(st, at, f)
        if alert is not None:
            self._alerts.append(alert)

    def take(self, watermark: float) -> tuple[list[AccountProfile], list[Alert]]:
        """The profiles closed since the last call, sorted by (end, account), and the
        mixture alerts raised meanwhile; sub-streams idle at ``watermark`` are dropped."""
        if len(self._keys) > KEY_CACHE:
            self._keys = {}  # open intervals keep their own references
        profiles, self._profiles = self._profiles, []
        alerts, self._alerts = self._alerts, []
        profiles.sort(key=lambda p: (p.at, p.account))
        if math.isfinite(watermark):
            self.mixture.expire(watermark)
        return profiles, alerts

    # --- checkpoints -------------------------------------------------------------------------
    def export(self, account: str) -> dict[str, Any] | None:
        """The account's open interval and sub-streams, JSON-able (``None``: nothing held),
        for the account's checkpoint record; :meth:`load` is the inverse."""
        acc = self._open.get(account)
        mix = self.mixture.export(account)
        if acc is None and mix is None:
            return None
        interval = None
        if acc is not None:
            interval = [acc.end, acc.requests, acc.frames, [[k, v, n] for (k, v), n in acc.counts.items()]]
        return {"open": interval, "mix": mix}

    def load(self, account: str, data: dict[str, Any] | None) -> float | None:
        """Restore what :meth:`export` gave for ``account``; returns the end of its open
        interval, if any (the detector schedules its close as it would have been: at its
        end, or at the account's next later event)."""
        if data is None:
            return None
        interval = data.get("open")
        end = None
        if interval is not None:
            acc = _Interval(float(interval[0]))
            acc.requests, acc.frames = int(interval[1]), int(interval[2])
            acc.counts = {(k, v): int(n) for k, v, n in interval[3]}
            self._open[account] = acc
            end = acc.end
        self.mixture.load(account, data.get("mix"))
        return end

    def expire(self, watermark: float) -> None:
        """Drop sub-streams idle at ``watermark`` (as :meth:`take` does)."""
        if math.isfinite(watermark):
            self.mixture.expire(watermark)

    def _mixture_alert(self, st: AccountState, at: float, f: dict[str, float]) -> Alert | None:
        verdict = self.mixture.evaluate(st.account_id, at)
        if verdict is None:
            return None
        if st.active_alerts is None:
            st.active_alerts = {}
        step = None
        if self.s.alert_episodes:
            # the account's one episode, shared with its per-account evaluators: a finding
            # that goes on extends it (no repeat each cooldown), a higher severity updates it
            step = episode_step(st.active_alerts, verdict.severity, at=at, cooldown_s=self.s.cooldown_s)
            if step is None:
                return None
        elif not admit(st.active_alerts, verdict.detector, verdict.severity, at=at, cooldown_s=self.s.cooldown_s):
            return None
        evidence: dict[str, Any] = {k: round(f[k], 4)
                                    for k in ("day_requests", "cot_share_day", "distinct_prompts_day")}
        if step is not None:
            evidence["episode"] = step
        return build_alert(
            kind="account", subject=st.account_id, account_ids=[st.account_id], verdicts=[verdict],
            score=verdict.score, severity=verdict.severity, window_start=at - self.s.day_window_s,
            window_end=at, raised_at=at, evidence=evidence, emitted_at=self.clock(),
        )
