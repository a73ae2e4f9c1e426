"""VolumeRule and PatternRule on hand-made feature dicts (stream_guard.core.rules).

Every dict starts from ``extract()`` of a small ordinary account (so it has every key the
rules may read) and overrides the keys a case is about. Thresholds are read from
``Settings``; a few tests use non-default settings to show that the rules follow them.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import math
import re
from pathlib import Path
from typing import Any

import pytest
from stream_guard.core import models, rules, scoring
from stream_guard.core.features import extract
from stream_guard.core.rules import SEVERITIES, PatternRule, VolumeRule, severity_rank
from stream_guard.core.state import AccountState
from stream_guard.settings import Settings

S = Settings()
T0 = 20513 * 86400.0
HOUR = 3600.0
DOC = Path(__file__).resolve().parents[3] / "docs" / "detection.md"


def below(x: float) -> float:
    return math.nextafter(x, -math.inf)


def above(x: float) -> float:
    return math.nextafter(x, math.inf)


def _ordinary() -> dict[str, float]:
    st = AccountState("acct", S.horizons)
    for i, word in enumerate(("kettle", "garden", "violin", "harbor", "meadow")):
        st.add({"model": "m", "input_tokens": 120, "output_tokens": 250, "prompt": f"tell me about the {word}"},
               T0 + HOUR + 60 * i)
    return extract(st, T0 + HOUR + 600)


ORDINARY = _ordinary()

#: reason signal -> the setting it is compared with, per rule
COMMON = {
    "distinct_ratio_day": "rule_distinct_ratio",
}
VOLUME_THRESHOLDS = COMMON | {
    "short_requests": "rule_short_requests",
    "long_requests": "rule_long_requests",
    "long_output_tokens": "rule_long_output_tokens",
    "active_hours": "rule_min_active_hours",
    "day_requests": "rule_day_requests",
    "cot_share_long": "rule_cot_share",
    "benchmark_share_long": "rule_benchmark_share",
    "mean_output_tokens_long": "rule_min_mean_output_tokens",
    "out_in_ratio_long": "rule_out_in_ratio",
}
PATTERN_THRESHOLDS = COMMON | {
    "cot_share_day": "rule_cot_share",
    "benchmark_share_day": "rule_benchmark_share",
    "mean_output_tokens_day": "rule_min_mean_output_tokens",
    "first_turn_share_day": "rule_first_turn_share",
    "categories_day": "pattern_min_categories",
    "active_hours": "pattern_min_active_hours",
    "template_repeat_share_day": "pattern_template_share",
    "near_dup_share_day": "pattern_template_share",
    "iat_cv_day": "pattern_max_iat_cv",
    "max_tokens_share_day": "pattern_max_tokens_share",
}
AT_MOST = {"iat_cv_day"}  # the only reason that fires at or *below* its threshold


def signals(verdict: Any) -> list[str]:
    return [r["signal"] for r in verdict.reasons]


def check_reasons(verdict: Any, f: dict[str, float], s: Settings) -> None:
    thresholds = VOLUME_THRESHOLDS if verdict.detector == "volume_rule" else PATTERN_THRESHOLDS
    for r in verdict.reasons:
        assert set(r) == {"signal", "value", "threshold", "detail"}
        assert r["value"] == round(f[r["signal"]], 4)
        assert r["threshold"] == getattr(s, thresholds[r["signal"]]), r
        if r["signal"] in AT_MOST:
            assert f[r["signal"]] <= r["threshold"], r
        else:
            assert f[r["signal"]] >= r["threshold"], r
        assert isinstance(r["detail"], str) and len(r["detail"]) > 10


# --- VolumeRule --------------------------------------------------------------------------------

def blunt(s: Settings = S, **over: float) -> dict[str, float]:
    """Exactly at VolumeRule's thresholds: hourly volume sustained over a few hours, CoT share
    and long outputs, nothing else."""
    n = s.rule_long_requests
    f = dict(ORDINARY, short_requests=0.0, long_requests=n, long_output_tokens=n * s.rule_min_mean_output_tokens,
             active_hours=s.rule_min_active_hours, day_requests=s.rule_min_active_hours * n,
             text_basis_long=n, cot_share_long=s.rule_cot_share, benchmark_share_long=0.0,
             mean_output_tokens_long=s.rule_min_mean_output_tokens, distinct_ratio_day=0.0, prompt_basis_day=n,
             first_turn_share_day=1.0, out_in_ratio_long=1.0)
    assert f["long_output_tokens"] < s.rule_long_output_tokens, "the base case has one volume signal"
    assert f["day_requests"] < s.rule_day_requests, "the base case is sustained, not one large burst"
    f.update(over)
    return f


def test_volume_rule_stays_quiet_on_an_ordinary_account() -> None:
    assert VolumeRule(S).evaluate(ORDINARY) is None


def test_volume_rule_fires_exactly_at_its_thresholds() -> None:
    f = blunt()
    v = VolumeRule(S).evaluate(f)
    assert v is not None and v.detector == "volume_rule"
    assert signals(v) == ["long_requests", "active_hours", "cot_share_long", "mean_output_tokens_long"]
    check_reasons(v, f, S)
    assert 0.0 < v.score <= 1.0 and v.severity in SEVERITIES


@pytest.mark.parametrize("key", ["long_requests", "active_hours", "cot_share_long", "mean_output_tokens_long"])
def test_volume_rule_does_not_fire_just_below_a_threshold(key: str) -> None:
    f = blunt()
    assert VolumeRule(S).evaluate(dict(f, **{key: below(f[key])})) is None


def test_a_burst_needs_to_be_very_large_to_count_without_sustained_hours() -> None:
    f = blunt(active_hours=below(S.rule_min_active_hours), day_requests=S.rule_day_requests)
    v = VolumeRule(S).evaluate(f)
    assert v is not None
    assert signals(v)[:2] == ["long_requests", "day_requests"]
    check_reasons(v, f, S)
    assert VolumeRule(S).evaluate(dict(f, day_requests=below(S.rule_day_requests))) is None


@pytest.mark.parametrize("key", ["short_requests", "long_output_tokens"])
def test_any_single_volume_signal_is_enough(key: str) -> None:
    setting = VOLUME_THRESHOLDS[key]
    f = blunt(long_requests=S.rule_min_requests, **{key: getattr(S, setting)})
    v = VolumeRule(S).evaluate(f)
    assert v is not None and signals(v)[0] == key
    assert VolumeRule(S).evaluate(dict(f, **{key: below(getattr(S, setting))})) is None


def test_volume_rule_needs_a_minimum_of_hourly_requests_to_judge_shares() -> None:
    s = Settings(rule_short_requests=10)
    f = blunt(s, short_requests=12, long_requests=s.rule_min_requests, text_basis_long=s.rule_min_requests)
    assert VolumeRule(s).evaluate(f) is not None
    assert VolumeRule(s).evaluate(dict(f, long_requests=below(s.rule_min_requests))) is None


def test_benchmark_share_is_content_too() -> None:
    f = blunt(cot_share_long=0.0, benchmark_share_long=S.rule_benchmark_share)
    v = VolumeRule(S).evaluate(f)
    assert v is not None and "benchmark_share_long" in signals(v)
    assert VolumeRule(S).evaluate(dict(f, benchmark_share_long=below(S.rule_benchmark_share))) is None


def test_text_shares_are_not_judged_over_too_few_texts() -> None:
    f = blunt(text_basis_long=below(S.rule_min_requests), cot_share_long=1.0, benchmark_share_long=1.0)
    assert VolumeRule(S).evaluate(f) is None


def test_distinct_ratio_adds_a_reason_only_over_enough_prompts() -> None:
    f = blunt(distinct_ratio_day=S.rule_distinct_ratio)
    assert signals(VolumeRule(S).evaluate(f))[-1] == "distinct_ratio_day"
    assert "distinct_ratio_day" not in signals(
        VolumeRule(S).evaluate(dict(f, prompt_basis_day=below(S.rule_min_requests))))
    assert "distinct_ratio_day" not in signals(
        VolumeRule(S).evaluate(dict(f, distinct_ratio_day=below(S.rule_distinct_ratio))))


def test_volume_reasons_follow_the_settings() -> None:
    s = Settings(rule_short_requests=11, rule_long_requests=77, rule_long_output_tokens=9_999, rule_cot_share=0.42,
                 rule_benchmark_share=0.33, rule_min_mean_output_tokens=123, rule_distinct_ratio=0.66,
                 rule_min_active_hours=2, long_window_s=7200, short_window_s=600)
    f = blunt(s, short_requests=20, long_output_tokens=20_000, benchmark_share_long=0.5, distinct_ratio_day=0.7)
    v = VolumeRule(s).evaluate(f)
    assert signals(v) == ["short_requests", "long_requests", "long_output_tokens", "active_hours", "cot_share_long",
                          "benchmark_share_long", "mean_output_tokens_long", "distinct_ratio_day"]
    check_reasons(v, f, s)
    details = {r["signal"]: r["detail"] for r in v.reasons}
    assert "600 s" in details["short_requests"]
    assert "7200 s" in details["long_requests"] and "7200 s" in details["long_output_tokens"]
    assert VolumeRule(S).evaluate(f) is None  # the same account is below the default thresholds


def rank(f: dict[str, float]) -> int:
    return severity_rank(VolumeRule(S).evaluate(f).severity)


def test_volume_severity_grows_with_content_overshoot_and_volume_signals() -> None:
    minimal = blunt()
    more_content = blunt(distinct_ratio_day=1.0)
    all_content = blunt(distinct_ratio_day=1.0, benchmark_share_long=1.0)
    assert VolumeRule(S).evaluate(minimal).severity == "low"
    assert rank(more_content) == rank(minimal) + 1
    assert rank(all_content) == rank(minimal) + 2
    # twice the volume threshold (rule_overshoot_factor): one step up
    assert rank(blunt(long_requests=2 * S.rule_long_requests)) == rank(minimal) + 1
    assert rank(blunt(long_requests=2 * S.rule_long_requests - 0.01)) == rank(minimal)
    sooner = Settings(rule_overshoot_factor=1.5)
    v = VolumeRule(sooner).evaluate(blunt(long_requests=1.5 * S.rule_long_requests))
    assert v is not None and severity_rank(v.severity) == rank(minimal) + 1
    # a second volume signal: one step up
    assert rank(blunt(short_requests=S.rule_short_requests)) == rank(minimal) + 1
    everything = blunt(distinct_ratio_day=1.0, benchmark_share_long=1.0, short_requests=5 * S.rule_short_requests,
                       long_requests=5 * S.rule_long_requests, long_output_tokens=5 * S.rule_long_output_tokens)
    assert VolumeRule(S).evaluate(everything).severity == "critical"  # clamped


def test_volume_score_grows_with_evidence_and_stays_in_range() -> None:
    def score(**over: float) -> float:
        return VolumeRule(S).evaluate(blunt(**over)).score

    base = score()
    assert score(distinct_ratio_day=1.0) > base
    assert score(long_requests=2 * S.rule_long_requests) > base
    assert score(short_requests=S.rule_short_requests) > base
    assert score(long_requests=1e9, short_requests=1e9, long_output_tokens=1e12, distinct_ratio_day=1.0,
                 benchmark_share_long=1.0) == 1.0
    assert 0.0 < base < 1.0


# --- VolumeRule without prompt text ---------------------------------------------------------------

def hashed(s: Settings = S, **over: float) -> dict[str, float]:
    """Hash-only traffic exactly at the thresholds of its shape."""
    f = blunt(s, text_basis_long=0.0, cot_share_long=0.0, prompt_basis_day=s.rule_min_requests,
              distinct_ratio_day=s.rule_distinct_ratio, first_turn_share_day=s.rule_first_turn_share,
              out_in_ratio_long=s.rule_out_in_ratio)
    f.update(over)
    return f


def test_hash_only_traffic_fires_on_the_whole_shape_of_a_sweep() -> None:
    f = hashed()
    v = VolumeRule(S).evaluate(f)
    assert v is not None
    assert signals(v) == ["long_requests", "active_hours", "out_in_ratio_long", "mean_output_tokens_long",
                          "distinct_ratio_day"]
    check_reasons(v, f, S)


@pytest.mark.parametrize("key", ["prompt_basis_day", "distinct_ratio_day", "first_turn_share_day",
                                 "out_in_ratio_long", "mean_output_tokens_long"])
def test_hash_only_traffic_needs_every_part_of_the_shape(key: str) -> None:
    f = hashed()
    assert VolumeRule(S).evaluate(dict(f, **{key: below(f[key])})) is None


def test_the_hash_only_shape_is_not_used_when_texts_are_there() -> None:
    # enough prompt text and no CoT/benchmark content: the hash branch is not a second chance
    assert VolumeRule(S).evaluate(hashed(text_basis_long=S.rule_min_requests)) is None


# --- VolumeRule on real sequences ---------------------------------------------------------------

def run(events: list[tuple[dict[str, Any], float]], at: float) -> dict[str, float]:
    st = AccountState("acct", S.horizons)
    for event, ts in events:
        st.add(event, ts)
    return extract(st, at)


def test_a_blunt_extractor_sequence_fires_and_a_busy_integrator_does_not() -> None:
    every = HOUR / (2 * S.rule_long_requests)  # twice the hourly threshold ...
    n = int((S.rule_min_active_hours + 0.5) * HOUR / every)  # ... sustained over enough hours
    start = T0 + 3 * HOUR
    blunt_events = [({"model": "m", "input_tokens": 60, "output_tokens": 1200, "turn_index": 0,
                      "prompt": f"Problem {i}: how many ways can {i} items be split? Think step by step."},
                     start + i * every) for i in range(n)]
    v = VolumeRule(S).evaluate(run(blunt_events, start + n * every))
    assert v is not None and {"long_requests", "cot_share_long", "benchmark_share_long"} <= set(signals(v))
    # the same volume from one system prompt and diverse user questions, ordinary answers
    saas_events = [({"model": "m", "input_tokens": 900, "output_tokens": 180, "turn_index": 0,
                     "prompt": f"You are the support bot of ACME. Customer asks about order {i}: where is my parcel?"},
                    start + i * every) for i in range(n)]
    assert VolumeRule(S).evaluate(run(saas_events, start + n * every)) is None


def test_an_agentic_coding_session_does_not_fire_the_volume_rule() -> None:
    every = HOUR / (1.6 * S.rule_long_requests)
    n = int((S.rule_min_active_hours + 1) * HOUR / every)
    code = "Here is src/app.py:\n\nimport os\n\ndef load_config(path):\n    return open(path).read()\n"
    events = [({"model": "m", "input_tokens": 6000, "output_tokens": 550, "turn_index": i % 40, "tools": 5,
                "prompt": f"{code}\nTool result {i}: test_{i}.py failed. Fix load_config."},
               T0 + 9 * HOUR + i * every) for i in range(n)]
    f = run(events, T0 + 9 * HOUR + n * every)
    assert f["first_turn_share_day"] < S.rule_first_turn_share and f["tool_share_day"] == 1.0
    assert VolumeRule(S).evaluate(f) is None


# --- PatternRule --------------------------------------------------------------------------------

def must_haves(s: Settings = S, **over: float) -> dict[str, float]:
    """A day that meets PatternRule's must-haves and nothing more (a CoT evaluation over a few hours)."""
    f = dict(ORDINARY, day_requests=s.pattern_min_requests, text_basis_day=s.pattern_min_requests,
             prompt_basis_day=s.pattern_min_requests, cot_share_day=s.rule_cot_share, benchmark_share_day=0.0,
             mean_output_tokens_day=s.rule_min_mean_output_tokens, first_turn_share_day=s.rule_first_turn_share,
             distinct_ratio_day=s.rule_distinct_ratio, active_hours=s.pattern_min_hours, observed_hours=6.0,
             categories_day=1.0, template_repeat_share_day=0.0, gap_basis_day=s.pattern_min_requests - 1,
             iat_cv_day=1.0, max_tokens_share_day=0.0)
    f.update(over)
    return f


