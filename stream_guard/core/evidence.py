"""Graded evidence: many bounded signals for or against extraction, weighed into one score.

Each :class:`Term` maps an account's features (:mod:`~stream_guard.core.features`) to a
number in [0, 1]: the share of chain-of-thought wording, of benchmark-shaped prompts, of
follow-up turns, the length of the outputs, the regularity of the timing, the account's
youth, and so on. A term that is a share is damped by how much traffic it is measured on
(``n / (n + k)``), so one request proves little and a day of them proves more. The
evidence is the weighted sum of the terms plus a bias, a log-odds: positive weights speak
for extraction, negative ones (follow-up turns, a night's rest, an established account, a
finite item set asked again) against it, and no single term can veto the others.

Evidence accumulates over event time, twice: the terms read the account's sliding windows
(the day window is the memory; what is older decays out of it) and are damped while little
traffic backs them; and each evaluation adds the hours of evidence above a reference to a
per-account sum (:class:`Accumulation`, a CUSUM-like sequential test kept in the account's
state), which has its own severity thresholds. So overwhelming evidence (thousands of
benchmark items with long outputs in minutes) crosses the instant thresholds at once, and
weak but steady evidence (a few dozen requests an hour of the same shape) the sum's after
enough hours of it. In the packaged fit an instant reading gives at most ``medium``
(``instant_ceiling``): in its first hours a benchmark evaluation is the same traffic as a
blunt extractor, so ``high`` and ``critical`` need hours of accumulated evidence.

A verdict's score is the logistic of the evidence above the ``low`` threshold (0.5 there,
towards 1 with more). The weights and the log-odds thresholds of each severity are *fitted*, not set by hand:
``bench/evidence_calibration.py`` fits them on the load generator's labelled traffic
(training seeds and campaign designs only) and writes ``evidence_weights.json`` next to
this module, with what they were fitted on. ``STREAM_GUARD_EVIDENCE_WEIGHTS_FILE`` points
at another file (a provider's own calibration).

>>> ev = EvidenceEvaluator(EvidenceWeights(
...     bias=-3.5, weights={"cot": 3.0, "long_outputs": 2.0, "multi_turn": -1.0},
...     thresholds={"low": -0.5, "medium": 0.5, "high": 1.0, "critical": 2.0}))
>>> f = dict.fromkeys(FEATURE_NEEDS, 0.0)
>>> f.update(cot_share_day=0.9, text_basis_day=200.0, mean_output_tokens_day=2000.0, day_requests=200.0,
...          first_turn_share_day=1.0)
>>> v = ev.judge(f)
>>> v.severity, [(r["signal"], r["weight"]) for r in v.reasons]
('medium', [('cot', 2.5714), ('long_outputs', 1.5469), ('evidence', 0.1183)])
>>> ev.judge(dict(f, first_turn_share_day=0.0)).severity   # a follow-up turn each: weighed, not a veto
'low'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from stream_guard.core.rules import SEVERITIES, Verdict
from stream_guard.core.scoring import Case
from stream_guard.core.vocabulary import EVIDENCE_SCORE

__all__ = [
    "AGAINST",
    "EITHER",
    "FEATURE_NEEDS",
    "FOR",
    "TERMS",
    "Accumulation",
    "EvidenceEvaluator",
    "EvidenceWeights",
    "Term",
    "term_values",
]


def _conf(n: float, k: float) -> float:
    """How far a share measured on ``n`` requests can be trusted: 0 with none, 1/2 at ``k``."""
    return n / (n + k) if n > 0 else 0.0


def _clip(x: float) -> float:
    return 0.0 if not x > 0.0 else 1.0 if x > 1.0 else x  # NaN -> 0


def _log_scale(x: float, lo: float, hi: float) -> float:
    """``x`` on a log scale from ``lo`` (0) to ``hi`` (1), clipped."""
    return _clip(math.log(max(x, lo) / lo) / math.log(hi / lo))


def _text(f: Mapping[str, float], share: str) -> float:
    return f[share] * _conf(f["text_basis_day"], 10.0)


def _content(f: Mapping[str, float]) -> float:
    """Extraction-like content: CoT or benchmark-shaped prompts *answered at length*. A
    benchmark item answered in a line is an evaluation's, not a distiller's (who wants the
    reasoning): the share counts in full from 1,000 output tokens on average, not below 100."""
    return max(_text(f, "cot_share_day"), _text(f, "benchmark_share_day")) * _log_scale(
        f["mean_output_tokens_day"], 100.0, 1000.0)


def _young(f: Mapping[str, float]) -> float:
    return f["age_known"] * math.exp(-f["account_age_days"] / 14.0)


def _fresh(f: Mapping[str, float]) -> float:
    return f["distinct_ratio_day"] * _conf(f["prompt_basis_day"], 10.0)


def _rested(f: Mapping[str, float]) -> float:
    return f["longest_rest_hours"] / 24.0 if f["observed_hours"] >= 24.0 else 0.0


FOR, AGAINST, EITHER = 1, -1, 0


@dataclass(frozen=True, slots=True)
class Term:
    """One bounded piece of evidence: its name, the feature its value is reported as, what it
    means, how it is computed from the features (a number in [0, 1]), and which way it may
    point: ``FOR`` extraction (its weight is >= 0), ``AGAINST`` it (<= 0), or ``EITHER``. The
    direction is domain knowledge, written here, and so is ``cap``, the most it may weigh: a
    property that benign use and adaptive campaigns share (a follow-up turn, a night's rest,
    tools) is capped low, so it can tip a close call but not outweigh
    the content of the traffic. The fit only chooses the size within those bounds."""

    name: str
    signal: str
    detail: str
    of: Callable[[Mapping[str, float]], float]
    sign: int = EITHER
    cap: float = 4.0  # the largest weight the fit may give it (either way)

    def value(self, f: Mapping[str, float]) -> float:
        """The term for features ``f``, held in [0, 1] whatever the features hold."""
        return _clip(self.of(f))


#: Every term, in the order the weights are summed. Docs: ``docs/detection.md``, "Graded evidence".
TERMS: tuple[Term, ...] = (
    Term("cot", "cot_share_day", "share of today's prompts asking for step-by-step reasoning or grading",
         lambda f: _text(f, "cot_share_day"), FOR),
    Term("benchmark", "benchmark_share_day", "share of today's prompts shaped like benchmark items",
         lambda f: _text(f, "benchmark_share_day"), FOR),
    Term("long_outputs", "mean_output_tokens_day", "mean output tokens today (log scale, 100 to 4,000)",
         lambda f: _log_scale(f["mean_output_tokens_day"], 100.0, 4000.0) * _conf(f["day_requests"], 10.0), FOR),
    Term("out_in", "out_in_ratio_long", "output/input tokens in the last hour: short asks, long answers",
         lambda f: f["out_in_ratio_long"] / (1.0 + f["out_in_ratio_long"]) * _conf(f["day_requests"], 10.0), FOR),
    Term("multi_turn", "first_turn_share_day", "share of today's requests that continue a conversation",
         lambda f: (1.0 - f["first_turn_share_day"]) * _conf(f["day_requests"], 10.0), AGAINST, 1.5),
    Term("fresh", "distinct_ratio_day", "distinct prompts / prompts today: ever-new items",
         _fresh, FOR),
    Term("repeats", "repeat_share_day", "share of today's prompts repeating a recent one exactly",
         lambda f: f["repeat_share_day"] * _conf(f["prompt_basis_day"], 10.0), AGAINST, 2.5),
    Term("templated", "template_repeat_share_day", "new prompts filling a recent template or near-duplicating one",
         lambda f: max(f["template_repeat_share_day"], f["near_dup_share_day"]) * _conf(f["text_basis_day"], 10.0),
         FOR),
    Term("max_tokens", "max_tokens_share_day", "share of today's responses cut at max_tokens",
         lambda f: f["max_tokens_share_day"] * _conf(f["day_requests"], 10.0), FOR),
    Term("tools", "tool_share_day", "share of today's requests offering tools (agentic use)",
         lambda f: f["tool_share_day"] * _conf(f["day_requests"], 10.0), EITHER, 1.0),
    Term("regular", "iat_cv_day", "machine-regular timing (1 - coefficient of variation of the gaps)",
         lambda f: _clip(1.0 - f["iat_cv_day"]) * _conf(f["gap_basis_day"], 20.0), FOR),
    Term("bursty", "iat_cv_day", "bursty timing: runs of requests, then silence",
         lambda f: _clip((f["iat_cv_day"] - 1.0) / 3.0) * _conf(f["gap_basis_day"], 20.0), EITHER, 1.0),
    Term("around_the_clock", "active_hours", "hours of the last 24 with requests",
         lambda f: f["active_hours"] / 24.0 * _clip(f["observed_hours"] / 24.0), FOR),
    Term("rested", "longest_rest_hours", "longest run of idle hours in the last 24 (a night's rest)",
         _rested, AGAINST, 1.5),
    Term("young", "account_age_days", "a young account (age known; halves in about ten days)",
         _young, FOR),
    Term("established", "account_age_days", "an established account (age known; full at 180 days)",
         lambda f: f["age_known"] * _clip(f["account_age_days"] / 180.0), AGAINST, 2.5),
    Term("volume", "day_requests", "requests in the last day (log scale, 10 to 100,000)",
         lambda f: _log_scale(f["day_requests"], 10.0, 1e5), FOR),
    Term("burst", "short_requests", "requests in the last few minutes (log scale, 5 to 5,000)",
         lambda f: _log_scale(f["short_requests"], 5.0, 5000.0), FOR),
    Term("categories", "categories_day", "capability categories touched today (of 8)",
         lambda f: _clip(f["categories_day"] / 8.0), FOR),
    Term("no_text", "prompt_basis_day", "prompts known by hash only: content cannot be read",
         lambda f: 1.0 if f["text_basis_day"] <= 0.0 and f["prompt_basis_day"] > 0.0 else 0.0, EITHER, 2.0),
    Term("content_fresh", "distinct_ratio_day", "extraction-like content (answered at length) on ever-new items",
         lambda f: _content(f) * _fresh(f), FOR),
    Term("content_young", "account_age_days", "extraction-like content (answered at length) from a young account",
         lambda f: _content(f) * _young(f), FOR),
    Term("content_volume", "day_requests", "extraction-like content (answered at length) at volume",
         lambda f: _content(f) * _log_scale(f["day_requests"], 10.0, 1e5), FOR),
    Term("sweep_no_text", "distinct_ratio_day", "hash only: all-distinct, long-output traffic at volume",
         lambda f: (1.0 if f["text_basis_day"] <= 0.0 else 0.0) * _fresh(f)
         * _log_scale(f["mean_output_tokens_day"], 100.0, 4000.0) * _log_scale(f["day_requests"], 10.0, 1e5), FOR),
)
#: The features the terms read.
FEATURE_NEEDS: tuple[str, ...] = (
    "cot_share_day", "benchmark_share_day", "text_basis_day", "mean_output_tokens_day", "out_in_ratio_long",
    "first_turn_share_day", "day_requests", "distinct_ratio_day", "prompt_basis_day", "repeat_share_day",
    "template_repeat_share_day", "near_dup_share_day", "max_tokens_share_day", "tool_share_day", "iat_cv_day",
    "gap_basis_day", "active_hours", "observed_hours", "longest_rest_hours", "age_known", "account_age_days",
    "short_requests", "categories_day",
)


def term_values(f: Mapping[str, float]) -> list[float]:
    """Every term's value for features ``f``, in :data:`TERMS` order."""
    return [t.value(f) for t in TERMS]


