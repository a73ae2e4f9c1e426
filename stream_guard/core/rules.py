"""The volume rule: a blunt, explainable threshold detector.

It fires when an account sends extraction-grade *volume* (request rate over the short or
long window, or output tokens over the long window) with extraction-like *content*:
chain-of-thought-eliciting wording in a high share of requests, or prompts that are
almost all distinct (a sweep over many tasks, not one job repeated). Every reason carries
the value and the threshold it was compared to.

Benign cases that can trip it: a heavy integrator whose end users often write "step by
step" (CoT share) or an evaluation run of a reasoning benchmark. The per-population
models of the detection core weigh such accounts against their peers.

>>> from stream_guard.settings import Settings
>>> rule = VolumeRule(Settings())
>>> long = {"requests": 900.0, "output_tokens": 800_000.0, "input_tokens": 90_000.0,
...         "distinct_prompts": 880.0, "cot_requests": 700.0}
>>> v = rule.evaluate({"short": {"requests": 80.0}, "long": long})
>>> v.severity, [r["signal"] for r in v.reasons]
('critical', ['long_requests', 'long_output_tokens', 'cot_share', 'distinct_prompt_ratio'])
>>> rule.evaluate({"short": {"requests": 5.0}, "long": dict(long, requests=40.0, output_tokens=9e3)}) is None
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from stream_guard.settings import Settings

__all__ = ["SEVERITIES", "Verdict", "VolumeRule", "severity_rank"]

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")


def severity_rank(severity: str) -> int:
    """0 for ``low`` up to 3 for ``critical``."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One detector's finding about one subject at one evaluation."""

    detector: str
    score: float
    severity: str
    reasons: list[dict[str, Any]] = field(default_factory=list)


def _reason(signal: str, value: float, threshold: float, detail: str) -> dict[str, Any]:
    return {"signal": signal, "value": round(value, 4), "threshold": threshold, "detail": detail}


class VolumeRule:
    """Threshold rule over an account snapshot (see the module docstring)."""

    name = "volume_rule"

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def evaluate(self, snap: dict[str, Any]) -> Verdict | None:
        """A :class:`Verdict` if the rule fires on ``snap``, else ``None``."""
        s, short, long = self.s, snap["short"], snap["long"]
        volume = []
        if short["requests"] >= s.rule_short_requests:
            volume.append(_reason("short_requests", short["requests"], s.rule_short_requests,
                                  f"requests in the last {s.short_window_s:.0f} s"))
        if long["requests"] >= s.rule_long_requests:
            volume.append(_reason("long_requests", long["requests"], s.rule_long_requests,
                                  f"requests in the last {s.long_window_s:.0f} s"))
        if long["output_tokens"] >= s.rule_long_output_tokens:
            volume.append(_reason("long_output_tokens", long["output_tokens"], s.rule_long_output_tokens,
                                  f"output tokens in the last {s.long_window_s:.0f} s"))
        if not volume or long["requests"] < s.rule_min_requests:
            return None
        content = []
        cot_share = long["cot_requests"] / long["requests"]
        if cot_share >= s.rule_cot_share:
            content.append(_reason("cot_share", cot_share, s.rule_cot_share,
                                   "share of requests asking for step-by-step reasoning or rubric grading"))
        distinct = min(long["distinct_prompts"] / long["requests"], 1.0)
        if distinct >= s.rule_distinct_ratio:
            content.append(_reason("distinct_prompt_ratio", distinct, s.rule_distinct_ratio,
                                   "distinct prompts / requests: a sweep over many different tasks"))
        # Distinct prompts alone also describe a busy integrator: demand two volume signals then.
        if not content or (len(content) == 1 and content[0]["signal"] == "distinct_prompt_ratio" and len(volume) < 2):
            return None
        overshoot = max(r["value"] / r["threshold"] for r in volume)
        score = min(1.0, 0.35 + 0.15 * len(content) + 0.05 * len(volume) + 0.1 * math.log2(overshoot))
        severity = SEVERITIES[min(3, len(content) - 1 + (overshoot >= 2) + (len(volume) >= 2))]
        return Verdict(self.name, round(score, 4), severity, volume + content)
