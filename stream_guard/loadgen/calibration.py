"""Calibration figures derived from real traces, as the generator uses them.

The figures live in ``calibration.json`` beside this module; ``scripts/derive_calibration.py``
regenerates that file from ``../shared/data`` (ServeGen per-client traffic, Azure 2023
inference traces, prompt sets). The package never reads the data itself.

A distribution is carried as evenly spaced quantiles and sampled by inverse transform
with linear interpolation between them, which is cheap and follows the empirical shape,
bumps included:

>>> cal = load_calibration()
>>> len(cal.hourly_profile), round(sum(cal.hourly_profile) / 24, 3)
(24, 1.0)
>>> cal.conv_output.at(0.0) <= cal.conv_output.at(0.5) <= cal.conv_output.at(0.999)
True
>>> Quantiles((0.0, 10.0, 20.0)).at(0.75)
15.0
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["TABLE_SIZE", "Calibration", "Quantiles", "load_calibration"]

TABLE_SIZE = 2048


_TABLE = TABLE_SIZE


@dataclass(frozen=True, slots=True)
class Quantiles:
    """An empirical distribution as ``n + 1`` evenly spaced quantiles (min ... max).

    ``at(u)`` interpolates exactly; ``table`` holds the distribution at ``2048`` evenly
    spaced probabilities for the hot path: ``table[int(random() * 2048)]``.
    """

    points: tuple[float, ...]
    table: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.table:
            object.__setattr__(self, "table", tuple(self.at((i + 0.5) / _TABLE) for i in range(_TABLE)))

    def at(self, u: float) -> float:
        """The value at probability ``u`` in [0, 1] (linear between quantiles)."""
        pts = self.points
        x = u * (len(pts) - 1)
        i = int(x)
        if i >= len(pts) - 1:
            return pts[-1]
        return pts[i] + (pts[i + 1] - pts[i]) * (x - i)

    def sample(self, r: Callable[[], float]) -> float:
        """One draw, given ``random.random`` (or any uniform [0, 1) source)."""
        return self.table[int(r() * _TABLE)]

    @property
    def median(self) -> float:
        """The 50 % quantile."""
        return self.at(0.5)

    def scaled(self, factor: float) -> Quantiles:
        """The same shape with every value multiplied by ``factor``."""
        return Quantiles(tuple(p * factor for p in self.points))

    def clipped(self, lo: float, hi: float) -> Quantiles:
        """The same quantiles with values clipped to [lo, hi] (tames degenerate fits)."""
        return Quantiles(tuple(min(hi, max(lo, p)) for p in self.points))


@dataclass(frozen=True, slots=True)
class Calibration:
    """Figures the benign population is drawn from (see ``calibration.json`` for sources).

    ``volume_ratio`` is ServeGen's requests per active day per client divided by its
    median: the heavy-tailed *shape* of per-account volume, which each account kind scales
    to its own median. Shapes (Gamma / Weibull) are clipped to ranges that stay sane at
    the low volumes of single users.
    """

    volume_ratio: Quantiles
    active_day_fraction: Quantiles
    day_log_sigma: Quantiles
    interarrival_cv: Quantiles
    gamma_share: float
    gamma_shape: Quantiles
    weibull_shape: Quantiles
    hourly_profile: tuple[float, ...]
    conv_input: Quantiles
    conv_output: Quantiles
    code_input: Quantiles
    code_output: Quantiles
    prompt_chars: dict[str, Quantiles]
    raw: dict[str, Any]


def _q(values: list[float]) -> Quantiles:
    return Quantiles(tuple(float(v) for v in values))


def _from_doc(doc: dict[str, Any]) -> Calibration:
    sg = doc["servegen"]
    az = doc["azure"]
    vol = _q(sg["requests_per_active_day_quantiles"])
    profile = [float(x) for x in sg["hourly_profile"]]
    mean = sum(profile) / len(profile)
    return Calibration(
        volume_ratio=vol.scaled(1.0 / vol.median),
        active_day_fraction=_q(sg["active_day_fraction_quantiles"]),
        day_log_sigma=_q(sg["daily_volume_log_sigma_quantiles"]).clipped(0.0, 1.5),
        interarrival_cv=_q(sg["interarrival_cv_quantiles"]),
        gamma_share=float(sg["family_share"].get("Gamma", 0.75)),
        gamma_shape=_q(sg["gamma_shape_quantiles"]).clipped(0.1, 5.0),
        weibull_shape=_q(sg["weibull_shape_quantiles"]).clipped(0.2, 1.5),
        hourly_profile=tuple(x / mean for x in profile),
        conv_input=_q(az["conv"]["input_tokens_quantiles"]),
        conv_output=_q(az["conv"]["output_tokens_quantiles"]),
        code_input=_q(az["code"]["input_tokens_quantiles"]),
        code_output=_q(az["code"]["output_tokens_quantiles"]),
        prompt_chars={k: _q(v["chars_quantiles"]) for k, v in doc["prompts"].items()},
        raw=doc,
    )


@cache
def _load_default() -> Calibration:
    text = resources.files("stream_guard.loadgen").joinpath("calibration.json").read_text("utf-8")
    return _from_doc(json.loads(text))


def load_calibration(path: str | Path | None = None) -> Calibration:
    """The shipped calibration, or the one in ``path`` (e.g. freshly derived)."""
    if path is None:
        return _load_default()
    return _from_doc(json.loads(Path(path).read_text("utf-8")))