_PACKAGED = "evidence_weights.json"
_FIRST_STEP_S = 60.0  # the event time an account's first evaluation counts for (one interval)


@dataclass(frozen=True)
class Accumulation:
    """The sequential sum of an account's evidence over its evaluations (CUSUM-like): at each
    evaluation ``S <- max(0, S * exp(-dt / decay_s) + (z - reference) * min(dt, max_step_s) / 3600)``
    with ``z`` the evidence of that evaluation and ``dt`` the event time since the previous
    one, so ``S`` counts hours of evidence above ``reference``, forgotten over ``decay_s``.
    ``thresholds``: the lowest ``S`` at each severity.

    >>> a = Accumulation(reference=0.0, decay_s=86400.0, max_step_s=3600.0,
    ...                  thresholds={"low": 2.0, "medium": 4.0, "high": 8.0, "critical": 50.0})
    >>> s = 0.0
    >>> for hour in range(6):   # log-odds 1 above the reference, six hours long
    ...     s = a.step(s, 3600.0, 1.0)
    >>> round(s, 2), a.severity(s)
    (5.42, 'medium')
    >>> a.step(s, 3600.0, -30.0)   # far below the reference: back to nothing
    0.0
    """

    reference: float
    decay_s: float
    max_step_s: float
    thresholds: dict[str, float]

    def __post_init__(self) -> None:
        if set(self.thresholds) != set(SEVERITIES):
            raise ValueError(f"need an accumulated threshold for each severity {SEVERITIES}")
        ordered = [self.thresholds[s] for s in SEVERITIES]
        if ordered != sorted(ordered) or ordered[0] <= 0 or not all(math.isfinite(x) for x in ordered):
            raise ValueError(f"accumulated thresholds must be finite, > 0 and rise with severity: {ordered}")
        if not (self.decay_s > 0 and self.max_step_s > 0 and math.isfinite(self.reference)):
            raise ValueError("accumulation needs decay_s > 0, max_step_s > 0 and a finite reference")

    def step(self, total: float, dt: float, z: float) -> float:
        """``S`` after an evaluation with evidence ``z``, ``dt`` seconds after the previous one."""
        dt = max(dt, 0.0)
        return max(0.0, total * math.exp(-dt / self.decay_s) + (z - self.reference) * min(dt, self.max_step_s) / 3600.0)

    def severity(self, total: float) -> str | None:
        """The highest severity whose threshold ``total`` reaches, or ``None``."""
        return next((s for s in reversed(SEVERITIES) if total >= self.thresholds[s]), None)


