"""Reseller mixing: an extraction-shaped minority hidden inside an account's benign traffic.

A reseller (a proxy, an aggregator, a platform selling API access on) sends the traffic of
many end customers through one account: diverse chat under many system prompts. When one
of those customers runs an extraction job, it is a small share of the account (<= 10 %):
the account's chain-of-thought and benchmark shares stay far below the per-account rules'
thresholds, and nothing fires. :class:`MixtureDetector` (``mixture_rule``) splits each
account's traffic into *sub-streams* by a key the caller derives per event (the hash of the
system prompt, else of the api key id, else of the client fingerprint; 0 when none) and
judges each small sub-stream on its own, *against the rest of the account*.

A sub-stream fires when, over the day horizon (``day_window_s``):

- it is a minority: at most ``mixture_max_share`` of the account's requests;
- it has at least ``mixture_min_requests`` requests *with prompt text* (shares are judged
  over text requests; requests without text count toward volume only);
- its shape score reaches ``mixture_min_score``. The score is a weighted sum of five
  components, each ramping linearly from 0 at half its threshold to 1 at the threshold:
  chain-of-thought share (0.3, ``rule_cot_share``), benchmark-shape share (0.2,
  ``rule_benchmark_share``), template-repeat share (0.15, ``pattern_template_share``;
  a prompt whose template is among the sub-stream's last 4), first-turn share (0.15,
  ``rule_first_turn_share``) and mean output tokens (0.2, ``rule_min_mean_output_tokens``).
  Without CoT or benchmark content the score stays at 0.5 or below, so content is needed;
- the rest of the account does not look like that (the *contrast*): the rest has at
  least ``mixture_min_requests`` text requests, a CoT share below ``rule_cot_share`` and a
  benchmark share below ``rule_benchmark_share``.

Severity is ``high`` from a score of 0.8 (``mixture_high_score``), else ``medium``. When
several sub-streams fire the highest score is reported. Reasons name the sub-stream by its key in hex only.

**Hash-only gateways.** A sub-stream with fewer than ``mixture_min_requests`` text requests
but as many known by their prompt hash is judged on what is left: its first-turn share
and mean output tokens (half each, ramps as above; the score must reach
``mixture_min_score``), against a rest of the account with as many hashed requests whose
mean output is below ``rule_min_mean_output_tokens`` and at most half the sub-stream's.
Such a verdict is ``medium`` at most (no content was read). For the slots, a hashed event
with an output of at least twice ``rule_min_mean_output_tokens`` weighs like a CoT or
benchmark-shaped one. A single-turn product that answers at length (reports, long
summaries) under one key of a reseller whose other customers answer briefly looks the same
by hash.

Memory: an account with one stream key keeps a tiny record (key, last event time, day
request counts). From the second key on it keeps counters for at most 8 sub-streams
(two day generations of 7 counters and a ring of the last 4 template fingerprints each)
plus one ``other`` bucket. The first 8 keys take the slots; later keys are counted in
``other`` (never judged, but part of the *rest*) unless their event is CoT- or
benchmark-shaped: then the slot with the fewest such events is handed over (Space-Saving,
weights halved every day), its counters merged into ``other``. Benign sub-streams rarely
send such events, so an extraction stream keeps its slot however many customers the
account has. No prompt text is stored: only flags and 64-bit template fingerprints. Each
account also has an entry in a time-ordered expiry queue, so :meth:`MixtureDetector.expire`
(called on every tick) looks at idle accounts only, not at all of them.

Benign traffic that can trip it: one customer of a reseller that really runs a
single-turn, step-by-step tutoring or grading product with long answers (indistinguishable
by shape from a CoT distiller), or that runs a CoT evaluation of its own. Not tripped by:
a single-system-prompt integrator (nothing to contrast), customers that all chat, an
evaluation account whose majority is itself CoT/benchmark-shaped (the contrast), a
conversational minority (multi-turn, short outputs). Sub-streams with a share above
``mixture_max_share`` are left to the per-account rules.

>>> from stream_guard.settings import Settings
>>> from stream_guard.core.signals import PromptSignals
>>> d = MixtureDetector(Settings())
>>> for i in range(400):   # customers chatting under 20 system prompts
...     chat = PromptSignals(cot=False, benchmark=False, categories=0, template=i)
...     d.observe("acct", float(i), 1 + i % 20, chat, first_turn=i % 2 == 0, output_tokens=200)
>>> sweep = PromptSignals(cot=True, benchmark=True, categories=1, template=7)
>>> for i in range(30):    # one customer's templated CoT sweep (7 % of the account)
...     d.observe("acct", 400.0 + i, 0xBEEF, sweep, first_turn=True, output_tokens=900)
>>> v = d.evaluate("acct", 500.0)
>>> v.detector, v.score, v.severity, v.reasons[0]["signal"], round(v.reasons[0]["value"], 3)
('mixture_rule', 1.0, 'high', 'substream_share', 0.07)
>>> d.evaluate("acct", 500.0 + 2 * 86400.0) is None   # out of the day horizon
True
>>> len(d), d.expire(500.0 + 3 * 86400.0), len(d)
(1, 1, 0)
"""

