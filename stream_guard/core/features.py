"""The feature vector of one account at one evaluation boundary.

Computed once per account per evaluation interval (never per event) from the account's
windows, rings and timing. Every feature is documented in ``docs/detection.md``. Shares
are in [0, 1]; counts are as measured; missing evidence (no prompt text, too few gaps)
yields neutral values, and the rules check the matching ``*_basis`` counts before they
judge a share.

>>> from stream_guard.core.state import AccountState
>>> st = AccountState("a", (300.0, 3600.0, 86400.0))
>>> for i in range(40):
...     st.add({"model": "m", "input_tokens": 50, "output_tokens": 1000, "turn_index": 0,
...             "prompt": f"Solve {i} + {i * 3}. Think step by step."}, 1000.0 + 60 * i)
>>> f = extract(st, 3420.0)
>>> f["day_requests"], f["cot_share_day"], f["template_repeat_share_day"], round(f["iat_cv_day"], 3)
(40.0, 1.0, 0.975, 0.0)
>>> f["active_hours"], f["out_in_ratio_long"]
(1.0, 20.0)
"""

from __future__ import annotations

import math

from stream_guard.core.state import AccountState

__all__ = ["MODEL_FEATURES", "extract", "scaled"]


def _share(num: float, den: float) -> float:
    return min(max(num / den, 0.0), 1.0) if den > 0 else 0.0


def _longest_zero_run(mask: int, bits: int = 24) -> int:
    longest = run = 0
    for i in range(bits):
        if mask >> i & 1:
            run = 0
        else:
            run += 1
            longest = max(longest, run)
    return longest


def extract(st: AccountState, at: float) -> dict[str, float]:
    """All features of ``st`` as of event time ``at`` (its events before ``at``)."""
    w = st.windows.snapshot(at)
    f: dict[str, float] = {}
    for h in ("short", "long", "day"):
        f[f"{h}_requests"] = w[f"{h}_requests"]
    f["long_input_tokens"] = w["long_input_tokens"]
    f["long_output_tokens"] = w["long_output_tokens"]
    f["day_output_tokens"] = w["day_output_tokens"]
    f["out_in_ratio_long"] = w["long_output_tokens"] / max(w["long_input_tokens"], 1.0)
    f["mean_output_tokens_long"] = w["long_output_tokens"] / max(w["long_requests"], 1.0)
    for h in ("long", "day"):
        req = w[f"{h}_requests"]
        text = w[f"{h}_text_requests"]
        f[f"cot_share_{h}"] = _share(w[f"{h}_cot_requests"], text)
        f[f"benchmark_share_{h}"] = _share(w[f"{h}_benchmark_requests"], text)
        f[f"text_basis_{h}"] = text
        f[f"first_turn_share_{h}"] = _share(w[f"{h}_first_turn_requests"], req)
    day_req = w["day_requests"]
    with_prompt = w["day_text_requests"] + w["day_hashed_requests"]
    f["prompt_basis_day"] = with_prompt
    f["max_tokens_share_day"] = _share(w["day_max_tokens_hits"], day_req)
    f["rate_limited_share_day"] = _share(w["day_rate_limited"], day_req)
    f["tool_share_day"] = _share(w["day_tool_requests"], day_req)
    f["repeat_share_day"] = _share(w["day_prompt_repeats"], with_prompt)
    fresh_text = w["day_text_requests"] - w["day_prompt_repeats"]
    f["template_repeat_share_day"] = _share(w["day_template_repeats"], fresh_text)
    f["distinct_prompts_day"] = w["day_distinct_prompts"]
    f["distinct_ratio_day"] = _share(w["day_distinct_prompts"], with_prompt)
    f["categories_day"] = w["day_categories"]
    # timing
    gaps = w["day_gaps"]
    f["gap_basis_day"] = gaps
    if gaps >= 2:
        mean = w["day_gap_sum"] / gaps
        var = max(w["day_gap_sq_sum"] / gaps - mean * mean, 0.0)
        cv = math.sqrt(var) / mean if mean > 0 else 0.0
    else:
        cv = 1.0  # unknown: as irregular as a Poisson process
    f["iat_cv_day"] = cv
    f["burstiness_day"] = (cv - 1.0) / (cv + 1.0)
    hours = st.hours_as_of(at)
    f["active_hours"] = float(bin(hours).count("1"))
    f["observed_hours"] = (at - st.first_seen) / 3600.0 if st.first_seen is not None else 0.0
    f["longest_rest_hours"] = float(_longest_zero_run(hours)) if f["observed_hours"] >= 24 else 24.0
    # spread (saturating at the ring sizes)
    r = st.recent
    f["distinct_models"] = float(r.distinct("model"))
    f["distinct_params"] = float(r.distinct("params"))
    f["distinct_ips"] = float(r.distinct("ip"))
    f["distinct_user_agents"] = float(r.distinct("user_agent"))
    f["distinct_clients"] = float(r.distinct("client"))
    # age
    born = st.created_at if st.created_at is not None else st.first_seen
    f["account_age_days"] = max((at - born) / 86400.0, 0.0) if born is not None else 0.0
    f["age_known"] = 1.0 if st.created_at is not None else 0.0
    return f


#: The features the population models see, each mapped into [0, 1] by :func:`scaled`.
MODEL_FEATURES: tuple[str, ...] = (
    "long_requests",
    "day_requests",
    "long_output_tokens",
    "mean_output_tokens_long",
    "out_in_ratio_long",
    "cot_share_day",
    "benchmark_share_day",
    "first_turn_share_day",
    "template_repeat_share_day",
    "distinct_ratio_day",
    "max_tokens_share_day",
    "iat_cv_day",
    "active_hours",
    "categories_day",
)
_LOG_CAPS = {"long_requests": 1e4, "day_requests": 1e5, "long_output_tokens": 1e7, "mean_output_tokens_long": 1e4}


def scaled(f: dict[str, float]) -> dict[str, float]:
    """The model features mapped into [0, 1] with fixed transforms (no learned scaler).

    >>> s = scaled({k: 0.0 for k in MODEL_FEATURES})
    >>> min(s.values()), max(s.values())
    (0.0, 0.0)
    """
    out: dict[str, float] = {}
    for name in MODEL_FEATURES:
        x = f[name]
        if name in _LOG_CAPS:
            v = math.log1p(max(x, 0.0)) / math.log1p(_LOG_CAPS[name])
        elif name in ("out_in_ratio_long", "iat_cv_day"):
            v = x / (1.0 + x)
        elif name == "active_hours":
            v = x / 24.0
        elif name == "categories_day":
            v = x / 8.0
        else:
            v = x
        out[name] = min(max(v, 0.0), 1.0)
    return out
