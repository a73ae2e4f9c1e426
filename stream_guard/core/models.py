"""Online models per population: a River HalfSpaceTrees and robust per-feature baselines.

Accounts are compared with their peers, not with everyone: new accounts with new
accounts, heavy with heavy. Each population (``new``/``established`` by account age x
``light``/``heavy`` by day-window volume) has

- one ``river.anomaly.HalfSpaceTrees`` over the scaled feature vector
  (:func:`~stream_guard.core.features.scaled`; fixed limits [0, 1], so no scaler state);
- robust baselines of a few key features: running median and median absolute deviation
  (River's P² ``stats.Quantile``), so that a reason can say "900 requests/hour where this
  population's median is 14".

A population's models may report only after ``model_warmup`` evaluations, and they learn
only from evaluations that raised nothing (no rule, no model report, no active alert), so
an extractor does not teach them that extraction is normal. To bound the cost, each
account contributes to learning every ``model_learn_every``-th evaluation interval (a
deterministic round robin over accounts), and the trees score an account only when at
least two baselines already put it far above its population. Models are checkpointed with
the account state (pickled, zlib-compressed) and restored on restart.

>>> from stream_guard.settings import Settings
>>> pm = PopulationModels(Settings(model_warmup=5))
>>> f = {"account_age_days": 30.0, "day_requests": 20.0}
>>> pm.population(f)
'established-light'
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Iterable
from typing import Any

from river import anomaly, stats

from stream_guard.core.features import MODEL_FEATURES
from stream_guard.core.rules import Verdict, reason
from stream_guard.core.vocabulary import POPULATION_MODEL
from stream_guard.settings import Settings

__all__ = ["BASELINE_FEATURES", "POPULATIONS", "PopulationModel", "PopulationModels"]

POPULATIONS: tuple[str, ...] = ("new-light", "new-heavy", "established-light", "established-heavy")

#: feature -> smallest spread used for it (a population where everyone sends 0 CoT prompts
#: must not make a single one look infinitely unusual)
BASELINE_FEATURES: dict[str, float] = {
    "long_requests": 5.0,
    "day_requests": 20.0,
    "long_output_tokens": 5000.0,
    "cot_share_day": 0.05,
    "benchmark_share_day": 0.05,
    "template_repeat_share_day": 0.05,
    "active_hours": 1.0,
    "categories_day": 0.5,
}
_MAD_TO_SIGMA = 1.4826


class PopulationModel:
    """HalfSpaceTrees and baselines of one population."""

    def __init__(self, seed: int) -> None:
        self.hst = anomaly.HalfSpaceTrees(
            n_trees=10, height=8, window_size=250, limits=dict.fromkeys(MODEL_FEATURES, (0.0, 1.0)), seed=seed
        )
        self.median = {f: stats.Quantile(0.5) for f in BASELINE_FEATURES}
        self.mad = {f: stats.Quantile(0.5) for f in BASELINE_FEATURES}
        self.learned = 0

    def score(self, x: dict[str, float]) -> float:
        """HalfSpaceTrees anomaly score of scaled features ``x`` (0 normal .. 1 anomalous)."""
        return float(self.hst.score_one(x))

    def threshold(self, feature: str, mads: float) -> tuple[float, float]:
        """(median, median + ``mads`` scaled MADs) of ``feature`` in this population."""
        med = self.median[feature].get() or 0.0
        spread = max(_MAD_TO_SIGMA * (self.mad[feature].get() or 0.0), BASELINE_FEATURES[feature])
        return med, med + mads * spread

    def learn(self, f: dict[str, float], x: dict[str, float]) -> None:
        """Learn one evaluation (raw features ``f``, scaled ``x``)."""
        self.hst.learn_one(x)
        for name in BASELINE_FEATURES:
            value = f[name]
            med = self.median[name].get()
            self.median[name].update(value)
            self.mad[name].update(abs(value - (med if med is not None else value)))
        self.learned += 1


class PopulationModels:
    """The models of every population, with warm-up and learning protection."""

    name = POPULATION_MODEL

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.models = {p: PopulationModel(seed=i + 1) for i, p in enumerate(POPULATIONS)}

    def population(self, f: dict[str, float]) -> str:
        """The population an account belongs to at this evaluation."""
        age = "new" if f["account_age_days"] * 86400.0 < self.s.new_account_age_s else "established"
        tier = "heavy" if f["day_requests"] >= self.s.heavy_tier_requests else "light"
        return f"{age}-{tier}"

    def evaluate(self, population: str, f: dict[str, float], x: dict[str, float]) -> Verdict | None:
        """A report when the account is far from its population (after warm-up)."""
        model = self.models[population]
        if model.learned < self.s.model_warmup or f["day_requests"] < self.s.model_min_requests:
            return None
        above = []
        for name in BASELINE_FEATURES:
            med, limit = model.threshold(name, self.s.baseline_mads)
            if f[name] > limit:
                above.append(reason(name, f[name], round(limit, 4),
                                    f"far above population {population} (median {med:.3g}, "
                                    f"threshold median + {self.s.baseline_mads:g} scaled MADs)"))
        if len(above) < 2:
            return None  # checked first: the baselines are cheap, the trees are not
        score = model.score(x)
        if score < self.s.model_min_score:
            return None
        reasons = [reason("population_anomaly", score, self.s.model_min_score,
                          f"HalfSpaceTrees anomaly score within population {population}")] + above
        return Verdict(self.name, round(min(0.6, 0.3 + 0.1 * len(above)) * score, 4), "low", reasons)

    def learn(self, population: str, f: dict[str, float], x: dict[str, float]) -> None:
        """Learn from a clean evaluation."""
        self.models[population].learn(f, x)

    def learned(self) -> dict[str, int]:
        """Evaluations learned per population."""
        return {p: m.learned for p, m in self.models.items()}

    # --- checkpoints ----------------------------------------------------------------------
    def dumps(self, populations: Iterable[str] | None = None) -> dict[str, bytes]:
        """Each population's models (or those of ``populations``) as compressed bytes (one
        checkpoint record each)."""
        chosen = self.models if populations is None else {p: self.models[p] for p in populations}
        return {p: zlib.compress(pickle.dumps(m, protocol=pickle.HIGHEST_PROTOCOL), 6) for p, m in chosen.items()}

    def loads(self, blobs: dict[str, bytes]) -> None:
        """Restore populations from :meth:`dumps` output (only checkpoints we wrote)."""
        for p, blob in blobs.items():
            if p in self.models:
                self.models[p] = pickle.loads(zlib.decompress(blob))

    def describe(self) -> dict[str, Any]:
        """Per-population learned counts (for logs and metrics)."""
        return {p: {"learned": m.learned, "warm": m.learned >= self.s.model_warmup} for p, m in self.models.items()}