#: optional evidence of PatternRule: overrides that add it to ``must_haves()``
OPTIONAL = {
    "benchmark_share_day": {"benchmark_share_day": S.rule_benchmark_share},
    "categories_day": {"categories_day": S.pattern_min_categories},
    "active_hours": {"active_hours": S.pattern_min_active_hours, "observed_hours": S.pattern_min_observed_hours},
    "template_repeat_share_day": {"template_repeat_share_day": S.pattern_template_share},
    "iat_cv_day": {"iat_cv_day": S.pattern_max_iat_cv, "gap_basis_day": S.pattern_min_gaps},
    "max_tokens_share_day": {"max_tokens_share_day": S.pattern_max_tokens_share},
}


def slow(**over: float) -> dict[str, float]:
    """Every piece of PatternRule evidence: the slow extractor."""
    f = must_haves()
    for extra in OPTIONAL.values():
        f.update(extra)
    f.update(over)
    return f


def test_pattern_rule_stays_quiet_on_an_ordinary_account() -> None:
    assert PatternRule(S).evaluate(ORDINARY) is None


def test_the_slow_extractor_fires_high_with_every_reason() -> None:
    f = slow()
    v = PatternRule(S).evaluate(f)
    assert v is not None and v.detector == "pattern_rule"
    assert set(signals(v)) == {"cot_share_day", "mean_output_tokens_day", "first_turn_share_day",
                               "distinct_ratio_day"} | set(OPTIONAL)
    check_reasons(v, f, S)
    assert v.severity == "high"
    assert S.pattern_min_score <= v.score <= 1.0


