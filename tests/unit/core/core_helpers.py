"""Hand-made feature vectors for the model and scoring tests (not a test module)."""

from __future__ import annotations

import random

from stream_guard.core.features import extract
from stream_guard.core.state import AccountState
from stream_guard.settings import Settings

T0 = 20513 * 86400.0  # 2026-03-01T00:00:00Z
HOUR = 3600.0


def ordinary_features() -> dict[str, float]:
    """``extract()`` of a small ordinary account: every key a detector may read."""
    st = AccountState("acct", Settings().horizons)
    for i, word in enumerate(("kettle", "garden", "violin", "harbor", "meadow")):
        st.add({"model": "m", "input_tokens": 120, "output_tokens": 250, "prompt": f"tell me about the {word}"},
               T0 + HOUR + 60 * i)
    return extract(st, T0 + HOUR + 600)


ORDINARY = ordinary_features()


def peer(rnd: random.Random, age_days: float = 120.0) -> dict[str, float]:
    """A light, established, ordinary account: no rule fires on it."""
    return dict(
        ORDINARY,
        day_requests=rnd.uniform(10, 40), long_requests=rnd.uniform(1, 8), long_output_tokens=rnd.uniform(500, 6000),
        mean_output_tokens_long=rnd.uniform(100, 500), out_in_ratio_long=rnd.uniform(0.5, 3),
        cot_share_day=rnd.uniform(0, 0.1), benchmark_share_day=rnd.uniform(0, 0.2),
        first_turn_share_day=rnd.uniform(0.2, 0.8), template_repeat_share_day=rnd.uniform(0, 0.3),
        distinct_ratio_day=rnd.uniform(0.5, 1), max_tokens_share_day=rnd.uniform(0, 0.1),
        iat_cv_day=rnd.uniform(0.8, 2.5), active_hours=float(rnd.randint(2, 9)),
        categories_day=float(rnd.randint(1, 3)), account_age_days=age_days,
    )


def outlier(age_days: float = 120.0) -> dict[str, float]:
    """Far above light established peers on every baseline, but without prompt text for the
    rules to judge (so only the population model can report it)."""
    return dict(
        ORDINARY,
        day_requests=450.0, long_requests=300.0, long_output_tokens=400_000.0, mean_output_tokens_long=1300.0,
        out_in_ratio_long=20.0, cot_share_day=1.0, benchmark_share_day=1.0, first_turn_share_day=1.0,
        template_repeat_share_day=1.0, distinct_ratio_day=1.0, max_tokens_share_day=1.0, iat_cv_day=0.05,
        active_hours=24.0, categories_day=8.0, account_age_days=age_days,
    )
