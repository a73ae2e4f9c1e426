"""Scoring (stream_guard.core.scoring): noisy-OR, severity, alert gate, learning protection.

These tests judge the hard-gated rules with the population models (the graded evidence has
its own tests, test_evidence.py)."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from core_helpers import T0, outlier, peer
from stream_guard.core.features import extract
from stream_guard.core.rules import SEVERITIES, Verdict, severity_rank
from stream_guard.core.scoring import Scorer, combine
from stream_guard.core.state import AccountState
from stream_guard.settings import Settings

RULES = "volume,pattern,population"
S = Settings(per_account_evaluators=RULES)
POP = "established-light"


def slow_extractor() -> dict[str, float]:
    """Two days of templated step-by-step prompts around the clock, 30 a day."""
    st = AccountState("x", S.horizons)
    every = 48 * 60.0
    for i in range(60):
        st.add({"model": "m", "input_tokens": 80, "output_tokens": 900, "turn_index": 0,
                "account_created_at": T0 - 90 * 86400,
                "prompt": f"Problem {i}: compute {i * 7} times {i + 3}. Show your full reasoning."}, T0 + i * every)
    return extract(st, T0 + 60 * every)


def warm_scorer(settings: Settings = S, seed: int = 1) -> Scorer:
    sc = Scorer(settings)
    rnd = random.Random(seed)
    for _ in range(settings.model_warmup):
        a = sc.assess(peer(rnd), may_learn=True)
        assert not a.verdicts
    assert sc.models.learned()[POP] == settings.model_warmup
    return sc


@pytest.fixture(scope="module")
def warm() -> Scorer:
    return warm_scorer()


# --- combine -------------------------------------------------------------------------------------

def test_no_verdicts_no_score() -> None:
    assert combine([]) == (0.0, None)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_one_verdict_keeps_its_score_and_severity(severity: str) -> None:
    assert combine([Verdict("a", 0.37, severity)]) == (0.37, severity)


def test_scores_combine_by_noisy_or() -> None:
    scores = [0.5, 0.3, 0.8]
    verdicts = [Verdict(f"d{i}", s, "low") for i, s in enumerate(scores)]
    expected = 1 - math.prod(1 - s for s in scores)
    assert combine(verdicts)[0] == pytest.approx(expected, abs=1e-4)
    for order in itertools.permutations(verdicts):
        assert combine(list(order)) == combine(verdicts)


def test_agreement_raises_the_score_above_each_detector() -> None:
    a, b = Verdict("a", 0.4, "low"), Verdict("b", 0.45, "medium")
    score, _ = combine([a, b])
    assert score > max(a.score, b.score)
    assert combine([a, Verdict("b", 1.0, "low")])[0] == 1.0
    assert combine([a, Verdict("b", 0.0, "low")])[0] == pytest.approx(a.score)


@pytest.mark.parametrize(("severities", "expected"), [
    (("low", "low"), "medium"),
    (("medium", "low"), "high"),
    (("high", "low"), "critical"),
    (("critical", "low"), "critical"),  # clamped
    (("low", "low", "low"), "medium"),  # one step for agreement, however many agree
])
def test_agreement_bumps_the_highest_severity_one_step(severities: tuple[str, ...], expected: str) -> None:
    verdicts = [Verdict(f"d{i}", 0.3, s) for i, s in enumerate(severities)]
    assert combine(verdicts)[1] == expected
    assert severity_rank(expected) == min(3, max(severity_rank(s) for s in severities) + 1)


# --- Scorer: the alert gate ----------------------------------------------------------------------

def test_an_ordinary_account_scores_zero() -> None:
    a = Scorer(S).assess(peer(random.Random(1)), may_learn=True)
    assert (a.score, a.severity, a.verdicts, a.population) == (0.0, None, [], POP)


def test_a_rule_verdict_becomes_an_alert_from_alert_min_score() -> None:
    f = slow_extractor()
    a = Scorer(S).assess(f, may_learn=True)
    assert [v.detector for v in a.verdicts] == ["pattern_rule"]
    v = a.verdicts[0]
    assert a.score == v.score and a.severity == v.severity
    at_gate = Scorer(Settings(per_account_evaluators=RULES, alert_min_score=v.score)).assess(f, may_learn=True)
    assert at_gate.severity == v.severity
    stricter = Settings(per_account_evaluators=RULES, alert_min_score=math.nextafter(v.score, 2.0))
    above = Scorer(stricter).assess(f, may_learn=True)
    assert above.severity is None
    assert above.score == v.score and above.verdicts == a.verdicts  # reported, just not an alert


# --- Scorer: learning protection ------------------------------------------------------------------

def test_a_clean_evaluation_is_learned() -> None:
    sc = Scorer(S)
    sc.assess(peer(random.Random(2)), may_learn=True)
    assert sc.models.learned()[POP] == 1


def test_may_learn_false_is_not_learned() -> None:
    sc = Scorer(S)
    sc.assess(peer(random.Random(2)), may_learn=False)
    assert sum(sc.models.learned().values()) == 0


def test_an_evaluation_where_a_rule_fired_is_not_learned() -> None:
    sc = Scorer(S)
    f = slow_extractor()
    a = sc.assess(f, may_learn=True)
    assert a.verdicts
    assert sum(sc.models.learned().values()) == 0


def test_an_evaluation_where_the_model_reported_is_not_learned() -> None:
    sc = warm_scorer()
    a = sc.assess(outlier(), may_learn=True)
    assert [v.detector for v in a.verdicts] == ["population_model"]
    assert sc.models.learned()[POP] == S.model_warmup


# --- Scorer: the population model --------------------------------------------------------------

def test_the_model_alone_does_not_alert_by_default(warm: Scorer) -> None:
    a = warm.assess(outlier(), may_learn=False)
    assert [v.detector for v in a.verdicts] == ["population_model"]
    assert a.score == a.verdicts[0].score
    assert a.severity is None


def test_the_model_alone_may_alert_low_when_allowed() -> None:
    s = Settings(per_account_evaluators=RULES, model_alone_alerts=True)
    sc = Scorer(s)
    sc.models.models = warm_scorer().models.models
    a = sc.assess(outlier(), may_learn=False)
    v = a.verdicts[0]
    assert v.detector == "population_model" and v.score >= s.alert_min_score
    assert a.severity == "low"
    lenient = Scorer(Settings(per_account_evaluators=RULES, model_alone_alerts=True, alert_min_score=v.score))
    lenient.models.models = sc.models.models
    assert lenient.assess(outlier(), may_learn=False).severity == "low"


def test_a_rule_and_the_model_together_combine(warm: Scorer) -> None:
    # the outlier with prompt text that asks for step-by-step reasoning: volume_rule fires too
    f = dict(outlier(), text_basis_long=300.0, cot_share_long=1.0, benchmark_share_long=1.0, prompt_basis_day=450.0)
    a = warm.assess(f, may_learn=True)
    detectors = [v.detector for v in a.verdicts]
    assert detectors == ["volume_rule", "population_model"]
    rule, model = a.verdicts
    assert a.score == pytest.approx(1 - (1 - rule.score) * (1 - model.score), abs=1e-4)
    assert severity_rank(a.severity) == min(3, severity_rank(rule.severity) + 1)
    assert warm.models.learned()[POP] == S.model_warmup  # nothing learned from it


def test_scores_stay_in_the_unit_interval(warm: Scorer) -> None:
    rnd = random.Random(4)
    cases = [peer(rnd) for _ in range(5)] + [outlier(), slow_extractor(),
                                             dict(outlier(), text_basis_long=300.0, cot_share_long=1.0)]
    for f in cases:
        a = warm.assess(f, may_learn=False)
        assert 0.0 <= a.score <= 1.0
        assert a.severity is None or a.severity in SEVERITIES