@pytest.mark.parametrize(("case", "over"), [
    ("no CoT and no benchmark shape", {"cot_share_day": below(S.rule_cot_share),
                                       "benchmark_share_day": below(S.rule_benchmark_share)}),
    ("short answers (an evaluation run asking for answers)",
     {"mean_output_tokens_day": below(S.rule_min_mean_output_tokens)}),
    ("multi-turn conversations", {"first_turn_share_day": below(S.rule_first_turn_share)}),
    ("a repeated job, not a sweep", {"distinct_ratio_day": below(S.rule_distinct_ratio)}),
    ("one sitting (a burst within a few hours)", {"active_hours": below(S.pattern_min_hours)}),
    ("too few requests today", {"day_requests": below(S.pattern_min_requests)}),
    ("too little prompt text (hash-only)", {"text_basis_day": below(S.pattern_min_requests)}),
])
def test_pattern_rule_must_haves(case: str, over: dict[str, float]) -> None:
    assert PatternRule(S).evaluate(slow(**over)) is None, case


def test_a_benchmark_shaped_day_counts_like_a_cot_one() -> None:
    f = slow(cot_share_day=0.0, benchmark_share_day=S.rule_benchmark_share)
    v = PatternRule(S).evaluate(f)
    assert v is not None and "benchmark_share_day" in signals(v) and "cot_share_day" not in signals(v)


