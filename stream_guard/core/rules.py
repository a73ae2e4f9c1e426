"""Explicit rules over an account's features. Thresholds come from the settings, and every
reason carries the value and the threshold it was compared to (``docs/detection.md``
explains each signal, why it points to extraction and which benign use can trip it).

- :class:`VolumeRule` (``volume_rule``): extraction-grade *volume* (short- or long-window
  requests, long-window output tokens), *sustained* over several hours of the day (or a
  very large burst), together with extraction-like *content* (a high
  share of chain-of-thought-eliciting or benchmark-shaped prompts; without prompt text,
  almost all-distinct, single-turn, output-heavy traffic) and long outputs. Catches the
  blunt extractor.
- :class:`PatternRule` (``pattern_rule``): the *shape* of a day's traffic regardless of
  volume: CoT-eliciting or benchmark-like prompts with long outputs, all distinct, first
  turns only, weighted up by templating (template repeats or near-duplicate prompts),
  activity around the clock, machine-regular timing and outputs cut at the cap. Catches
  the slow extractor that stays at a few dozen requests a day; an evaluation run that
  asks for answers (short outputs) does not fire.

>>> from stream_guard.settings import Settings
>>> base = {"short_requests": 80.0, "long_requests": 900.0, "long_output_tokens": 800_000.0,
...         "cot_share_long": 0.9, "benchmark_share_long": 0.8, "text_basis_long": 900.0,
...         "distinct_ratio_day": 0.97, "first_turn_share_day": 1.0, "out_in_ratio_long": 8.0,
...         "first_turn_share_long": 1.0,
...         "prompt_basis_day": 900.0, "mean_output_tokens_long": 890.0, "active_hours": 5.0,
...         "day_requests": 4000.0}
>>> v = VolumeRule(Settings()).evaluate(base)
>>> v.severity, [r["signal"] for r in v.reasons]  # doctest: +NORMALIZE_WHITESPACE
('critical', ['short_requests', 'long_requests', 'long_output_tokens', 'active_hours', 'cot_share_long',
 'benchmark_share_long', 'mean_output_tokens_long', 'distinct_ratio_day'])
>>> VolumeRule(Settings()).evaluate(dict(base, cot_share_long=0.01, benchmark_share_long=0.05)) is None
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from stream_guard.core.vocabulary import PATTERN_RULE, SEVERITIES, VOLUME_RULE
from stream_guard.settings import Settings

# SEVERITIES is re-exported: it is defined once, in core/vocabulary.py
__all__ = ["SEVERITIES", "PatternRule", "Rule", "Verdict", "VolumeRule", "reason", "severity_rank"]


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


def reason(signal: str, value: float, threshold: float | str, detail: str) -> dict[str, Any]:
    """One entry of an alert's ``reasons``."""
    return {"signal": signal, "value": round(value, 4), "threshold": threshold, "detail": detail}


class Rule(Protocol):
    """A per-account rule: a verdict from one account's features, or ``None``."""

    def evaluate(self, f: dict[str, float]) -> Verdict | None: ...