from __future__ import annotations

import heapq
from typing import Any

from stream_guard.core.rules import Verdict, reason
from stream_guard.core.signals import PromptSignals
from stream_guard.core.vocabulary import MIXTURE_RULE
from stream_guard.settings import Settings

__all__ = ["MAX_STREAMS", "TEMPLATE_RING", "MixtureDetector"]

#: Sub-streams with counters of their own per account (the rest share the ``other`` bucket).
MAX_STREAMS = 8
#: Template fingerprints remembered per sub-stream (a repeat is a template among these).
TEMPLATE_RING = 4

# Counters per bucket and generation, in this order; [0:_N] current day, [_N:2*_N] previous.
# The last three count the requests known by their prompt hash only (a hash-only gateway).
_REQ, _TEXT, _COT, _BENCH, _FIRST, _OUT, _TMPL, _HASH, _HFIRST, _HOUT = range(10)
_N = 10
_N_V1 = 7  # counters per generation in checkpoints written before the hash-only counters
_EMPTY = -1  # free ring slot (fingerprints are unsigned)


class _Single:
    """An account seen with one stream key only: no per-stream counters needed yet."""

    __slots__ = ("cur", "due", "gen", "last", "prev", "stream")

    def __init__(self, stream: int, ts: float, gen: int) -> None:
        self.stream = stream
        self.last = ts
        self.due = ts  # key of the account's entry in MixtureDetector._expiry (<= last)
        self.gen = gen  # current day generation
        self.cur = 1.0  # requests in the current day generation
        self.prev = 0.0  # ... and in the previous one


class _Sub:
    """One sub-stream's counters, template ring and slot weight."""

    __slots__ = ("c", "pos", "ring", "stream", "weight")

    def __init__(self, stream: int, weight: float) -> None:
        self.stream = stream
        self.c = [0.0] * (2 * _N)
        self.ring = [_EMPTY] * TEMPLATE_RING
        self.pos = 0
        self.weight = weight  # CoT/benchmark-shaped events (Space-Saving count, halved daily)


class _Mixed:
    """An account with two or more stream keys."""

    __slots__ = ("due", "gen", "last", "other", "subs")

    def __init__(self, last: float, gen: int) -> None:
        self.last = last
        self.due = last  # as _Single.due
        self.gen = gen
        self.subs: dict[int, _Sub] = {}
        self.other = [0.0] * (2 * _N)  # streams without a slot (and evicted slots' counts)


def _ramp(value: float, threshold: float) -> float:
    """0 up to half the threshold, 1 from the threshold, linear in between."""
    if threshold <= 0:
        return 1.0
    return min(max(2.0 * value / threshold - 1.0, 0.0), 1.0)


def _hex(stream: int) -> str:
    return f"{stream & 0xFFFFFFFFFFFFFFFF:016x}"