def test_a_one_off_cot_evaluation_run_does_not_fire() -> None:
    # must-haves only: CoT over a few hours, one capability, not templated, irregular, no cap hits
    f = must_haves()
    assert PatternRule(S).evaluate(f) is None
    # ... and it is the evidence score that keeps it quiet, not a missing key
    v = PatternRule(Settings(pattern_min_score=0.0)).evaluate(f)
    assert v is not None
    assert signals(v) == ["cot_share_day", "mean_output_tokens_day", "first_turn_share_day", "distinct_ratio_day"]
    assert v.score < S.pattern_min_score


def test_pattern_min_score_is_the_gate() -> None:
    f = slow(max_tokens_share_day=0.0, iat_cv_day=1.0)
    v = PatternRule(S).evaluate(f)
    assert v is not None
    assert PatternRule(Settings(pattern_min_score=v.score)).evaluate(f) is not None
    assert PatternRule(Settings(pattern_min_score=above(v.score))).evaluate(f) is None


def test_around_the_clock_needs_a_day_of_observation() -> None:
    assert S.pattern_min_observed_hours == 20.0
    f = slow(observed_hours=below(S.pattern_min_observed_hours))
    v = PatternRule(S).evaluate(f)
    assert v is not None and "active_hours" not in signals(v)
    assert v.severity != "high"
    sooner = PatternRule(Settings(pattern_min_observed_hours=below(S.pattern_min_observed_hours))).evaluate(f)
    assert sooner is not None and "active_hours" in signals(sooner)


