"""Scoring: rules and population models combined into one score, severity and reasons.

The combined score is the noisy-OR of the detectors' scores, ``1 - prod(1 - s_i)``: each
detector is treated as independent evidence, and agreement raises the score. Severity is
the highest severity among the rules, one step higher when two or more detectors agree.
The population model says "unusual for its peers", not "extraction": by default it only
corroborates a rule (raising score and severity, adding its reasons); with
``model_alone_alerts`` it may raise ``low`` alerts on its own. An evaluation becomes an alert when the score reaches
``alert_min_score``. Models learn only from evaluations where nothing fired.

>>> from stream_guard.settings import Settings
>>> combine([]) , combine([Verdict("a", 0.5, "medium"), Verdict("b", 0.5, "low")])
((0.0, None), (0.75, 'high'))
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stream_guard.core.features import scaled
from stream_guard.core.models import PopulationModels
from stream_guard.core.rules import SEVERITIES, PatternRule, Rule, Verdict, VolumeRule, severity_rank
from stream_guard.settings import Settings

__all__ = ["Assessment", "Scorer", "combine"]


@dataclass(slots=True)
class Assessment:
    """The outcome of one account evaluation."""

    score: float
    severity: str | None
    population: str
    verdicts: list[Verdict] = field(default_factory=list)


def combine(verdicts: list[Verdict]) -> tuple[float, str | None]:
    """(noisy-OR score, severity) of a set of verdicts (see the module docstring)."""
    if not verdicts:
        return 0.0, None
    remaining = 1.0
    for v in verdicts:
        remaining *= 1.0 - v.score
    rank = max(severity_rank(v.severity) for v in verdicts)
    if len(verdicts) >= 2:
        rank += 1
    return round(1.0 - remaining, 4), SEVERITIES[min(rank, 3)]


class Scorer:
    """Rules plus population models over feature vectors (one instance per Detector)."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.rules: list[Rule] = [VolumeRule(settings), PatternRule(settings)]
        self.models = PopulationModels(settings)

    def assess(self, features: dict[str, float], *, may_learn: bool) -> Assessment:
        """Evaluate one account; learn from it when nothing fired and ``may_learn``."""
        x = scaled(features)
        population = self.models.population(features)
        verdicts = [v for rule in self.rules if (v := rule.evaluate(features)) is not None]
        model_verdict = self.models.evaluate(population, features, x)
        if model_verdict is not None:
            verdicts.append(model_verdict)
        score, severity = combine(verdicts)
        if not verdicts and may_learn:
            self.models.learn(population, features, x)
        model_only = model_verdict is not None and len(verdicts) == 1
        if score < self.s.alert_min_score or (model_only and not self.s.model_alone_alerts):
            return Assessment(score, None, population, verdicts)
        return Assessment(score, severity, population, verdicts)
