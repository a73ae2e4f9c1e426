"""What every simulated account shares: identity, models, and event assembly.

An :class:`Account` is one billing account. Subclasses (benign kinds in
``population``, campaign kinds in ``campaigns``, the newer designs in modules of their
own) implement :meth:`Account.events`, a generator of ``(ts_ms, event)`` in increasing
time, many of them over the calibrated arrivals of :meth:`Account.arrivals`. The event
dict already has the contract's fields in a stable order; ``event_id`` and ``ts`` are
placeholders that the generator fills when it merges all accounts into one stream.

Per-event work is kept small: the constant fields of an account are prepared once,
tokens come from quantile tables, and status / latency follow simple closed forms.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from statistics import NormalDist
from typing import Any

from stream_guard.loadgen.arrivals import DiurnalRenewal, RateLimiter, renewal_shape
from stream_guard.loadgen.calibration import TABLE_SIZE, Calibration
from stream_guard.loadgen.ids import opaque_id, prompt_hash, short_hex
from stream_guard.loadgen.infra import Client, Country
from stream_guard.loadgen.prompts import PromptLibrary
from stream_guard.loadgen.timeutil import DAY_MS, format_iso

__all__ = [
    "Account",
    "Event",
    "Identity",
    "ModelCatalog",
    "RunContext",
    "age_ms",
    "lognormal",
    "make_identity",
    "std_normal",
]

Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ModelCatalog:
    """Model names, their speed, and the release of a new model (the pivot's target).

    ``release_ms`` is when ``new_model`` appears; benign accounts that adopt it move a
    share of their traffic to it from then on.
    """

    models: tuple[str, ...] = ("atlas-large", "atlas-medium", "atlas-small")
    weights: tuple[float, ...] = (0.35, 0.45, 0.20)
    ms_per_token: tuple[float, ...] = (28.0, 14.0, 6.0)
    new_model: str = "atlas-large-2"
    new_ms_per_token: float = 22.0
    release_ms: int | None = None

    def speed(self, model: str) -> float:
        """Milliseconds per output token for ``model``."""
        if model == self.new_model:
            return self.new_ms_per_token
        try:
            return self.ms_per_token[self.models.index(model)]
        except ValueError:
            return 20.0


@dataclass(slots=True)
class RunContext:
    """Everything shared by all accounts of one run."""

    seed: int
    start_ms: int
    end_ms: int
    calibration: Calibration
    prompts: PromptLibrary
    models: ModelCatalog = field(default_factory=ModelCatalog)
    privacy: float = 0.0
    error_rate: float = 0.002
    speeds: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        m = self.models
        self.speeds = {name: m.speed(name) for name in (*m.models, m.new_model)}


@dataclass(slots=True)
class Identity:
    """Who an account is on the wire: ids, network, client, payment, age."""

    account_id: str
    org_id: str
    api_key_id: str
    created_ms: int
    country: Country
    addrs: tuple[tuple[str, int], ...]
    client: Client
    payment_fp: str
    endpoint: str = "/v1/messages"


def make_identity(
    seed: int,
    tag: str,
    index: int,
    *,
    created_ms: int,
    country: Country,
    addrs: Sequence[tuple[str, int]],
    client: Client,
    payment_fp: str | None = None,
    org_id: str | None = None,
    endpoint: str = "/v1/messages",
) -> Identity:
    """An identity with opaque ids derived from ``(seed, tag, index)``."""
    return Identity(
        account_id=opaque_id("acct", seed, tag, index),
        org_id=org_id or opaque_id("org", seed, tag, index),
        api_key_id=opaque_id("key", seed, tag, index),
        created_ms=created_ms,
        country=country,
        addrs=tuple(addrs),
        client=client,
        payment_fp=payment_fp or f"pm_{short_hex(seed, 'pay', tag, index)}",
        endpoint=endpoint,
    )


def age_ms(rng: random.Random, lo_days: float, hi_days: float) -> int:
    """An account age drawn uniformly between ``lo_days`` and ``hi_days``, in ms.

    >>> 2 * DAY_MS <= age_ms(random.Random(1), 2, 3) <= 3 * DAY_MS
    True
    """
    return int((lo_days + rng.random() * (hi_days - lo_days)) * DAY_MS)


class Account:
    """Base of all simulated accounts (see the module docstring).

    Class attribute ``kind`` is the label written to the labels file, never into events;
    ``variant`` (the newer designs only) is the variant written next to it.
    """

    kind = "account"
    variant: str | None = None

    def __init__(self, ctx: RunContext, identity: Identity, rng: random.Random, *, rpm: int = 50) -> None:
        self.ctx = ctx
        self.identity = identity
        self.rng = rng
        self.account_id = identity.account_id
        self.private = rng.random() < ctx.privacy
        self.limiter = RateLimiter(rpm)
        self._addrs = identity.addrs
        self._base: Event = {
            "event_id": "",
            "ts": "",
            "account_id": identity.account_id,
            "model": "",
            "input_tokens": 0,
            "output_tokens": 0,
            "org_id": identity.org_id,
            "api_key_id": identity.api_key_id,
            "account_created_at": format_iso(identity.created_ms / 1000.0),
            "country": identity.country.code,
            "user_agent": identity.client.user_agent,
            "client_fingerprint": identity.client.fingerprint,
            "payment_fingerprint": identity.payment_fp,
            "endpoint": identity.endpoint,
            "ip": "",
            "asn": 0,
            "max_tokens": 0,
            "temperature": 0.0,
            "stream": False,
            "tools": 0,
            "status": 200,
            "latency_ms": 0,
            "turn_index": 0,
            "prompt_hash": "",
        }
        self._speeds = ctx.speeds
        models = ctx.models
        self._model_names = models.models
        self._model_cum = _cumulative(models.weights)
        self._release = models.release_ms if models.release_ms is not None else math.inf
        self._adopt = rng.random() * 0.6 if rng.random() < 0.5 else 0.0
        self._sys_hash: str | None = None

    # -- to implement ---------------------------------------------------------------
    def events(self) -> Iterator[tuple[int, Event]]:
        """``(ts_ms, event)`` in increasing time, within the run's span."""
        raise NotImplementedError

    # -- helpers for subclasses ------------------------------------------------------
    def arrivals(
        self,
        daily: float,
        *,
        active_day_prob: float | None = None,
        min_gap_s: float = 2.0,
        day_sigma: float | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> DiurnalRenewal:
        """This account's arrivals by the calibrated diurnal renewal process, ``daily``
        requests per active day in its local time, over the run's span unless
        ``[start_ms, end_ms)`` is given; the renewal family, and the active-day share and
        day-to-day spread when not given, are drawn from the calibration."""
        cal = self.ctx.calibration
        rng = self.rng
        gk, wk = renewal_shape(rng, cal.gamma_share, cal.gamma_shape, cal.weibull_shape)
        return DiurnalRenewal(
            rng,
            self.ctx.start_ms if start_ms is None else start_ms,
            self.ctx.end_ms if end_ms is None else end_ms,
            daily=daily,
            profile=cal.hourly_profile,
            utc_offset_h=self.identity.country.utc_offset_h,
            active_day_prob=cal.active_day_fraction.at(rng.random())
            if active_day_prob is None
            else active_day_prob,
            day_sigma=cal.day_log_sigma.at(rng.random()) if day_sigma is None else day_sigma,
            gamma_shape=gk,
            weibull_shape=wk,
            min_gap_s=min_gap_s,
        )

    def prefer_models(self, weights: Sequence[float]) -> None:
        """Set this account's model mix (one weight per catalogue model)."""
        self._model_cum = _cumulative(weights)

    def set_system_prompt(self, text: str | None) -> None:
        """A fixed system prompt for every request (``None``: none)."""
        self._sys_hash = prompt_hash(text) if text is not None else None

    def model_at(self, ts: int) -> str:
        """A model for a request at ``ts`` (the new model for adopters after release)."""
        r = self.rng.random()
        if ts >= self._release and r < self._adopt:
            return self.ctx.models.new_model
        cum = self._model_cum
        u = self.rng.random()
        for i, c in enumerate(cum):
            if u < c:
                return self._model_names[i]
        return self._model_names[-1]

    def event(
        self,
        ts: int,
        model: str,
        prompt: str,
        input_tokens: int,
        output_tokens: int,
        max_tokens: int,
        temperature: float,
        stream: bool,
        tools: int = 0,
        stop: str = "end_turn",
        conversation: str | None = None,
        turn: int = 0,
        system_hash: str | None = None,
        top_p: float | None = None,
    ) -> Event:
        """Assemble one request event (status, latency and stop reason derived here)."""
        r = self.rng.random
        ev = self._base.copy()
        if self.limiter.hit(ts):
            ev["status"] = 429
            output_tokens = input_tokens = 0
            ev["latency_ms"] = 5 + int(r() * 40)
        elif r() < self.ctx.error_rate:
            ev["status"] = 529 if r() < 0.7 else 500
            output_tokens = 0
            ev["latency_ms"] = 50 + int(r() * 400)
        else:
            if output_tokens >= max_tokens:
                output_tokens = max_tokens
                stop = "max_tokens"
            ev["stop_reason"] = stop
            ev["latency_ms"] = int(
                (250.0 + input_tokens * 0.02 + output_tokens * self._speeds.get(model, 20.0))
                * (0.7 + 0.6 * r())
            )
        ev["model"] = model
        ev["input_tokens"] = input_tokens
        ev["output_tokens"] = output_tokens
        addrs = self._addrs
        ip, asn = addrs[0] if len(addrs) == 1 or r() < 0.8 else addrs[int(r() * len(addrs))]
        ev["ip"] = ip
        ev["asn"] = asn
        ev["max_tokens"] = max_tokens
        ev["temperature"] = temperature
        ev["stream"] = stream
        ev["tools"] = tools
        ev["turn_index"] = turn
        ev["prompt_hash"] = sha256(prompt.encode()).hexdigest()
        if top_p is not None:
            ev["top_p"] = top_p
        if conversation is not None:
            ev["conversation_id"] = conversation
        if system_hash is not None:
            ev["system_prompt_hash"] = system_hash
        elif self._sys_hash is not None:
            ev["system_prompt_hash"] = self._sys_hash
        if not self.private:
            ev["prompt"] = prompt
        return ev

    def conversation_id(self) -> str:
        """A fresh conversation id."""
        return f"conv_{self.rng.getrandbits(64):016x}"


def _cumulative(weights: Sequence[float]) -> tuple[float, ...]:
    total = float(sum(weights)) or 1.0
    acc = 0.0
    out = []
    for w in weights:
        acc += w / total
        out.append(acc)
    return tuple(out)


_Z = tuple(NormalDist().inv_cdf((i + 0.5) / TABLE_SIZE) for i in range(TABLE_SIZE))


def std_normal(r: Callable[[], float]) -> float:
    """A standard normal draw by table lookup (|z| < 3.5), given ``random.random``."""
    return _Z[int(r() * TABLE_SIZE)]


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    """A lognormal draw by its median (table-based normal, cheap)."""
    return median * math.exp(sigma * _Z[int(rng.random() * TABLE_SIZE)])
