"""Per-account state on event time: what the detectors know about one account.

An :class:`AccountState` is updated in O(1) per event (a few hashes, ring lookups,
counter increments and, when the prompt text is present, the text signals of
:mod:`~stream_guard.core.signals`). It holds:

- :class:`~stream_guard.core.window.Windows`: counters over the short, long and day
  horizons, distinct prompts and capability categories of the day;
- :class:`~stream_guard.core.recent.Recent`: rings of recent prompt and template
  fingerprints (repeats), of models, sampling parameters, IPs, user agents and client
  fingerprints (spread), and the last 8 near-duplicate signatures;
- near-duplicate sampling: the signature (:mod:`~stream_guard.core.neardup`, a few µs)
  is computed for every new text prompt (not an exact repeat) while the account has
  fewer than ``near_dup_sketch_all_below`` text requests in its current and previous day
  generations, then for every ``near_dup_sketch_every``-th one only, counted per account: the
  live worker and ``replay`` see an account's events in the same order, so they sketch
  the same ones;
- timing: inter-arrival gap moments in the windows (count, sum, sum of squares: the
  gaps' mean and coefficient of variation per horizon) and a 24-bit mask of the hours
  with activity. (River's ``stats.EWVar`` would do the same at ~200 bytes per account,
  a tenth of the whole budget; three float32 counters per horizon cost 24 bytes.)
- bookkeeping: first/last event time, account creation time, next evaluation boundary,
  staged evaluations awaiting their boundary's finalisation, and the alert gate's memory.

The update runs compiled (``AccountKernel`` of ``stream_guard._native``, native/src/account.rs)
when the extension was built: the same work on the same objects, so the state above has one
layout whichever path counted it; :meth:`AccountState.add_python` is the reference it is
tested against (``tests/unit/core/test_state_native.py``).

It never holds raw prompt text. Checkpoints store it as a compact binary record
(:mod:`~stream_guard.core.state_record`); :meth:`AccountState.to_dict` is a JSON-able
picture (tests, and the records of earlier versions).

>>> st = AccountState("acct-1", (300.0, 3600.0, 86400.0))
>>> _ = st.add({"model": "m", "input_tokens": 10, "output_tokens": 900, "ip": "10.0.0.1",
...         "stop_reason": "max_tokens", "prompt": "Think step by step: 2+2?"}, 100.0)
>>> snap = st.windows.snapshot(120.0)
>>> snap["long_requests"], snap["long_cot_requests"], snap["day_max_tokens_hits"]
(1.0, 1.0, 1.0)
>>> AccountState.from_dict(st.to_dict()).windows.snapshot(120.0) == snap
True
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import xxhash

from stream_guard.contracts import parse_ts
from stream_guard.core.alerts import Cooldown
from stream_guard.core.features import FEATURES, extract_python, pack, unpack
from stream_guard.core.neardup import NEAR
from stream_guard.core.recent import RING_OFFSETS, RINGS, SKETCH_OFFSET, SKETCHES, Recent
from stream_guard.core.signals import (
    PromptSignals,
    analyze_prompt,
    analyze_prompt_python,
    native,
    prompt_fingerprint,
    text_kernel,
)
from stream_guard.core.window import COUNTERS, Windows, new_distinct_sketch
from stream_guard.settings import DEFAULTS, Settings

if TYPE_CHECKING:
    from stream_guard._native import AccountKernel

__all__ = ["HOUR_MASK", "AccountState"]

HOUR_BITS = 24
HOUR_MASK = (1 << HOUR_BITS) - 1  # the last 24 hours, bit 0 = the hour of the latest event
_TEXT = COUNTERS.index("text_requests")
#: The counters :meth:`AccountState.add_python` counts, in the order it builds its per-event tuple
#: (positional: no names on the per-event path). Checked against window.COUNTERS at import,
#: also under ``python -O``.
_ADD_ORDER = (
    "requests", "input_tokens", "output_tokens", "cot_requests", "benchmark_requests", "max_tokens_hits",
    "rate_limited", "first_turn_requests", "tool_requests", "prompt_repeats", "template_repeats",
    "text_requests", "hashed_requests", "gaps", "gap_sum", "gap_sq_sum", "sketched_requests", "near_dup_requests",
)
if _ADD_ORDER != COUNTERS:
    raise ImportError("AccountState.add counts its values in _ADD_ORDER, which no longer matches window.COUNTERS")

_NO_FEATURES = array("d", bytes(8 * len(FEATURES)))


def _h(value: Any) -> int:
    return xxhash.xxh3_64_intdigest(str(value).encode())


def _build_kernel() -> AccountKernel | None:
    """The compiled account kernel (``stream_guard._native``, built from ``native/``: the
    per-event update and the features), given the layouts of the modules that own the state
    and the text kernel; ``None`` when the extension was not built."""
    kernel = text_kernel()
    if kernel is None:
        return None
    from stream_guard._native import AccountKernel  # built with the text kernel

    if not AccountKernel.feature_order_is(list(FEATURES)):
        raise ImportError("stream_guard._native computes features in another order than features.FEATURES: rebuild it")
    return AccountKernel(
        kernel=kernel,
        fingerprint_fallback=prompt_fingerprint,
        analyze_fallback=analyze_prompt_python,
        signals_type=PromptSignals,
        new_sketch=new_distinct_sketch,
        counters=list(COUNTERS),
        rings=[(name, offset, RINGS[name]) for name, offset in RING_OFFSETS.items()],
        sketch_offset=SKETCH_OFFSET,
        sketches=SKETCHES,
        near=NEAR,
        hour_bits=HOUR_BITS,
    )


class AccountState:
    """Everything stream-guard keeps about one account."""

    __slots__ = (
        "account_id",
        "active_alerts",
        "created_at",
        "first_seen",
        "hour_mask",
        "last_hour",
        "last_ts",
        "memory",
        "next_eval",
        "pending",
        "recent",
        "sketch_seq",
        "staged",
        "upto",
        "windows",
    )

    def __init__(self, account_id: str, horizons: Sequence[float]) -> None:
        self.account_id = account_id
        self.windows = Windows(horizons)
        self.recent = Recent()
        self.hour_mask = 0
        self.last_hour = -1
        self.first_seen: float | None = None
        self.last_ts = 0.0
        self.created_at: float | None = None
        self.next_eval = 0.0  # event-time boundary of the next evaluation
        self.pending = False  # events arrived since the last evaluation
        # evaluations waiting for their boundary's finalisation: [(boundary, features), ...],
        # the features packed (features.pack), None when screened out
        self.staged: list[tuple[float, array[float] | None]] | None = None
        # the alert gate: detector -> (severity rank, active until (event time))
        self.active_alerts: dict[str, Cooldown] | None = None
        # what evaluators carry from one evaluation of the account to the next (the graded
        # evidence's accumulator): evaluator name -> two numbers
        self.memory: dict[str, tuple[float, float]] | None = None
        self.sketch_seq = 0  # new text prompts seen, modulo near_dup_sketch_every (the sampling turn)
        # input offset the last checkpoint of this state covers (events of this account at
        # lower offsets are already in it when a partition is re-read after a crash); -1: none
        self.upto = -1

    def add(self, event: dict[str, Any], ts: float, s: Settings = DEFAULTS) -> PromptSignals | None:
        """Count one request event at event time ``ts`` under the tuning of ``s`` (which new
        prompts are sketched); returns its text signals (if any).

        The compiled account kernel (``stream_guard._native.AccountKernel``) does it when it was built
        and the compiled text kernel is on (:func:`~stream_guard.core.signals.native`),
        otherwise :meth:`add_python` does: the same state and signals either way."""
        if _kernel is None or not native():
            return self.add_python(event, ts, s)
        if self.first_seen is None:
            self._first(event, ts)
        return _kernel.add(self, event, ts, s.near_dup_sketch_every, s.near_dup_sketch_all_below)

    def features(self, at: float, s: Settings = DEFAULTS) -> array[float]:
        """The account's features as of event time ``at`` packed in ``features.FEATURES``
        order (:func:`~stream_guard.core.features.pack`): compiled like :meth:`add`, else
        ``pack(extract_python(self, at, s))``."""
        packed = self.compiled_features(at, s)
        return pack(extract_python(self, at, s)) if packed is None else packed

    def compiled_features(self, at: float, s: Settings = DEFAULTS) -> array[float] | None:
        """:meth:`features` when the compiled kernel computes them, else ``None``."""
        if _kernel is None or not native():
            return None
        out = array("d", _NO_FEATURES)
        _kernel.features(self, at, s.near_dup_min_basis, out)
        return out

    def _first(self, event: dict[str, Any], ts: float) -> None:
        self.first_seen = ts
        created = event.get("account_created_at")
        if created is not None:
            self.created_at = parse_ts(created)

    def add_python(self, event: dict[str, Any], ts: float, s: Settings = DEFAULTS) -> PromptSignals | None:
        """The pure-Python reference of :meth:`add`."""
        if self.first_seen is None:
            self._first(event, ts)
        gap = 0.0
        if ts > self.last_ts:
            if self.last_ts > 0:
                gap = ts - self.last_ts
            self.last_ts = ts
        self._mark_hour(ts)
        recent = self.recent
        fingerprint = prompt_fingerprint(event)
        prompt = event.get("prompt")
        cot = bench = categories = sketched = near_dup = 0
        template_repeat = False
        sig = None
        prompt_repeat = fingerprint is not None and recent.push("prompt", fingerprint)
        if prompt is not None:
            sketch = False
            if not prompt_repeat:  # an exact repeat is no news (and trivially near)
                turn = self.sketch_seq
                self.sketch_seq = (turn + 1) % s.near_dup_sketch_every
                sketch = (turn == 0
                          or self.windows.bound(len(self.windows.lengths) - 1, _TEXT) < s.near_dup_sketch_all_below)
            sig = analyze_prompt(prompt, sketch=sketch)
            cot, bench, categories = int(sig.cot), int(sig.benchmark), sig.categories
            template_repeat = recent.push("template", sig.template) and not prompt_repeat
            if sig.sketch is not None:
                sketched = 1
                near_dup = int(recent.near(sig.sketch))
        recent.push("model", _h(event["model"]))
        if "temperature" in event or "top_p" in event:
            recent.push("params", _h((event.get("temperature"), event.get("top_p"))))
        for ring, field in (("ip", "ip"), ("user_agent", "user_agent"), ("client", "client_fingerprint")):
            value = event.get(field)
            if value is not None:
                recent.push(ring, _h(value))
        values = (  # in _ADD_ORDER (== COUNTERS)
            1,  # requests
            event["input_tokens"],
            event["output_tokens"],
            cot,
            bench,
            1 if event.get("stop_reason") == "max_tokens" else 0,  # max_tokens_hits
            1 if event.get("status") == 429 else 0,  # rate_limited
            1 if event.get("turn_index", 0) == 0 else 0,  # first_turn_requests
            1 if event.get("tools", 0) > 0 else 0,  # tool_requests
            1 if prompt_repeat else 0,
            1 if template_repeat else 0,
            1 if prompt is not None else 0,  # text_requests
            1 if prompt is None and fingerprint is not None else 0,  # hashed_requests
            1 if gap > 0 else 0,  # gaps
            gap,
            gap * gap,
            sketched,
            near_dup,
        )
        self.windows.add(ts, values, fingerprint, categories)
        self.pending = True
        return sig

    def _mark_hour(self, ts: float) -> None:
        hour = int(ts // 3600)
        if hour > self.last_hour:
            shift = hour - self.last_hour
            self.hour_mask = ((self.hour_mask << shift) & HOUR_MASK) if shift < 24 else 0
            self.hour_mask |= 1
            self.last_hour = hour
        elif self.last_hour - hour < 24:
            self.hour_mask |= 1 << (self.last_hour - hour)

    def hours_as_of(self, at: float) -> int:
        """The 24-hour activity mask aligned so that bit 0 is the hour before ``at``."""
        shift = int(at // 3600) - 1 - self.last_hour
        if shift <= 0:
            return self.hour_mask
        return (self.hour_mask << shift) & HOUR_MASK if shift < 24 else 0

    # --- checkpoints ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able picture of the state; holds no raw prompt text."""
        return {
            "account_id": self.account_id,
            "windows": self.windows.to_dict(),
            "recent": self.recent.to_dict(),
            "hour_mask": self.hour_mask,
            "last_hour": self.last_hour,
            "first_seen": self.first_seen,
            "last_ts": self.last_ts,
            "created_at": self.created_at,
            "next_eval": self.next_eval,
            "pending": self.pending,
            "staged": [[b, None if f is None else unpack(f)] for b, f in self.staged] if self.staged else None,
            "active_alerts": (None if self.active_alerts is None
                              else {k: list(v) for k, v in self.active_alerts.items()}),
            "sketch_seq": self.sketch_seq,
            "upto": self.upto,
            "memory": None if self.memory is None else {k: list(v) for k, v in self.memory.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccountState:
        """The inverse of :meth:`to_dict` (for checkpoints this worker wrote, and those of
        the version before the near-duplicate signals: empty sketch ring, zero counters)."""
        windows = Windows.from_dict(data["windows"])
        st = cls(data["account_id"], windows.lengths)
        st.windows = windows
        st.recent = Recent.from_dict(data["recent"])
        st.hour_mask = data["hour_mask"]
        st.last_hour = data["last_hour"]
        st.first_seen = data["first_seen"]
        st.last_ts = data["last_ts"]
        st.created_at = data["created_at"]
        st.next_eval = data["next_eval"]
        st.pending = data["pending"]
        # features of an older version lack the newer ones: pack gives them neutral values
        st.staged = [(b, None if f is None else pack(f)) for b, f in data["staged"]] if data["staged"] else None
        alerts = data["active_alerts"]
        st.active_alerts = {k: Cooldown(*v) for k, v in alerts.items()} if alerts else None
        st.sketch_seq = data.get("sketch_seq", 0)
        st.upto = data.get("upto", -1)
        memory = data.get("memory")
        st.memory = {k: (float(v[0]), float(v[1])) for k, v in memory.items()} if memory else None
        return st


_kernel = _build_kernel()
