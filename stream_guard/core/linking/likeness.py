"""Extraction-likeness: one number in [0, 1] for how much an account's own traffic looks like
extraction, used to weigh the accounts that share an attribute value.

It is deliberately softer than the per-account rules (which must be sure on their own): a
cross-account link needs *many* accounts that each look somewhat like extraction. With
prompt text it blends the day's chain-of-thought share, benchmark-shape share, template
repeats, first-turn share and long outputs; without text (hash-only gateways) it uses what
is left: first turns, long outputs and outputs cut at ``max_tokens``. A one-off benchmark
evaluation scores high here; it is the *sharing* with other young, evenly loaded,
synchronized accounts that makes a link (see :mod:`~stream_guard.core.linking.index`).

>>> base = {"text_basis_day": 30.0, "cot_share_day": 1.0, "benchmark_share_day": 1.0,
...         "template_repeat_share_day": 1.0, "first_turn_share_day": 1.0,
...         "mean_output_tokens_day": 2000.0, "max_tokens_share_day": 0.0}
>>> extraction_likeness(base)
1.0
>>> extraction_likeness(dict(base, cot_share_day=0.0, benchmark_share_day=0.0,
...     template_repeat_share_day=0.0, first_turn_share_day=0.3, mean_output_tokens_day=250.0))
0.045
>>> extraction_likeness(dict(base, text_basis_day=0.0))   # hash-only: first turns, long outputs
0.85
"""

from __future__ import annotations

__all__ = ["extraction_likeness", "long_output_score"]

_MIN_TEXT = 3.0


def long_output_score(mean_output_tokens: float) -> float:
    """0 at 250 output tokens per request or fewer, 1 from 1,000 up (linear in between)."""
    return min(max((mean_output_tokens - 250.0) / 750.0, 0.0), 1.0)


def extraction_likeness(f: dict[str, float]) -> float:
    """Extraction-likeness in [0, 1] from an account's features (``core.features.extract``)."""
    long_out = long_output_score(f["mean_output_tokens_day"])
    if f["text_basis_day"] >= _MIN_TEXT:
        value = (
            0.3 * f["cot_share_day"]
            + 0.2 * f["benchmark_share_day"]
            + 0.15 * f["template_repeat_share_day"]
            + 0.15 * f["first_turn_share_day"]
            + 0.2 * long_out
        )
    else:
        value = 0.5 * f["first_turn_share_day"] + 0.35 * long_out + 0.15 * f["max_tokens_share_day"]
    return round(min(max(value, 0.0), 1.0), 4)