class VolumeRule:
    """Extraction-grade volume with extraction-like content (see the module docstring)."""

    name = VOLUME_RULE

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def evaluate(self, f: dict[str, float]) -> Verdict | None:
        """A :class:`Verdict` if the rule fires on features ``f``, else ``None``."""
        s = self.s
        volume = []
        if f["short_requests"] >= s.rule_short_requests:
            volume.append(reason("short_requests", f["short_requests"], s.rule_short_requests,
                                 f"requests in the last {s.short_window_s:.0f} s"))
        if f["long_requests"] >= s.rule_long_requests:
            volume.append(reason("long_requests", f["long_requests"], s.rule_long_requests,
                                 f"requests in the last {s.long_window_s:.0f} s"))
        if f["long_output_tokens"] >= s.rule_long_output_tokens:
            volume.append(reason("long_output_tokens", f["long_output_tokens"], s.rule_long_output_tokens,
                                 f"output tokens in the last {s.long_window_s:.0f} s"))
        if not volume or f["long_requests"] < s.rule_min_requests:
            return None
        # Extraction is sustained; a one-off burst (an evaluation run, a backfill) is not,
        # unless the burst alone is large.
        if f["active_hours"] >= s.rule_min_active_hours:
            volume.append(reason("active_hours", f["active_hours"], s.rule_min_active_hours,
                                 "hours of the last 24 with requests: sustained, not a one-off burst"))
        elif f["day_requests"] >= s.rule_day_requests:
            volume.append(reason("day_requests", f["day_requests"], s.rule_day_requests,
                                 f"requests in the last {s.day_window_s:.0f} s: a burst this large counts on its own"))
        else:
            return None
        if f["mean_output_tokens_long"] < s.rule_min_mean_output_tokens:
            return None  # answers only: an evaluation run or an ordinary product, not a distiller
        if f["first_turn_share_long"] < s.rule_first_turn_share:
            return None  # real multi-turn use (agents, chat sessions), not one-shot harvesting
        content = []
        if f["text_basis_long"] >= s.rule_min_requests:
            if f["cot_share_long"] >= s.rule_cot_share:
                content.append(reason("cot_share_long", f["cot_share_long"], s.rule_cot_share,
                                       "share of prompts asking for step-by-step reasoning or rubric grading"))
            if f["benchmark_share_long"] >= s.rule_benchmark_share:
                content.append(reason("benchmark_share_long", f["benchmark_share_long"], s.rule_benchmark_share,
                                      "share of prompts shaped like benchmark items (word problems, code tasks, "
                                      "multiple choice)"))
        elif (f["prompt_basis_day"] >= s.rule_min_requests and f["distinct_ratio_day"] >= s.rule_distinct_ratio
              and f["first_turn_share_day"] >= s.rule_first_turn_share
              and f["out_in_ratio_long"] >= s.rule_out_in_ratio):
            # Hash-only traffic: no text to read, so demand the whole shape of a sweep.
            content.append(reason("out_in_ratio_long", f["out_in_ratio_long"], s.rule_out_in_ratio,
                                   "output/input tokens: short prompts, long answers "
                                   "(no prompt text: judged by hashes)"))
        if not content:
            return None
        content.append(reason("mean_output_tokens_long", f["mean_output_tokens_long"], s.rule_min_mean_output_tokens,
                              "mean output tokens per request: full reasoning, not just answers"))
        if f["distinct_ratio_day"] >= s.rule_distinct_ratio and f["prompt_basis_day"] >= s.rule_min_requests:
            content.append(reason("distinct_ratio_day", f["distinct_ratio_day"], s.rule_distinct_ratio,
                                  "distinct prompts / requests today: a sweep over many different tasks"))
        overshoot = max(r["value"] / r["threshold"] for r in volume[:-1])
        score = min(1.0, 0.4 + 0.1 * (len(content) - 1) + 0.05 * (len(volume) - 1) + 0.1 * math.log2(overshoot))
        severity = SEVERITIES[min(3, len(content) - 2 + (overshoot >= s.rule_overshoot_factor) + (len(volume) >= 3))]
        return Verdict(self.name, round(score, 4), severity, volume + content)