@dataclass(frozen=True)
class EvidenceWeights:
    """A fitted weight per term, the bias, and the log-odds each severity starts at."""

    bias: float
    weights: dict[str, float]
    thresholds: dict[str, float]  # severity -> the lowest log-odds at that severity
    fitted_on: dict[str, Any] = field(default_factory=dict)  # what the fit saw (for the record)
    accumulate: Accumulation | None = None  # the sequential sum over evaluations, if any
    instant_ceiling: str = "critical"  # the highest severity an instant reading gives; above: the sum's

    def __post_init__(self) -> None:
        if self.instant_ceiling not in SEVERITIES:
            raise ValueError(f"instant_ceiling must be one of {SEVERITIES}, got {self.instant_ceiling!r}")
        unknown = set(self.weights) - {t.name for t in TERMS}
        if unknown:
            raise ValueError(f"weights for unknown evidence terms: {', '.join(sorted(unknown))}")
        if set(self.thresholds) != set(SEVERITIES):
            raise ValueError(f"need a threshold for each severity {SEVERITIES}, got {sorted(self.thresholds)}")
        ordered = [self.thresholds[s] for s in SEVERITIES]
        if ordered != sorted(ordered) or not all(math.isfinite(x) for x in [*ordered, self.bias]):
            raise ValueError(f"severity thresholds must be finite and rise with severity: {ordered}")
        if not all(math.isfinite(w) for w in self.weights.values()):
            raise ValueError("evidence weights must be finite")

    @classmethod
    def from_json(cls, data: bytes) -> EvidenceWeights:
        """Weights from the JSON ``bench/evidence_calibration.py fit`` writes."""
        doc = orjson.loads(data)
        acc = doc.get("accumulate")
        return cls(float(doc["bias"]), {k: float(v) for k, v in doc["weights"].items()},
                   {k: float(v) for k, v in doc["thresholds"].items()}, dict(doc.get("fitted_on", {})),
                   None if acc is None else Accumulation(
                       float(acc["reference"]), float(acc["decay_s"]), float(acc["max_step_s"]),
                       {k: float(v) for k, v in acc["thresholds"].items()}),
                   str(doc.get("instant_ceiling", "critical")))

    def to_json(self) -> bytes:
        """The inverse of :meth:`from_json`."""
        doc: dict[str, Any] = {"bias": self.bias, "weights": self.weights, "thresholds": self.thresholds,
                               "instant_ceiling": self.instant_ceiling}
        if self.accumulate is not None:
            a = self.accumulate
            doc["accumulate"] = {"reference": a.reference, "decay_s": a.decay_s, "max_step_s": a.max_step_s,
                                 "thresholds": a.thresholds}
        doc["fitted_on"] = self.fitted_on
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2)

    @classmethod
    def load(cls, path: str = "") -> EvidenceWeights:
        """The weights in ``path``, or the packaged ones when it is empty."""
        if path:
            return cls.from_json(Path(path).read_bytes())
        return cls.from_json(resources.files("stream_guard.core").joinpath(_PACKAGED).read_bytes())


