"""Graded evidence (stream_guard.core.evidence): bounded terms, signed and capped weights, no
veto by one benign-looking property, reasons that add up, and minutes for blunt extraction."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stream_guard.core.detector import Detector
from stream_guard.core.evidence import (
    AGAINST,
    FEATURE_NEEDS,
    FOR,
    TERMS,
    Accumulation,
    EvidenceEvaluator,
    EvidenceWeights,
    term_values,
)
from stream_guard.core.features import FEATURES
from stream_guard.core.rules import SEVERITIES
from stream_guard.core.scoring import Scorer
from stream_guard.settings import Settings, SettingsError

T0 = 1_772_000_000.0
PACKAGED = EvidenceWeights.load()


def features(**values: float) -> dict[str, float]:
    f = dict.fromkeys(FEATURES, 0.0)
    f.update(values)
    return f


def blatant() -> dict[str, float]:
    """A day of benchmark items with step-by-step wording and long outputs, around the clock,
    from a week-old account: what every weighting must call extraction."""
    return features(
        short_requests=60, long_requests=700, day_requests=15000, cot_share_day=0.9, benchmark_share_day=0.9,
        text_basis_day=15000, mean_output_tokens_day=1800, out_in_ratio_long=12, first_turn_share_day=1.0,
        distinct_ratio_day=1.0, prompt_basis_day=15000, gap_basis_day=14999, iat_cv_day=0.4, active_hours=24,
        observed_hours=48, longest_rest_hours=0, age_known=1, account_age_days=7, categories_day=6,
        distinct_params=3,
    )


finite = st.floats(min_value=0.0, max_value=1e7, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries(dict.fromkeys(FEATURE_NEEDS, finite)))
def test_every_term_stays_in_the_unit_interval(values: dict[str, float]) -> None:
    for term, v in zip(TERMS, term_values(features(**values)), strict=True):
        assert 0.0 <= v <= 1.0, term.name


def test_the_terms_read_only_features_the_core_computes() -> None:
    assert set(FEATURE_NEEDS) <= set(FEATURES)
    term_values(dict.fromkeys(FEATURE_NEEDS, 1.0))  # the terms read nothing else (the calibration's rows hold these)
    assert {t.signal for t in TERMS} <= set(FEATURES)
    assert len({t.name for t in TERMS}) == len(TERMS)


def test_the_packaged_weights_respect_each_terms_sign_and_cap() -> None:
    by_name = {t.name: t for t in TERMS}
    for name, w in PACKAGED.weights.items():
        t = by_name[name]
        assert abs(w) <= t.cap + 1e-9, name
        assert (t.sign != FOR or w >= 0.0) and (t.sign != AGAINST or w <= 0.0), name
    th = [PACKAGED.thresholds[s] for s in SEVERITIES]
    assert th == sorted(th)
    assert PACKAGED.fitted_on.get("files"), "the packaged weights say what they were fitted on"


@pytest.mark.parametrize("term", [t.name for t in TERMS if t.sign == AGAINST])
def test_no_single_benign_looking_property_vetoes_blatant_extraction(term: str) -> None:
    ev = EvidenceEvaluator(PACKAGED)
    base = ev.log_odds(blatant())
    assert base >= PACKAGED.thresholds["high"]
    worst = base - abs(PACKAGED.weights.get(term, 0.0))  # the term at its full weight against
    assert worst >= PACKAGED.thresholds["medium"], f"{term} alone pulls blatant extraction below medium"


def test_a_follow_up_turn_in_every_conversation_lowers_the_evidence_but_does_not_silence_it() -> None:
    ev = EvidenceEvaluator(PACKAGED)
    one_shot, chatty = blatant(), dict(blatant(), first_turn_share_day=0.5)
    assert ev.log_odds(chatty) <= ev.log_odds(one_shot)
    assert ev.log_odds(chatty) >= PACKAGED.thresholds["high"]
    verdict = ev.judge(chatty)
    assert verdict is not None and verdict.severity == PACKAGED.instant_ceiling == "medium"


def test_an_instant_reading_gives_at_most_the_ceiling_and_hours_of_evidence_give_more() -> None:
    ev, f = EvidenceEvaluator(PACKAGED), blatant()
    assert ev.log_odds(f) >= PACKAGED.thresholds["critical"]
    now = ev.judge(f)
    assert now is not None and now.severity == "medium"  # a burst of minutes: an evaluation run looks the same
    assert "the most an instant reading gives" in now.reasons[-1]["detail"]
    acc = PACKAGED.accumulate
    assert acc is not None
    later = ev.judge(f, accumulated=acc.thresholds["high"])
    assert later is not None and later.severity == "high"
    uncapped = EvidenceEvaluator(dataclasses.replace(PACKAGED, instant_ceiling="critical")).judge(f)
    assert uncapped is not None and uncapped.severity == "critical"


def test_reasons_name_each_term_with_its_weight_and_add_up_to_the_evidence() -> None:
    ev = EvidenceEvaluator(PACKAGED, max_reasons=len(TERMS))
    f = blatant()
    v = ev.judge(f)
    assert v is not None
    *terms, total = v.reasons
    assert total["signal"] == "evidence" and total["value"] == pytest.approx(ev.log_odds(f), abs=1e-4)
    assert all({"signal", "value", "threshold", "detail", "weight"} <= set(r) for r in v.reasons)
    small = sum(w * t.value(f) for t, w in ((t, PACKAGED.weights.get(t.name, 0.0)) for t in TERMS)
                if abs(w * t.value(f)) < 0.05)
    assert PACKAGED.bias + sum(r["weight"] for r in terms) + small == pytest.approx(total["value"], abs=1e-3)
    assert [abs(r["weight"]) for r in terms] == sorted((abs(r["weight"]) for r in terms), reverse=True)


def test_the_score_is_one_half_at_the_low_threshold() -> None:
    w = EvidenceWeights(-1.0, {"cot": 2.0}, {"low": 0.0, "medium": 1.0, "high": 2.0, "critical": 3.0})
    f = features(cot_share_day=1.0, text_basis_day=10.0)  # trusted by half: 2 * 0.5 - 1 = 0
    v = EvidenceEvaluator(w).judge(f)
    assert v is not None and v.score == 0.5 and v.severity == "low"
    assert EvidenceEvaluator(w).judge(features(cot_share_day=0.98, text_basis_day=10.0)) is None


@pytest.mark.parametrize("doc", [
    {"bias": 0, "weights": {"no_such_term": 1.0}, "thresholds": {"low": 0, "medium": 1, "high": 2, "critical": 3}},
    {"bias": 0, "weights": {}, "thresholds": {"low": 0, "medium": 3, "high": 2, "critical": 4}},
    {"bias": 0, "weights": {}, "thresholds": {"low": 0, "medium": 1, "high": 2}},
    {"bias": float("nan"), "weights": {}, "thresholds": {"low": 0, "medium": 1, "high": 2, "critical": 3}},
    {"bias": 0, "weights": {}, "thresholds": {"low": 0, "medium": 1, "high": 2, "critical": 3},
     "instant_ceiling": "severe"},
])
def test_unusable_weights_are_refused(doc: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        EvidenceWeights(float(doc["bias"]), doc["weights"], doc["thresholds"],
                        instant_ceiling=doc.get("instant_ceiling", "critical"))


def test_a_weights_file_round_trips_and_is_used(tmp_path: Any) -> None:
    w = EvidenceWeights(-2.0, {"cot": 1.5}, {"low": -1.0, "medium": 0.0, "high": 1.0, "critical": 2.0},
                        {"files": ["x"]}, instant_ceiling="high")
    path = tmp_path / "w.json"
    path.write_bytes(w.to_json())
    assert EvidenceWeights.load(str(path)) == w
    scorer = Scorer(Settings(evidence_weights_file=str(path)))
    assert isinstance(scorer.evaluators[0], EvidenceEvaluator) and scorer.evaluators[0].w == w


def test_the_evaluators_are_chosen_by_setting() -> None:
    names = [type(e).__name__ for e in Scorer(Settings()).evaluators]
    assert names == ["EvidenceEvaluator", "ModelEvaluator"]
    rules = Scorer(Settings(per_account_evaluators="volume,pattern,population")).evaluators
    assert [type(e).__name__ for e in rules] == ["RuleEvaluator", "RuleEvaluator", "ModelEvaluator"]
    with pytest.raises(SettingsError, match="per_account_evaluators"):
        Settings.from_env({"STREAM_GUARD_PER_ACCOUNT_EVALUATORS": "evidence,magic"})


def test_a_blunt_extractor_is_alerted_within_five_minutes_of_event_time() -> None:
    det = Detector(Settings(), clock=lambda: 0.0)
    alerts = []
    for i in range(3000):  # 10 requests a minute: ~15,000 a day
        ts = T0 + 6.0 * i
        det.process({"event_id": f"e{i}", "account_id": "x", "model": "m", "input_tokens": 60,
                     "output_tokens": 1400, "turn_index": 0, "temperature": 0.7 + (i % 3) / 10,
                     "account_created_at": "2026-02-20T00:00:00Z",
                     "prompt": f"Problem {i}: a train leaves at {i % 12} o'clock at {40 + i % 50} km/h. "
                               "How far has it gone by noon? Think step by step."}, ts)
        alerts += det.advance(ts)
    raised = min(_epoch(a["raised_at"]) for a in alerts)
    assert raised - T0 <= 300.0, raised - T0
    assert all(a["detectors"][0] == "evidence_score" for a in alerts)


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_weak_but_steady_evidence_alerts_after_enough_hours_of_it(tmp_path: Any) -> None:
    """Evidence that never reaches an instant threshold still alerts once its accumulated
    sum does: here about 0.45 log-odds above the reference per hour of traffic."""
    w = EvidenceWeights(-1.0, {"cot": 1.0}, {"low": 0.5, "medium": 1.0, "high": 2.0, "critical": 3.0},
                        {"files": ["test"]},
                        Accumulation(-0.5, 86400.0, 3600.0, {"low": 1.0, "medium": 2.0, "high": 4.0, "critical": 99.0}))
    path = tmp_path / "w.json"
    path.write_bytes(w.to_json())
    det = Detector(Settings(evidence_weights_file=str(path), per_account_evaluators="evidence"), clock=lambda: 0.0)
    alerts: list[dict[str, Any]] = []
    for i in range(6 * 60):  # one request a minute for six hours, from two accounts
        ts = T0 + 60.0 * i
        for account, wording in (("steady", "Explain step by step."), ("plain", "Summarise this.")):
            det.process({"event_id": f"{account}{i}", "account_id": account, "model": "m", "input_tokens": 50,
                         "output_tokens": 300, "prompt": f"Note {i}: {wording}"}, ts)
        alerts += det.advance(ts)
    assert {a["subject"] for a in alerts} == {"steady"}
    assert [a["severity"] for a in alerts] == ["low", "medium"]
    first = [r for r in alerts[0]["reasons"] if r["signal"] == "evidence_accumulated"]
    assert first and first[0]["value"] >= 1.0
    hours = [(_epoch(a["raised_at"]) - T0) / 3600 for a in alerts]
    assert 2.5 <= hours[0] <= 3.5 and 5.0 <= hours[1] <= 6.0, hours  # ~0.45 an hour, less while the share firms up


def test_the_packaged_fit_names_each_designs_variants() -> None:
    """Every designs file of the fit names a variant of every design: the `designs` preset
    alone runs every variant in turn, which once leaked the held-out variants into the fit.
    (That no held-out variant is among them: tests/unit/test_evidence_calibration_bench.py.)"""
    from stream_guard.loadgen.variants import DEFAULT_VARIANTS, VARIANTS

    sources = PACKAGED.fitted_on["loadgen"]
    designs = [opts.split() for opts in sources.values() if "designs" in opts.split()]
    assert designs, "the fit saw no campaign designs"
    for opts in designs:
        chosen = {opts[i][2:-len("-variant")].replace("-", "_"): opts[i + 1]
                  for i in range(len(opts) - 1) if opts[i].endswith("-variant")}
        assert chosen.keys() == DEFAULT_VARIANTS.keys(), chosen
        assert all(set(v.split(",")) <= set(VARIANTS[d]) for d, v in chosen.items()), chosen
