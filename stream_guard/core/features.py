"""The feature vector of one account at one evaluation boundary.

Computed once per account per evaluation interval (never per event) from the account's
windows, rings and timing. Every feature is documented in ``docs/detection.md``. Shares
are in [0, 1]; counts are as measured; missing evidence (no prompt text, too few gaps)
yields neutral values, and the rules check the matching ``*_basis`` counts before they
judge a share.

>>> from stream_guard.core.state import AccountState
>>> st = AccountState("a", (300.0, 3600.0, 86400.0))
>>> for i in range(40):
...     _ = st.add({"model": "m", "input_tokens": 50, "output_tokens": 1000, "turn_index": 0,
...             "prompt": f"Solve {i} + {i * 3}. Think step by step."}, 1000.0 + 60 * i)
>>> f = extract(st, 3420.0)
>>> f["day_requests"], f["cot_share_day"], f["template_repeat_share_day"], round(f["iat_cv_day"], 3)
(40.0, 1.0, 0.975, 0.0)
>>> f["active_hours"], f["out_in_ratio_long"]
(1.0, 20.0)
"""

from __future__ import annotations

import math
from array import array
from typing import TYPE_CHECKING

from stream_guard.core.window import COUNTERS, HORIZONS
from stream_guard.settings import DEFAULTS, Settings

if TYPE_CHECKING:  # state.py imports this module (staged features are packed)
    from stream_guard.core.state import AccountState

__all__ = [
    "DAY_SUMMARY", "FEATURES", "MODEL_FEATURES", "day_summary", "extract", "extract_python", "pack", "scaled", "unpack",
]


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


def _counter(name: str) -> int:
    """The index of counter ``name`` in :data:`~stream_guard.core.window.COUNTERS` (checked at
    import, also under ``python -O``: a renamed counter fails loudly, not silently)."""
    if name not in COUNTERS:
        raise ImportError(f"features.py reads counter {name!r}, which window.COUNTERS no longer has")
    return COUNTERS.index(name)


# indices into a horizon's block of Windows.view, by counter name
REQ, IN_TOK, OUT_TOK = _counter("requests"), _counter("input_tokens"), _counter("output_tokens")
COT, BENCH, MAXTOK = _counter("cot_requests"), _counter("benchmark_requests"), _counter("max_tokens_hits")
R429, FIRST, TOOLS = _counter("rate_limited"), _counter("first_turn_requests"), _counter("tool_requests")
PREP, TREP = _counter("prompt_repeats"), _counter("template_repeats")
TEXT, HASHED = _counter("text_requests"), _counter("hashed_requests")
GAPS, GSUM, GSQ = _counter("gaps"), _counter("gap_sum"), _counter("gap_sq_sum")
SKETCHED, NEAR = _counter("sketched_requests"), _counter("near_dup_requests")
_C = len(COUNTERS)
# where each horizon's block starts in Windows.view
_SHORT, _LONG, _DAY = (HORIZONS.index(h) * _C for h in ("short", "long", "day"))


def extract(st: AccountState, at: float, s: Settings = DEFAULTS) -> dict[str, float]:
    """All features of ``st`` as of event time ``at`` (its events before ``at``), under the
    tuning of ``s`` (``near_dup_min_basis``): :meth:`AccountState.features
    <stream_guard.core.state.AccountState.features>` (compiled when the extension was built)
    as a dict."""
    return unpack(st.features(at, s))