def test_regular_timing_needs_ten_gaps() -> None:
    assert S.pattern_min_gaps == 10.0
    assert "iat_cv_day" in signals(PatternRule(S).evaluate(slow(gap_basis_day=10.0)))
    assert "iat_cv_day" not in signals(PatternRule(S).evaluate(slow(gap_basis_day=9.0)))
    assert "iat_cv_day" not in signals(PatternRule(S).evaluate(slow(iat_cv_day=above(S.pattern_max_iat_cv))))
    assert "iat_cv_day" in signals(PatternRule(Settings(pattern_min_gaps=9.0)).evaluate(slow(gap_basis_day=9.0)))


@pytest.mark.parametrize("combo", [c for n in range(len(OPTIONAL) + 1) for c in itertools.combinations(OPTIONAL, n)])
def test_pattern_evidence_combinations(combo: tuple[str, ...]) -> None:
    f = must_haves()
    for name in combo:
        f.update(OPTIONAL[name])
    v = PatternRule(S).evaluate(f)
    if v is None:
        return
    # each optional piece of evidence shows up as a reason exactly when present
    assert {s for s in signals(v) if s in OPTIONAL} == set(combo)
    check_reasons(v, f, S)
    assert S.pattern_min_score <= v.score <= 1.0
    # severity bands; "high" only for a templated sweep around the clock (the band is taken
    # from the reported, rounded score or a hair below it: see the xfail test below)
    def band(score: float) -> str:
        expected = "low" if score < S.pattern_medium_score else "medium" if score < S.pattern_high_score else "high"
        if expected == "high" and not {"active_hours", "template_repeat_share_day"} <= set(combo):
            expected = "medium"
        return expected

    assert v.severity in {band(v.score), band(v.score - 1e-9)}
    # more evidence never lowers the score nor silences the rule
    for extra in set(OPTIONAL) - set(combo):
        w = PatternRule(S).evaluate(dict(f, **OPTIONAL[extra]))
        assert w is not None and w.score >= v.score


