"""Population models (stream_guard.core.models): populations, warm-up, baselines, checkpoints."""

from __future__ import annotations

import random

import pytest
from core_helpers import ORDINARY, outlier, peer
from stream_guard.core.features import scaled
from stream_guard.core.models import BASELINE_FEATURES, POPULATIONS, PopulationModels
from stream_guard.settings import Settings

S = Settings()
POP = "established-light"


def warmed(settings: Settings = S, n: int | None = None, seed: int = 1) -> PopulationModels:
    pm = PopulationModels(settings)
    rnd = random.Random(seed)
    for _ in range(settings.model_warmup if n is None else n):
        f = peer(rnd)
        assert pm.population(f) == POP
        pm.learn(POP, f, scaled(f))
    return pm


@pytest.fixture(scope="module")
def warm() -> PopulationModels:
    return warmed()


# --- populations ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("age_s", "day_requests", "expected"), [
    (0.0, 0.0, "new-light"),
    (S.new_account_age_s - 1, S.heavy_tier_requests - 1, "new-light"),
    (S.new_account_age_s - 1, S.heavy_tier_requests, "new-heavy"),
    (S.new_account_age_s, S.heavy_tier_requests - 1, "established-light"),
    (S.new_account_age_s, S.heavy_tier_requests, "established-heavy"),
])
def test_population_by_age_and_tier(age_s: float, day_requests: float, expected: str) -> None:
    f = dict(ORDINARY, account_age_days=age_s / 86400.0, day_requests=day_requests)
    assert PopulationModels(S).population(f) == expected


def test_populations_follow_the_settings() -> None:
    pm = PopulationModels(Settings(new_account_age_s=86400.0, heavy_tier_requests=10.0))
    assert pm.population(dict(ORDINARY, account_age_days=2.0, day_requests=12.0)) == "established-heavy"
    assert pm.population(dict(ORDINARY, account_age_days=0.5, day_requests=9.0)) == "new-light"


def test_learning_touches_only_its_population() -> None:
    pm = PopulationModels(S)
    f = peer(random.Random(0))
    pm.learn(POP, f, scaled(f))
    pm.learn(POP, f, scaled(f))
    assert pm.learned() == {p: (2 if p == POP else 0) for p in POPULATIONS}
    assert pm.describe()[POP] == {"learned": 2, "warm": S.model_warmup <= 2}


# --- warm-up ---------------------------------------------------------------------------------------

def test_no_verdict_before_warm_up() -> None:
    x = outlier()
    pm = warmed(n=S.model_warmup - 1)
    assert pm.evaluate(POP, x, scaled(x)) is None
    f = peer(random.Random(99))
    pm.learn(POP, f, scaled(f))
    assert pm.learned()[POP] == S.model_warmup
    assert pm.evaluate(POP, x, scaled(x)) is not None


def test_the_trees_cannot_report_before_their_first_window_whatever_the_warm_up() -> None:
    # HalfSpaceTrees score 0 until window_size samples were learned: model_warmup below that
    # makes no difference (the effective warm-up is max(model_warmup, window_size))
    s = Settings(model_warmup=5)
    pm = warmed(s, n=100)
    x = outlier()
    window = pm.models[POP].hst.window_size
    assert window > 100
    assert pm.models[POP].score(scaled(x)) == 0.0
    assert pm.evaluate(POP, x, scaled(x)) is None
    more = warmed(s, n=window)
    assert more.evaluate(POP, x, scaled(x)) is not None


def test_other_populations_stay_cold(warm: PopulationModels) -> None:
    x = outlier(age_days=1.0)
    assert warm.population(x) == "new-light"
    assert warm.evaluate("new-light", x, scaled(x)) is None


# --- verdicts ------------------------------------------------------------------------------------