def extract_python(st: AccountState, at: float, s: Settings = DEFAULTS) -> dict[str, float]:
    """The pure-Python reference of :func:`extract`."""
    v, distinct, cats = st.windows.view(at)
    L, D = _LONG, _DAY
    long_req, day_req = v[L + REQ], v[D + REQ]
    long_text, day_text = v[L + TEXT], v[D + TEXT]
    with_prompt = day_text + v[D + HASHED]
    sketched = v[D + SKETCHED]
    gaps = v[D + GAPS]
    if gaps >= 2:
        mean = v[D + GSUM] / gaps
        var = max(v[D + GSQ] / gaps - mean * mean, 0.0)
        cv = math.sqrt(var) / mean if mean > 0 else 0.0
    else:
        cv = 1.0  # unknown: as irregular as a Poisson process
    hours = st.hours_as_of(at)
    observed = (at - st.first_seen) / 3600.0 if st.first_seen is not None else 0.0
    born = st.created_at if st.created_at is not None else st.first_seen
    r = st.recent
    return {
        "short_requests": v[_SHORT + REQ],
        "long_requests": long_req,
        "day_requests": day_req,
        "long_input_tokens": v[L + IN_TOK],
        "long_output_tokens": v[L + OUT_TOK],
        "day_output_tokens": v[D + OUT_TOK],
        "out_in_ratio_long": v[L + OUT_TOK] / max(v[L + IN_TOK], 1.0),
        "mean_output_tokens_long": v[L + OUT_TOK] / max(long_req, 1.0),
        "mean_output_tokens_day": v[D + OUT_TOK] / max(day_req, 1.0),
        "cot_share_long": _share(v[L + COT], long_text),
        "cot_share_day": _share(v[D + COT], day_text),
        "benchmark_share_long": _share(v[L + BENCH], long_text),
        "benchmark_share_day": _share(v[D + BENCH], day_text),
        "text_basis_long": long_text,
        "text_basis_day": day_text,
        "first_turn_share_long": _share(v[L + FIRST], long_req),
        "first_turn_share_day": _share(v[D + FIRST], day_req),
        "prompt_basis_day": with_prompt,
        "max_tokens_share_day": _share(v[D + MAXTOK], day_req),
        "rate_limited_share_day": _share(v[D + R429], day_req),
        "tool_share_day": _share(v[D + TOOLS], day_req),
        "repeat_share_day": _share(v[D + PREP], with_prompt),
        "template_repeat_share_day": _share(v[D + TREP], day_text - v[D + PREP]),
        "near_dup_share_day": _share(v[D + NEAR], sketched) if sketched >= s.near_dup_min_basis else 0.0,
        "near_dup_basis_day": sketched,
        "distinct_prompts_day": distinct,
        "distinct_ratio_day": _share(distinct, with_prompt),
        "categories_day": float(bin(cats).count("1")),
        "gap_basis_day": gaps,
        "iat_cv_day": cv,
        "burstiness_day": (cv - 1.0) / (cv + 1.0),
        "active_hours": float(bin(hours).count("1")),
        "observed_hours": observed,
        "longest_rest_hours": float(_longest_zero_run(hours)) if observed >= 24 else 24.0,
        "distinct_models": float(r.distinct("model")),
        "distinct_params": float(r.distinct("params")),
        "distinct_ips": float(r.distinct("ip")),
        "distinct_user_agents": float(r.distinct("user_agent")),
        "distinct_clients": float(r.distinct("client")),
        "account_age_days": max((at - born) / 86400.0, 0.0) if born is not None else 0.0,
        "age_known": 1.0 if st.created_at is not None else 0.0,
    }


#: The features :func:`day_summary` gives: what an account profile needs (its day volume,
#: extraction-likeness and age) and a mixture alert's evidence.
DAY_SUMMARY: tuple[str, ...] = (
    "day_requests", "mean_output_tokens_day", "cot_share_day", "benchmark_share_day", "text_basis_day",
    "first_turn_share_day", "max_tokens_share_day", "template_repeat_share_day", "distinct_prompts_day",
    "account_age_days", "age_known",
)


def day_summary(st: AccountState, at: float) -> dict[str, float]:
    """The :data:`DAY_SUMMARY` features of ``st`` as of ``at``: the same values as
    :func:`extract` gives for them, from the day window only (a profile closes for every
    account with traffic in a link interval; most need nothing more).

    >>> from stream_guard.core.state import AccountState
    >>> st = AccountState("a", (300.0, 3600.0, 86400.0))
    >>> _ = st.add({"model": "m", "input_tokens": 5, "output_tokens": 900, "prompt": "Think step by step."}, 10.0)
    >>> full = extract(st, 900.0)
    >>> day_summary(st, 900.0) == {k: full[k] for k in DAY_SUMMARY}
    True
    """
    packed = st.compiled_features(at)  # all of them, compiled: cheaper than these in Python
    if packed is not None:
        return {name: packed[i] for name, i in _DAY_SUMMARY_AT}
    v, distinct, _ = st.windows.day_view(at)
    day_req, day_text = v[REQ], v[TEXT]
    born = st.created_at if st.created_at is not None else st.first_seen
    return {
        "day_requests": day_req,
        "mean_output_tokens_day": v[OUT_TOK] / max(day_req, 1.0),
        "cot_share_day": _share(v[COT], day_text),
        "benchmark_share_day": _share(v[BENCH], day_text),
        "text_basis_day": day_text,
        "first_turn_share_day": _share(v[FIRST], day_req),
        "max_tokens_share_day": _share(v[MAXTOK], day_req),
        "template_repeat_share_day": _share(v[TREP], day_text - v[PREP]),
        "distinct_prompts_day": distinct,
        "account_age_days": max((at - born) / 86400.0, 0.0) if born is not None else 0.0,
        "age_known": 1.0 if st.created_at is not None else 0.0,
    }