def _count(c: list[float], off: int, sig: PromptSignals | None, first_turn: bool, output_tokens: int,
           hashed: bool) -> None:
    """Count one event into the counters ``c`` of the generation at ``off``."""
    c[off] += 1.0
    if sig is None:
        if hashed:
            c[off + _HASH] += 1.0
            if first_turn:
                c[off + _HFIRST] += 1.0
            c[off + _HOUT] += output_tokens
        return
    c[off + _TEXT] += 1.0
    if sig.cot:
        c[off + _COT] += 1.0
    if sig.benchmark:
        c[off + _BENCH] += 1.0
    if first_turn:
        c[off + _FIRST] += 1.0
    c[off + _OUT] += output_tokens


class MixtureDetector:
    """Per-account sub-streams, judged as minorities against the rest (see the module docstring)."""

    name = MIXTURE_RULE

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self._day = settings.day_window_s
        self._accounts: dict[str, _Single | _Mixed] = {}
        # (due, account), a heap: every tracked account has an entry whose key equals its
        # record's ``due`` and is at most its ``last`` (which only grows), so the accounts
        # idle at a cutoff are all behind entries below it (see expire).
        self._expiry: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._accounts)

    # --- per event ---------------------------------------------------------------------------
    def observe(
        self, account: str, ts: float, stream: int, sig: PromptSignals | None, *, first_turn: bool, output_tokens: int,
        hashed: bool = False,
    ) -> None:
        """Count one request of ``account`` at event time ``ts`` in sub-stream ``stream``.

        O(1): ``sig`` is ``None`` when the event has no prompt text: then it counts toward
        volume, and, when it has a prompt hash (``hashed``), toward the hash-only shape.
        Events older than the previous day generation are dropped.
        """
        st = self._accounts.get(account)
        g = int(ts // self._day)
        if st is None:
            self._accounts[account] = _Single(stream, ts, g)
            heapq.heappush(self._expiry, (ts, account))
            return
        if ts > st.last:  # a compare, not max(): this runs per event
            st.last = ts
        if type(st) is _Single:
            single = st
            if stream == single.stream:
                if g == single.gen:
                    single.cur += 1.0
                elif g > single.gen:
                    single.prev = single.cur if g == single.gen + 1 else 0.0
                    single.cur = 1.0
                    single.gen = g
                elif g == single.gen - 1:
                    single.prev += 1.0
                return
            mixed = self._split(account, single)
        else:
            assert type(st) is _Mixed
            mixed = st
        off = 0
        if g != mixed.gen:
            if g > mixed.gen:
                self._roll(mixed, g)
            elif g == mixed.gen - 1:
                off = _N  # late, but still inside the previous generation
            else:
                return
        shaped = (sig.cot or sig.benchmark) if sig is not None else (
            hashed and output_tokens >= 2.0 * self.s.rule_min_mean_output_tokens)
        sub = mixed.subs.get(stream)
        if sub is None:
            sub = self._admit(mixed, stream, shaped)
            if sub is None:
                _count(mixed.other, off, sig, first_turn, output_tokens, hashed)
                return
        c = sub.c
        _count(c, off, sig, first_turn, output_tokens, hashed)
        if shaped:
            sub.weight += 1.0
        if sig is None:
            return
        ring = sub.ring
        template = sig.template
        if template in ring:
            c[off + _TMPL] += 1.0
        else:
            ring[sub.pos] = template
            sub.pos = (sub.pos + 1) % TEMPLATE_RING

    def _split(self, account: str, single: _Single) -> _Mixed:
        """A second stream key: the account gets sub-stream counters (the first key's
        earlier requests count toward its volume; its shape is known from now on)."""
        mixed = _Mixed(single.last, single.gen)
        mixed.due = single.due  # takes over the single's expiry entry
        first = _Sub(single.stream, 0.0)
        first.c[_REQ] = single.cur
        first.c[_N + _REQ] = single.prev
        mixed.subs[single.stream] = first
        self._accounts[account] = mixed
        return mixed

    def _admit(self, mixed: _Mixed, stream: int, shaped: bool) -> _Sub | None:
        """A slot for a new stream key, or ``None`` (counted in ``other``); ``shaped``: the
        event is CoT- or benchmark-shaped (or, known by hash only, has a long output)."""
        subs = mixed.subs
        if len(subs) < MAX_STREAMS:
            sub = subs[stream] = _Sub(stream, 0.0)
            return sub
        if not shaped:
            return None
        victim = min(subs.values(), key=lambda s: s.weight)
        other = mixed.other
        for i, value in enumerate(victim.c):
            other[i] += value
        del subs[victim.stream]
        sub = subs[stream] = _Sub(stream, victim.weight)  # Space-Saving: inherit the minimum
        return sub

    def _roll(self, mixed: _Mixed, gen: int) -> None:
        """Move every bucket to day generation ``gen``; free slots with nothing left."""
        step = gen == mixed.gen + 1
        zeros = [0.0] * _N
        for c in [mixed.other, *(sub.c for sub in mixed.subs.values())]:
            c[_N:] = c[:_N] if step else zeros
            c[:_N] = zeros
        for key in [k for k, sub in mixed.subs.items() if not any(sub.c)]:
            del mixed.subs[key]
        for sub in mixed.subs.values():
            sub.weight *= 0.5
        mixed.gen = gen

    # --- checkpoints -------------------------------------------------------------------------
    def export(self, account: str) -> list[Any] | None:
        """A JSON-able picture of ``account``'s sub-streams (``None``: not tracked), for the
        account's checkpoint record; :meth:`load` is the inverse."""
        st = self._accounts.get(account)
        if st is None:
            return None
        if type(st) is _Single:
            return ["s", st.stream, st.last, st.gen, st.cur, st.prev]
        assert type(st) is _Mixed  # the only other kind
        subs = [[sub.stream, sub.c, sub.ring, sub.pos, sub.weight] for sub in st.subs.values()]
        return ["m", st.last, st.gen, st.other, subs]

    def load(self, account: str, data: list[Any] | None) -> None:
        """Restore ``account``'s sub-streams from :meth:`export` output."""
        if data is None:
            self._accounts.pop(account, None)
            return
        if data[0] == "s":
            single = _Single(int(data[1]), float(data[2]), int(data[3]))
            single.cur, single.prev = float(data[4]), float(data[5])
            self._accounts[account] = single
            self._queue(account, single)
            return
        mixed = _Mixed(float(data[1]), int(data[2]))
        mixed.other = _counters(data[3])
        for stream, c, ring, pos, weight in data[4]:
            sub = _Sub(int(stream), float(weight))
            sub.c, sub.ring, sub.pos = _counters(c), [int(v) for v in ring], int(pos)
            mixed.subs[sub.stream] = sub
        self._accounts[account] = mixed
        self._queue(account, mixed)

    def _queue(self, account: str, st: _Single | _Mixed) -> None:
        """Give a restored record its expiry entry (one that is never idle has none)."""
        if st.last == st.last:  # not NaN: NaN is never below a cutoff
            st.due = st.last
            heapq.heappush(self._expiry, (st.last, account))

    # --- judgement ---------------------------------------------------------------------------
    def _weights(self, mixed: _Mixed, at: float) -> tuple[float, float] | None:
        """(weight of the current, of the previous generation) as of ``at``; None if both are out."""
        day = self._day
        g = int(at // day)
        if g <= mixed.gen:
            return 1.0, min(max(1.0 - (at - mixed.gen * day) / day, 0.0), 1.0)
        if g == mixed.gen + 1:  # read as if rolled forward: the current generation is the previous
            return min(max(1.0 - (at - g * day) / day, 0.0), 1.0), 0.0
        return None

    def evaluate(self, account: str, at: float) -> Verdict | None:
        """A :class:`Verdict` if one of the account's sub-streams fires as of event time ``at``."""
        st = self._accounts.get(account)
        if not isinstance(st, _Mixed):
            return None  # unknown, or one stream key only: nothing to contrast
        weights = self._weights(st, at)
        if weights is None:
            return None
        a, b = weights
        views = {key: [a * sub.c[i] + b * sub.c[_N + i] for i in range(_N)] for key, sub in st.subs.items()}
        total = [a * st.other[i] + b * st.other[_N + i] for i in range(_N)]
        for v in views.values():
            total = [t + x for t, x in zip(total, v, strict=True)]
        s = self.s
        least = max(s.mixture_min_requests, 1.0)
        best: tuple[float, int, list[float], list[float]] | None = None
        hashed: tuple[float, int, list[float], list[float]] | None = None
        for key, v in views.items():
            if v[_REQ] < least or v[_REQ] > s.mixture_max_share * total[_REQ]:
                continue
            if v[_TEXT] < least:
                if v[_HASH] >= least:
                    rest = [t - x for t, x in zip(total, v, strict=True)]
                    found = _hash_only(v, rest, s, least)
                    if found is not None and (hashed is None or found > hashed[0]):
                        hashed = (found, key, v, rest)
                continue
            score = _shape_score(v, s)
            if score < s.mixture_min_score:
                continue
            rest = [t - x for t, x in zip(total, v, strict=True)]
            if rest[_TEXT] < least:
                continue  # too little text in the rest to show a contrast
            if rest[_COT] / rest[_TEXT] >= s.rule_cot_share or rest[_BENCH] / rest[_TEXT] >= s.rule_benchmark_share:
                continue  # the majority looks like it too (an evaluation shop): no contrast
            if best is None or score > best[0]:
                best = (score, key, v, rest)
        if best is None:
            if hashed is None:
                return None
            score, key, v, rest = hashed  # the shape by hash alone: never more than medium
            return Verdict(self.name, round(score, 4), "medium", _hash_reasons(s, key, v, rest, total[_REQ]))
        score, key, v, rest = best
        return Verdict(self.name, round(score, 4), "high" if score >= s.mixture_high_score else "medium",
                       _reasons(s, key, v, rest, total[_REQ]))

    # --- housekeeping ------------------------------------------------------------------------
    def expire(self, watermark: float) -> int:
        """Drop accounts idle for more than ``account_ttl_s`` at ``watermark``; returns how many.

        Exactly the accounts whose last event is before ``watermark - account_ttl_s``, at
        any watermark and in any order of calls; the cost is amortised: only entries below
        the cutoff are looked at, and an active account is re-queued at most once per
        such look (a call with nothing to drop costs one comparison).
        """
        cutoff = watermark - self.s.account_ttl_s
        queue = self._expiry
        accounts = self._accounts
        dropped = 0
        while queue and queue[0][0] < cutoff:
            due, account = heapq.heappop(queue)
            st = accounts.get(account)
            if st is None or st.due != due:
                continue  # the record was dropped or replaced (load) since: not its entry
            if st.last < cutoff:
                del accounts[account]
                dropped += 1
            else:  # active since it was queued: queue it again at its last event
                st.due = st.last
                heapq.heappush(queue, (st.last, account))
        return dropped


def _counters(values: list[Any]) -> list[float]:
    """A bucket's counters from a checkpoint, those written before the hash-only counters
    (two generations of 7) given zeros for them."""
    c = [float(x) for x in values]
    if len(c) == 2 * _N_V1:
        pad = [0.0] * (_N - _N_V1)
        return c[:_N_V1] + pad + c[_N_V1:] + pad
    if len(c) != 2 * _N:
        raise ValueError(f"mixture counters: {len(c)} values, expected {2 * _N} (or {2 * _N_V1})")
    return c


def _hash_only(v: list[float], rest: list[float], s: Settings, least: float) -> float | None:
    """The extraction-shape score of a sub-stream known by prompt hashes only (single-turn,
    long outputs: half each), if it reaches ``mixture_min_score`` and the rest of the account
    contrasts (enough hashed requests, mean output below ``rule_min_mean_output_tokens`` and
    at most half the sub-stream's); else ``None``."""
    n = v[_HASH]
    mean_out = v[_HOUT] / n
    score = 0.5 * _ramp(v[_HFIRST] / n, s.rule_first_turn_share) + 0.5 * _ramp(mean_out, s.rule_min_mean_output_tokens)
    if score < s.mixture_min_score or rest[_HASH] < least:
        return None
    rest_out = rest[_HOUT] / rest[_HASH]
    if rest_out >= s.rule_min_mean_output_tokens or rest_out > 0.5 * mean_out:
        return None  # the majority answers at length too: no contrast
    return score


def _hash_reasons(s: Settings, key: int, v: list[float], rest: list[float], total: float) -> list[dict[str, Any]]:
    n, name = v[_HASH], f"sub-stream {_hex(key)}"
    return [
        reason("substream_share", v[_REQ] / total, s.mixture_max_share,
               f"{name} sent {v[_REQ]:.0f} of the account's {total:.0f} requests in the last "
               f"{s.day_window_s:.0f} s: a minority (at most this share), judged on its own"),
        reason("substream_hashed_requests", n, s.mixture_min_requests,
               f"requests of {name} known by prompt hash only (no text: content cannot be read)"),
        reason("substream_first_turn_share", v[_HFIRST] / n, s.rule_first_turn_share,
               f"share of {name}'s requests that open a conversation: no multi-turn use"),
        reason("substream_mean_output_tokens", v[_HOUT] / n, s.rule_min_mean_output_tokens,
               f"mean output tokens per request of {name}: full answers"),
        reason("rest_mean_output_tokens", rest[_HOUT] / rest[_HASH], f"< {s.rule_min_mean_output_tokens:g} and "
               "<= half the sub-stream's", "mean output tokens of the rest of the account: the majority answers "
               "briefly, the sub-stream at length (judged by hashes: at most medium)"),
    ]


def _shape_score(v: list[float], s: Settings) -> float:
    """Extraction-shape score in [0, 1] of one sub-stream's day counters (``v[_TEXT] > 0``)."""
    text = v[_TEXT]
    return (
        0.3 * _ramp(v[_COT] / text, s.rule_cot_share)
        + 0.2 * _ramp(v[_BENCH] / text, s.rule_benchmark_share)
        + 0.15 * _ramp(v[_TMPL] / text, s.pattern_template_share)
        + 0.15 * _ramp(v[_FIRST] / text, s.rule_first_turn_share)
        + 0.2 * _ramp(v[_OUT] / text, s.rule_min_mean_output_tokens)
    )


def _reasons(s: Settings, key: int, v: list[float], rest: list[float], total: float) -> list[dict[str, Any]]:
    text, rest_text = v[_TEXT], rest[_TEXT]
    name = f"sub-stream {_hex(key)}"
    return [
        reason("substream_share", v[_REQ] / total, s.mixture_max_share,
               f"{name} sent {v[_REQ]:.0f} of the account's {total:.0f} requests in the last "
               f"{s.day_window_s:.0f} s: a minority (at most this share), judged on its own"),
        reason("substream_requests", v[_REQ], s.mixture_min_requests,
               f"requests of {name} in the day window ({text:.0f} with prompt text)"),
        reason("substream_cot_share", v[_COT] / text, s.rule_cot_share,
               f"share of {name}'s prompts asking for step-by-step reasoning or rubric grading"),
        reason("substream_benchmark_share", v[_BENCH] / text, s.rule_benchmark_share,
               f"share of {name}'s prompts shaped like benchmark items (word problems, code tasks, multiple choice)"),
        reason("substream_template_repeat_share", v[_TMPL] / text, s.pattern_template_share,
               f"share of {name}'s prompts filling a template among its last {TEMPLATE_RING}"),
        reason("substream_first_turn_share", v[_FIRST] / text, s.rule_first_turn_share,
               f"share of {name}'s requests that open a conversation: no multi-turn use"),
        reason("substream_mean_output_tokens", v[_OUT] / text, s.rule_min_mean_output_tokens,
               f"mean output tokens per request of {name}: full reasoning, not just answers"),
        reason("rest_cot_share", rest[_COT] / rest_text, s.rule_cot_share,
               f"share of the rest of the account's prompts ({rest_text:.0f} with text) asking for step-by-step "
               "reasoning: below this, the majority does not look like the sub-stream"),
        reason("rest_benchmark_share", rest[_BENCH] / rest_text, s.rule_benchmark_share,
               "share of the rest of the account's prompts shaped like benchmark items: below this, "
               "the majority does not look like the sub-stream"),
    ]
