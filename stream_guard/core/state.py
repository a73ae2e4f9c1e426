"""Per-account state on event time: what the detectors know about one account.

An :class:`AccountState` is small (a few hundred bytes) and updated in O(1) per event.
It holds a short and a long :class:`~stream_guard.core.window.SlidingWindow`, the next
evaluation boundary, and the alert gate's memory (which alerts are active). It turns into
a JSON-able dict for checkpoints and back.

>>> st = AccountState("acct-1", 300.0, 3600.0)
>>> st.add({"model": "m", "input_tokens": 10, "output_tokens": 900,
...         "stop_reason": "max_tokens", "prompt": "Think step by step: 2+2?"}, 100.0)
>>> snap = st.snapshot(120.0)
>>> snap["long"]["requests"], snap["long"]["cot_requests"], snap["long"]["max_tokens_hits"]
(1.0, 1.0, 1.0)
>>> AccountState.from_dict(st.to_dict()).snapshot(120.0) == snap
True
"""

from __future__ import annotations

from typing import Any

from stream_guard.core.signals import elicits_reasoning, prompt_fingerprint
from stream_guard.core.window import SlidingWindow

__all__ = ["AccountState"]


class AccountState:
    """Everything stream-guard keeps about one account."""

    __slots__ = (
        "account_id",
        "short",
        "long",
        "first_seen",
        "last_ts",
        "created_at",
        "next_eval",
        "pending",
        "active_alerts",
    )

    def __init__(self, account_id: str, short_s: float, long_s: float) -> None:
        self.account_id = account_id
        self.short = SlidingWindow(short_s)
        self.long = SlidingWindow(long_s)
        self.first_seen: float | None = None
        self.last_ts = 0.0
        self.created_at: float | None = None
        self.next_eval = 0.0  # event-time boundary of the next evaluation
        self.pending = False  # events arrived since the last evaluation
        # detector -> [severity rank, active until (event time)]
        self.active_alerts: dict[str, list[float]] = {}

    def add(self, event: dict[str, Any], ts: float) -> None:
        """Count one request event at event time ``ts`` (O(1))."""
        if self.first_seen is None:
            self.first_seen = ts
        if ts > self.last_ts:
            self.last_ts = ts
        prompt = event.get("prompt")
        cot = 1 if prompt is not None and elicits_reasoning(prompt) else 0
        values = (
            1,
            event["input_tokens"],
            event["output_tokens"],
            cot,
            1 if event.get("stop_reason") == "max_tokens" else 0,
            1 if event.get("status") == 429 else 0,
            1 if event.get("turn_index", 0) == 0 else 0,
        )
        fingerprint = prompt_fingerprint(event)
        self.short.add(ts, values, fingerprint)
        self.long.add(ts, values, fingerprint)
        self.pending = True

    def snapshot(self, at: float) -> dict[str, Any]:
        """The account's windows as of event time ``at`` (the evidence of an evaluation)."""
        return {
            "short": self.short.snapshot(at),
            "long": self.long.snapshot(at),
            "first_seen": self.first_seen,
            "last_ts": self.last_ts,
        }

    # --- checkpoints ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able picture of the state; holds no raw prompt text."""
        return {
            "account_id": self.account_id,
            "short_s": self.short.length,
            "long_s": self.long.length,
            "short": self.short.to_dict(),
            "long": self.long.to_dict(),
            "first_seen": self.first_seen,
            "last_ts": self.last_ts,
            "created_at": self.created_at,
            "next_eval": self.next_eval,
            "pending": self.pending,
            "active_alerts": self.active_alerts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccountState:
        """The inverse of :meth:`to_dict`."""
        st = cls(data["account_id"], data["short_s"], data["long_s"])
        st.short = SlidingWindow.from_dict(data["short_s"], data["short"])
        st.long = SlidingWindow.from_dict(data["long_s"], data["long"])
        st.first_seen = data["first_seen"]
        st.last_ts = data["last_ts"]
        st.created_at = data["created_at"]
        st.next_eval = data["next_eval"]
        st.pending = data["pending"]
        st.active_alerts = {k: list(v) for k, v in data["active_alerts"].items()}
        return st