#: Every feature :func:`extract` gives, in its order (the layout of :func:`pack`).
FEATURES: tuple[str, ...] = (
    "short_requests", "long_requests", "day_requests", "long_input_tokens", "long_output_tokens",
    "day_output_tokens", "out_in_ratio_long", "mean_output_tokens_long", "mean_output_tokens_day",
    "cot_share_long", "cot_share_day", "benchmark_share_long", "benchmark_share_day", "text_basis_long",
    "text_basis_day", "first_turn_share_long", "first_turn_share_day", "prompt_basis_day",
    "max_tokens_share_day", "rate_limited_share_day", "tool_share_day", "repeat_share_day",
    "template_repeat_share_day", "near_dup_share_day", "near_dup_basis_day", "distinct_prompts_day",
    "distinct_ratio_day", "categories_day", "gap_basis_day", "iat_cv_day", "burstiness_day", "active_hours",
    "observed_hours", "longest_rest_hours", "distinct_models", "distinct_params", "distinct_ips",
    "distinct_user_agents", "distinct_clients", "account_age_days", "age_known",
)
_DAY_SUMMARY_AT = tuple((name, FEATURES.index(name)) for name in DAY_SUMMARY)
#: Neutral values of features that older checkpoints' staged feature dicts lack.
_NEUTRAL = {"near_dup_share_day": 0.0, "near_dup_basis_day": 0.0}


def pack(features: dict[str, float]) -> array[float]:
    """The features as one ``array('d')`` in :data:`FEATURES` order: how staged evaluations
    are held (41 doubles, ~0.4 KB, against ~4 KB for the dict and its float objects).
    Exact: :func:`unpack` gives the same values back. A dict missing a feature of a later
    version (a restored checkpoint) gets its neutral value.

    >>> from stream_guard.core.state import AccountState
    >>> f = extract(AccountState("a", (300.0, 3600.0, 86400.0)), 100.0)
    >>> unpack(pack(f)) == f, len(pack(f))
    (True, 41)
    """
    if tuple(features) == FEATURES:
        return array("d", features.values())
    return array("d", [features[k] if k in features else _NEUTRAL.get(k, 0.0) for k in FEATURES])


def unpack(values: array[float]) -> dict[str, float]:
    """The inverse of :func:`pack`."""
    return dict(zip(FEATURES, values, strict=True))


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
_LOG = {"long_requests": 1e4, "day_requests": 1e5, "long_output_tokens": 1e7, "mean_output_tokens_long": 1e4}
_DIVISOR = {name: math.log1p(cap) for name, cap in _LOG.items()}


def scaled(f: dict[str, float]) -> dict[str, float]:
    """The model features mapped into [0, 1] with fixed transforms (no learned scaler).

    >>> s = scaled({k: 0.0 for k in MODEL_FEATURES})
    >>> min(s.values()), max(s.values())
    (0.0, 0.0)
    """
    log1p = math.log1p
    ratio = f["out_in_ratio_long"]
    cv = f["iat_cv_day"]
    x = {
        "long_requests": log1p(f["long_requests"]) / _DIVISOR["long_requests"],
        "day_requests": log1p(f["day_requests"]) / _DIVISOR["day_requests"],
        "long_output_tokens": log1p(f["long_output_tokens"]) / _DIVISOR["long_output_tokens"],
        "mean_output_tokens_long": log1p(f["mean_output_tokens_long"]) / _DIVISOR["mean_output_tokens_long"],
        "out_in_ratio_long": ratio / (1.0 + ratio),
        "cot_share_day": f["cot_share_day"],
        "benchmark_share_day": f["benchmark_share_day"],
        "first_turn_share_day": f["first_turn_share_day"],
        "template_repeat_share_day": f["template_repeat_share_day"],
        "distinct_ratio_day": f["distinct_ratio_day"],
        "max_tokens_share_day": f["max_tokens_share_day"],
        "iat_cv_day": cv / (1.0 + cv),
        "active_hours": f["active_hours"] / 24.0,
        "categories_day": f["categories_day"] / 8.0,
    }
    return {k: (0.0 if v < 0.0 else 1.0 if v > 1.0 else v) for k, v in x.items()}