def test_pattern_severity_agrees_with_the_reported_score() -> None:
    v = PatternRule(S).evaluate(must_haves(**OPTIONAL["iat_cv_day"]))
    assert v is not None and v.score == 0.75 == S.pattern_medium_score
    assert v.severity == "medium"


def test_pattern_severity_bands_follow_the_settings() -> None:
    f = slow()
    v = PatternRule(S).evaluate(f)
    assert v is not None and v.severity == "high"
    lower = PatternRule(Settings(pattern_high_score=above(v.score))).evaluate(f)
    assert lower is not None and lower.severity == "medium"
    lowest = PatternRule(Settings(pattern_medium_score=above(v.score), pattern_high_score=1.0)).evaluate(f)
    assert lowest is not None and lowest.severity == "low"


TEMPLATING = {"template_repeat_share_day", "near_dup_share_day"}


@pytest.mark.parametrize(("template", "near_dup", "named"), [
    (0.0, S.pattern_template_share, "near_dup_share_day"),        # paraphrases, no template repeats
    (S.pattern_template_share, 0.0, "template_repeat_share_day"),
    (0.7, 0.7, "template_repeat_share_day"),                       # a tie: template repeats, as before
    (0.6, 0.9, "near_dup_share_day"),                              # the larger share carries it
    (0.9, 0.6, "template_repeat_share_day"),
    (below(S.pattern_template_share), below(S.pattern_template_share), None),
])
def test_templating_is_the_larger_of_template_repeats_and_near_duplicates(
    template: float, near_dup: float, named: str | None
) -> None:
    f = slow(template_repeat_share_day=template, near_dup_share_day=near_dup)
    v = PatternRule(S).evaluate(f)
    assert v is not None
    found = [r for r in v.reasons if r["signal"] in TEMPLATING]
    assert [r["signal"] for r in found] == ([named] if named else [])
    check_reasons(v, f, S)
    # the weight (0.15) and the "high" severity need templating from either signal
    assert v.severity == ("high" if named else "medium")
    reference = PatternRule(S).evaluate(slow(template_repeat_share_day=max(template, near_dup)))
    assert reference is not None and v.score == reference.score


