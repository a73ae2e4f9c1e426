"""Scoring: rules and population models combined into one score, severity and reasons.

The combined score is the noisy-OR of the detectors' scores, ``1 - prod(1 - s_i)``: each
detector is treated as independent evidence, and agreement raises the score. With the
graded evidence (``core/evidence.py``, the default) its severity is the severity: it has
weighed every signal already, and the population model only corroborates (named, with its
reasons). With the hard-gated rules instead, severity is the highest severity among the
rules, one step higher when two or more detectors agree.
The population model says "unusual for its peers", not "extraction": by default it only
corroborates a rule (raising score and severity, adding its reasons); with
``model_alone_alerts`` it may raise ``low`` alerts on its own. An evaluation becomes an alert when the score reaches
``alert_min_score``. Models learn only from evaluations where nothing fired.

**Evaluators.** What runs on an account at an evaluation boundary is a list of
:class:`Evaluator` objects, each with ``evaluate(case)`` and ``learn(case)`` over one typed
:class:`Case` (the features, their scaled form and the population, computed once): the two
rules and the population models by default, more through ``Scorer(settings, extra)``.

>>> from stream_guard.settings import Settings
>>> combine([]) , combine([Verdict("a", 0.5, "medium"), Verdict("b", 0.5, "low")])
((0.0, None), (0.75, 'high'))
>>> class Always:   # an extra evaluator: any object with evaluate(case) and learn(case)
...     def evaluate(self, case): return Verdict("always", 0.9, "high")
...     def learn(self, case): pass
>>> from stream_guard.core.features import FEATURES
>>> f = dict.fromkeys(FEATURES, 0.0)
>>> Scorer(Settings(), [Always()]).assess(f, may_learn=False).severity
'high'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable

from stream_guard.core.features import scaled
from stream_guard.core.models import PopulationModels
from stream_guard.core.rules import SEVERITIES, PatternRule, Rule, Verdict, VolumeRule, severity_rank
from stream_guard.core.verdicts import VerdictBook
from stream_guard.core.vocabulary import EVIDENCE_SCORE, POPULATION_MODEL
from stream_guard.settings import Settings

__all__ = ["Assessment", "Case", "Checkpointed", "Evaluator", "ModelEvaluator", "RuleEvaluator", "Scorer", "combine"]


class Case(NamedTuple):
    """One account's evaluation at one boundary, as every evaluator sees it."""

    features: dict[str, float]
    scaled: dict[str, float]  # the model features mapped into [0, 1] (features.scaled)
    population: str  # the account's peer population (models.PopulationModels.population)
    account: str = ""  # the account evaluated ("" when the caller does not say)
    at: float = 0.0  # the evaluation boundary, event time
    # the account's evaluator memory (AccountState.memory), kept with its state: an evaluator
    # may keep two numbers under its own name from one evaluation to the next; None: none kept
    memory: dict[str, tuple[float, float]] | None = None


class Evaluator(Protocol):
    """A per-account detector run by the scheduler at each evaluation boundary."""

    def evaluate(self, case: Case) -> Verdict | None:
        """A verdict on the account, or ``None``."""
        ...

    def learn(self, case: Case) -> None:
        """Learn from an evaluation where nothing fired (on the account's learning turn)."""
        ...


@runtime_checkable
class Checkpointed(Protocol):
    """An evaluator with a learned model to checkpoint beside the population models."""

    checkpoint_name: str  # its records' name (distinct from the population names)

    def learned_count(self) -> int:
        """How many examples it has learned (a change means a checkpoint is due)."""
        ...

    def dumps(self) -> bytes:
        """Its model as bytes."""
        ...

    def loads(self, blob: bytes) -> None:
        """Restore :meth:`dumps` output."""
        ...


class RuleEvaluator:
    """A :class:`~stream_guard.core.rules.Rule` as an evaluator (rules do not learn)."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule

    def evaluate(self, case: Case) -> Verdict | None:
        """The rule's verdict on the case's features."""
        return self.rule.evaluate(case.features)

    def learn(self, case: Case) -> None:
        """Nothing to learn."""


class ModelEvaluator:
    """The population models as an evaluator."""

    def __init__(self, models: PopulationModels) -> None:
        self.models = models

    def evaluate(self, case: Case) -> Verdict | None:
        """A report when the account is far from its population."""
        return self.models.evaluate(case.population, case.features, case.scaled)

    def learn(self, case: Case) -> None:
        """The population's model learns the case."""
        self.models.learn(case.population, case.features, case.scaled)