class EvidenceEvaluator:
    """The graded evidence of one account as an :class:`~stream_guard.core.scoring.Evaluator`."""

    name = EVIDENCE_SCORE

    def __init__(self, weights: EvidenceWeights, *, max_reasons: int = 8) -> None:
        self.w = weights
        self._weighted = [(t, w) for t in TERMS if (w := weights.weights.get(t.name, 0.0)) != 0.0]
        ceiling = SEVERITIES.index(weights.instant_ceiling)
        self._instant = SEVERITIES[ceiling::-1]  # the severities an instant reading may give, highest first
        # the log-odds from which an instant reading is held at the ceiling (said in its reason)
        above = SEVERITIES[ceiling + 1 :]
        self._capped_from = weights.thresholds[above[0]] if above else math.inf
        self.max_reasons = max_reasons

    def _parts(self, f: Mapping[str, float]) -> tuple[list[tuple[Term, float]], float]:
        """Each weighted term's contribution for features ``f``, and their sum with the bias."""
        parts = [(t, w * t.value(f)) for t, w in self._weighted]
        return parts, self.w.bias + sum(c for _, c in parts)

    def log_odds(self, f: Mapping[str, float]) -> float:
        """The evidence for extraction in features ``f``: bias plus weighted terms."""
        return self._parts(f)[1]

    def judge(self, f: Mapping[str, float], accumulated: float = 0.0) -> Verdict | None:
        """A verdict when the evidence in ``f`` reaches the ``low`` threshold, or the
        ``accumulated`` sum (:class:`Accumulation`) reaches its own; else ``None``."""
        parts, z = self._parts(f)
        return self._verdict(f, parts, z, accumulated)

    def evaluate(self, case: Case) -> Verdict | None:
        """The verdict on the case's features (see :meth:`judge`), after adding this
        evaluation to the account's accumulated evidence (kept in ``case.memory``)."""
        f = case.features
        parts, z = self._parts(f)
        acc = self.w.accumulate
        if acc is None or case.memory is None:
            return self._verdict(f, parts, z, 0.0)
        previous = case.memory.get(self.name)
        total = acc.step(previous[0], case.at - previous[1], z) if previous else acc.step(0.0, _FIRST_STEP_S, z)
        if total > 0.0:
            case.memory[self.name] = (total, case.at)
        elif previous is not None:
            del case.memory[self.name]
        return self._verdict(f, parts, z, total)

    def _verdict(self, f: Mapping[str, float], parts: list[tuple[Term, float]], total: float,
                 accumulated: float) -> Verdict | None:
        th = self.w.thresholds
        acc = self.w.accumulate
        if total < th["low"] and (acc is None or accumulated < acc.thresholds["low"]):
            return None  # the common case: nothing to report
        now = next((s for s in self._instant if total >= th[s]), None)
        steady = acc.severity(accumulated) if acc is not None else None
        severity = max((x for x in (now, steady) if x is not None), key=SEVERITIES.index)
        shown = sorted((p for p in parts if abs(p[1]) >= 0.05), key=lambda p: -abs(p[1]))
        reasons: list[dict[str, Any]] = [
            {"signal": t.name, "value": round(f[t.signal], 4), "threshold": "weighed, no threshold",
             "detail": t.detail + f" (feature {t.signal})", "weight": round(c, 4)}
            for t, c in shown[: self.max_reasons]
        ]
        at = th[now] if now is not None else th["low"]
        reasons.append({"signal": "evidence", "value": round(total, 4), "threshold": at,
                        "detail": f"log-odds of extraction now, bias {self.w.bias:+.2f} included"
                                  + (f"; {now} from {at:.2f}" if now is not None else "")
                                  + (" (the most an instant reading gives)" if total >= self._capped_from else ""),
                        "weight": round(total - at, 4)})
        margin = total - th["low"]
        if acc is not None and accumulated > 0.0:
            level = acc.thresholds[steady] if steady is not None else acc.thresholds["low"]
            reasons.append({"signal": "evidence_accumulated", "value": round(accumulated, 4), "threshold": level,
                            "detail": f"hours of evidence above log-odds {acc.reference:.2f}, fading over "
                                      f"{acc.decay_s / 3600:.0f} h" + (f"; {steady} from {level:.2f}"
                                                                       if steady is not None else ""),
                            "weight": round(accumulated - level, 4)})
            margin = max(margin, accumulated - acc.thresholds["low"])
        score = 1.0 / (1.0 + math.exp(-margin))  # 0.5 where the first threshold is reached
        return Verdict(self.name, round(score, 4), severity, reasons)

    def learn(self, case: Case) -> None:
        """Nothing to learn online: the weights are fitted offline (see the module docstring)."""