def test_pattern_reasons_follow_the_settings() -> None:
    s = Settings(rule_cot_share=0.6, rule_min_mean_output_tokens=700, rule_first_turn_share=0.7,
                 rule_distinct_ratio=0.5, pattern_min_categories=5, pattern_min_active_hours=10,
                 pattern_template_share=0.2, pattern_max_iat_cv=0.3, pattern_max_tokens_share=0.1,
                 pattern_min_requests=20, pattern_min_hours=6)
    f = dict(slow(), day_requests=20.0, text_basis_day=20.0, cot_share_day=0.6, mean_output_tokens_day=700.0,
             first_turn_share_day=0.7, distinct_ratio_day=0.5, categories_day=5.0, active_hours=10.0,
             template_repeat_share_day=0.2, iat_cv_day=0.3, max_tokens_share_day=0.1)
    v = PatternRule(s).evaluate(f)
    assert v is not None
    check_reasons(v, f, s)
    assert PatternRule(S).evaluate(f) is None  # below the defaults (mean output, distinct ratio, ...)


def test_a_slow_extractor_sequence_fires_and_an_office_worker_does_not() -> None:
    start = T0
    every = 48 * 60.0  # 30 requests a day, around the clock, for two days
    ext = [({"model": "m", "input_tokens": 80, "output_tokens": 900, "turn_index": 0,
             "prompt": f"Problem {i}: compute {i * 7} times {i + 3}. Show your full reasoning."},
            start + i * every) for i in range(60)]
    v = PatternRule(S).evaluate(run(ext, start + 60 * every))
    assert v is not None
    assert {"cot_share_day", "template_repeat_share_day", "active_hours", "iat_cv_day"} <= set(signals(v))
    assert v.severity == "high"
    nouns = ("kettle", "garden", "violin", "harbor", "meadow", "orchard", "pepper", "quarry", "river", "saddle")
    office = [({"model": "m", "input_tokens": 300, "output_tokens": 400, "turn_index": i % 3,
                "prompt": f"Can you explain the {nouns[i % len(nouns)]} thing step by step?"},
               start + 9 * HOUR + i * 1200.0) for i in range(24)]
    assert PatternRule(S).evaluate(run(office, start + 18 * HOUR)) is None


# --- documentation ---------------------------------------------------------------------------

def _settings_used_by_the_detectors() -> set[str]:
    fields = {f.name for f in dataclasses.fields(Settings)}
    used: set[str] = set()
    for module in (rules, models, scoring):
        used |= set(re.findall(r"\bs\.([a-z_]+)\b", inspect.getsource(module))) & fields
    return used


def test_every_threshold_used_by_rules_and_models_is_documented() -> None:
    used = _settings_used_by_the_detectors()
    assert {"rule_cot_share", "pattern_min_score", "model_min_score", "alert_min_score"} <= used
    text = DOC.read_text()
    missing = {name for name in used if f"`{name}`" not in text}
    assert not missing, f"docs/detection.md lacks {sorted(missing)}"