def test_an_outlier_far_above_a_warm_population_is_reported(warm: PopulationModels) -> None:
    x = outlier()
    v = warm.evaluate(POP, x, scaled(x))
    assert v is not None
    assert v.detector == "population_model" and v.severity == "low"
    assert 0.0 < v.score <= 0.6
    first, *baselines = v.reasons
    assert first["signal"] == "population_anomaly"
    assert first["threshold"] == S.model_min_score and first["value"] >= S.model_min_score
    assert POP in first["detail"]
    assert len(baselines) >= 2
    model = warm.models[POP]
    for r in baselines:
        assert r["signal"] in BASELINE_FEATURES
        med, limit = model.threshold(r["signal"], S.baseline_mads)
        assert r["value"] == round(x[r["signal"]], 4) and x[r["signal"]] > limit
        assert r["threshold"] == round(limit, 4)
        assert f"median {med:.3g}" in r["detail"] and POP in r["detail"]
        assert f"{S.baseline_mads:g} scaled MADs" in r["detail"]


def test_the_median_in_a_reason_is_the_populations(warm: PopulationModels) -> None:
    x = outlier()
    reasons = {r["signal"]: r for r in warm.evaluate(POP, x, scaled(x)).reasons}
    # the peers send 10-40 requests a day: the median named is in that range
    med, _ = warm.models[POP].threshold("day_requests", S.baseline_mads)
    assert 10 <= med <= 40
    assert f"median {med:.3g}" in reasons["day_requests"]["detail"]


def test_an_ordinary_peer_is_not_reported(warm: PopulationModels) -> None:
    rnd = random.Random(1234)
    for _ in range(20):
        f = peer(rnd)
        assert warm.evaluate(POP, f, scaled(f)) is None


def test_one_feature_far_above_is_not_enough(warm: PopulationModels) -> None:
    f = dict(peer(random.Random(5)), cot_share_day=1.0)
    assert warm.evaluate(POP, f, scaled(f)) is None


def test_accounts_with_too_few_requests_are_not_judged(warm: PopulationModels) -> None:
    x = dict(outlier(), day_requests=S.model_min_requests - 0.5)
    assert warm.evaluate(POP, x, scaled(x)) is None
    lenient = PopulationModels(Settings(model_min_requests=0.0))
    lenient.models = warm.models
    assert lenient.evaluate(POP, x, scaled(x)) is not None


def test_a_stricter_model_min_score_silences_the_report(warm: PopulationModels) -> None:
    x = outlier()
    v = warm.evaluate(POP, x, scaled(x))
    strict = PopulationModels(Settings(model_min_score=1.01))
    strict.models = warm.models
    assert v is not None and strict.evaluate(POP, x, scaled(x)) is None


def test_baseline_spread_has_a_floor() -> None:
    pm = PopulationModels(S)
    f = dict(peer(random.Random(3)), cot_share_day=0.0)
    for _ in range(50):
        pm.learn(POP, f, scaled(f))  # everyone identical: MAD 0
    med, limit = pm.models[POP].threshold("cot_share_day", S.baseline_mads)
    assert med == 0.0
    assert limit == pytest.approx(S.baseline_mads * BASELINE_FEATURES["cot_share_day"])


# --- checkpoints ---------------------------------------------------------------------------------

def test_dumps_loads_round_trip_gives_the_same_scores() -> None:
    pm = warmed(n=S.model_warmup + 20, seed=7)
    blobs = pm.dumps()
    assert set(blobs) == set(POPULATIONS) and all(isinstance(b, bytes) for b in blobs.values())
    restored = PopulationModels(S)
    restored.loads(blobs)
    assert restored.learned() == pm.learned()
    rnd = random.Random(8)
    probes = [outlier()] + [peer(rnd) for _ in range(10)]
    for f in probes:
        assert restored.models[POP].score(scaled(f)) == pm.models[POP].score(scaled(f))
        assert restored.evaluate(POP, f, scaled(f)) == pm.evaluate(POP, f, scaled(f))
    # and both go on learning the same way
    for _ in range(30):
        f = peer(rnd)
        pm.learn(POP, f, scaled(f))
        restored.learn(POP, f, scaled(f))
    for f in probes:
        assert restored.models[POP].score(scaled(f)) == pm.models[POP].score(scaled(f))
        assert restored.models[POP].threshold("day_requests", 8.0) == pm.models[POP].threshold("day_requests", 8.0)


def test_loads_ignores_unknown_populations() -> None:
    pm = warmed(n=3)
    blobs = pm.dumps()
    blobs["martians"] = blobs[POP]
    fresh = PopulationModels(S)
    fresh.loads(blobs)
    assert set(fresh.models) == set(POPULATIONS) and fresh.learned()[POP] == 3