@dataclass(slots=True)
class Assessment:
    """The outcome of one account evaluation."""

    score: float
    severity: str | None
    population: str
    verdicts: list[Verdict] = field(default_factory=list)


def combine(verdicts: list[Verdict]) -> tuple[float, str | None]:
    """(noisy-OR score, severity) of a set of verdicts (see the module docstring).

    >>> combine([Verdict(EVIDENCE_SCORE, 0.6, "medium"), Verdict("b", 0.5, "low")])  # graded: no step up
    (0.8, 'medium')
    """
    if not verdicts:
        return 0.0, None
    remaining = 1.0
    for v in verdicts:
        remaining *= 1.0 - v.score
    graded = [v for v in verdicts if v.detector == EVIDENCE_SCORE]
    if graded:  # the graded evidence has weighed everything it knows: it sets the severity alone
        return round(1.0 - remaining, 4), graded[0].severity
    rank = max(severity_rank(v.severity) for v in verdicts)
    if len(verdicts) >= 2:
        rank += 1
    return round(1.0 - remaining, 4), SEVERITIES[min(rank, 3)]


class Scorer:
    """The evaluators of one Detector over feature vectors: those ``per_account_evaluators``
    names, in its order, then any ``extra`` evaluators."""

    def __init__(
        self, settings: Settings, extra: Sequence[Evaluator] = (), verdicts: VerdictBook | None = None
    ) -> None:
        self.s = settings
        # the analyst verdicts the supervised model learns from (the detector's book)
        self.verdicts = verdicts if verdicts is not None else VerdictBook.of(settings)
        self.models = PopulationModels(settings)
        self.evaluators: list[Evaluator] = [*map(self._evaluator, settings.per_account_evaluator_names), *extra]
        self._checkpointed = [e for e in self.evaluators if isinstance(e, Checkpointed)]

    # --- checkpoints: the population models and any evaluator's own model, by name ---------
    def learned(self) -> dict[str, int]:
        """Examples learned per checkpointed model (the populations, then evaluators' models)."""
        return {**self.models.learned(), **{e.checkpoint_name: e.learned_count() for e in self._checkpointed}}

    def dumps(self, names: Iterable[str]) -> dict[str, bytes]:
        """The models ``names`` as bytes, one checkpoint record each."""
        wanted = set(names)
        out = self.models.dumps([p for p in self.models.models if p in wanted])
        out.update({e.checkpoint_name: e.dumps() for e in self._checkpointed if e.checkpoint_name in wanted})
        return out

    def loads(self, blobs: dict[str, bytes]) -> None:
        """Restore :meth:`dumps` output (names no model here has are ignored)."""
        self.models.loads({k: v for k, v in blobs.items() if k in self.models.models})
        for e in self._checkpointed:
            if e.checkpoint_name in blobs:
                e.loads(blobs[e.checkpoint_name])

    def _evaluator(self, name: str) -> Evaluator:
        if name == "evidence":
            from stream_guard.core.evidence import EvidenceEvaluator, EvidenceWeights  # imports this module

            return EvidenceEvaluator(EvidenceWeights.load(self.s.evidence_weights_file))
        if name == "volume":
            return RuleEvaluator(VolumeRule(self.s))
        if name == "pattern":
            return RuleEvaluator(PatternRule(self.s))
        if name == "population":
            return ModelEvaluator(self.models)
        if name == "supervised":
            from stream_guard.core.supervised import SupervisedEvaluator  # imports this module

            return SupervisedEvaluator(self.s, self.verdicts)
        raise ValueError(f"unknown per-account evaluator {name!r}")

    def assess(
        self, features: dict[str, float], *, may_learn: bool, account: str = "", at: float = 0.0,
        memory: dict[str, tuple[float, float]] | None = None, clean: bool = False,
    ) -> Assessment:
        """Evaluate one account (``account`` at boundary ``at``, with its evaluator ``memory``);
        every evaluator learns from it when ``may_learn`` and nothing fired or the account is
        ``clean`` (an analyst judged it benign)."""
        case = Case(features, scaled(features), self.models.population(features), account, at, memory)
        verdicts = [v for e in self.evaluators if (v := e.evaluate(case)) is not None]
        score, severity = combine(verdicts)
        if may_learn and (clean or not verdicts):
            for e in self.evaluators:
                e.learn(case)
        model_only = len(verdicts) == 1 and verdicts[0].detector == POPULATION_MODEL
        if score < self.s.alert_min_score or (model_only and not self.s.model_alone_alerts):
            return Assessment(score, None, case.population, verdicts)
        return Assessment(score, severity, case.population, verdicts)