class PatternRule:
    """The day's traffic looks like a capability sweep, whatever its volume."""

    name = PATTERN_RULE

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def evaluate(self, f: dict[str, float]) -> Verdict | None:
        """A :class:`Verdict` if the rule fires on features ``f``, else ``None``."""
        s = self.s
        if f["day_requests"] < s.pattern_min_requests or f["text_basis_day"] < s.pattern_min_requests:
            return None
        evidence: list[tuple[float, dict[str, Any]]] = []
        cot = f["cot_share_day"] >= s.rule_cot_share
        bench = f["benchmark_share_day"] >= s.rule_benchmark_share
        # must-haves: extraction-like content with long outputs, no real conversations, and
        # fresh prompts (a sweep, not a repeated job)
        if not (cot or bench) or f["mean_output_tokens_day"] < s.rule_min_mean_output_tokens:
            return None
        if f["first_turn_share_day"] < s.rule_first_turn_share or f["distinct_ratio_day"] < s.rule_distinct_ratio:
            return None
        if f["active_hours"] < s.pattern_min_hours:
            return None  # a burst within an hour or two is a job (or an evaluation run), not a day's pattern
        if cot:
            evidence.append((0.25, reason("cot_share_day", f["cot_share_day"], s.rule_cot_share,
                                          "share of today's prompts asking for step-by-step reasoning or grading")))
        if bench:
            evidence.append((0.15, reason("benchmark_share_day", f["benchmark_share_day"], s.rule_benchmark_share,
                                          "share of today's prompts shaped like benchmark items")))
        evidence.append((0.1, reason("mean_output_tokens_day", f["mean_output_tokens_day"],
                                     s.rule_min_mean_output_tokens,
                                     "mean output tokens per request today: full reasoning, not just answers")))
        evidence.append((0.1, reason("first_turn_share_day", f["first_turn_share_day"], s.rule_first_turn_share,
                                     "share of requests that open a conversation: no multi-turn use")))
        evidence.append((0.1, reason("distinct_ratio_day", f["distinct_ratio_day"], s.rule_distinct_ratio,
                                     "distinct prompts / requests today")))
        around_the_clock = (f["observed_hours"] >= s.pattern_min_observed_hours
                            and f["active_hours"] >= s.pattern_min_active_hours)
        # templating: filled templates, or paraphrases/small edits of recent prompts
        # (near duplicates); the reason names the larger share (template repeats on a tie)
        template_share, near_dup_share = f["template_repeat_share_day"], f["near_dup_share_day"]
        templated = max(template_share, near_dup_share) >= s.pattern_template_share
        if f["categories_day"] >= s.pattern_min_categories:
            evidence.append((0.05, reason("categories_day", f["categories_day"], s.pattern_min_categories,
                                          "capability categories touched today (math, code, science, ...)")))
        if around_the_clock:
            evidence.append((0.15, reason("active_hours", f["active_hours"], s.pattern_min_active_hours,
                                          "hours of the last 24 with requests: no diurnal rest")))
        if templated and near_dup_share > template_share:
            evidence.append((0.15, reason("near_dup_share_day", near_dup_share, s.pattern_template_share,
                                          "new prompts that near-duplicate a recent one (word-set MinHash)")))
        elif templated:
            evidence.append((0.15, reason("template_repeat_share_day", template_share,
                                          s.pattern_template_share, "new prompts filling a template already used")))
        if f["gap_basis_day"] >= s.pattern_min_gaps and f["iat_cv_day"] <= s.pattern_max_iat_cv:
            evidence.append((0.1, reason("iat_cv_day", f["iat_cv_day"], s.pattern_max_iat_cv,
                                         "coefficient of variation of inter-arrival gaps: machine-regular timing")))
        if f["max_tokens_share_day"] >= s.pattern_max_tokens_share:
            evidence.append((0.05, reason("max_tokens_share_day", f["max_tokens_share_day"], s.pattern_max_tokens_share,
                                          "share of responses cut at max_tokens: outputs pushed to the cap")))
        score = round(min(1.0, 0.1 + sum(w for w, _ in evidence)), 4)
        if score < s.pattern_min_score:
            return None
        severity = "low" if score < s.pattern_medium_score else "medium" if score < s.pattern_high_score else "high"
        if severity == "high" and not (templated and around_the_clock):
            severity = "medium"  # one of the two alone leaves room for a benign explanation
        return Verdict(self.name, score, severity, [r for _, r in evidence])
