"""Per-attribute-value state: which accounts share a value, and whether that sharing is suspicious.

An :class:`AttributeIndex` holds, for every linking attribute value it owns (in the worker,
the values of one partition of the re-keyed topic), the accounts that used it within the
last ``link_ttl_s`` of event time and each one's latest summary from its
:class:`~stream_guard.core.linking.profile.AccountProfile`. Per value and evaluation it
measures:

- **accounts**: distinct accounts (exact up to ``link_member_cap``; beyond that members are
  kept by hash sampling, ``accounts = kept * 2**level``, so state per value is bounded);
- **extraction-likeness**: the members' mean (:mod:`~stream_guard.core.linking.likeness`);
- **youth**: share of members younger than ``young_account_days``;
- **evenness**: ``1 - CV`` of the members' day requests (load-balanced accounts carry
  unnaturally equal volumes; people do not);
- **synchrony**: mean Jaccard similarity of each member's 24-hour activity mask with the
  majority mask (accounts driven by one scheduler are active in the same hours).

``suspicion = kind weight x (0.35 likeness + 0.25 youth + 0.2 evenness + 0.2 synchrony)``
(``link_evidence_weights``, damped below a likeness of ``link_likeness_gate``);
a value shared by at least ``link_min_accounts`` accounts with suspicion at or above
``link_min_score`` *links* its members (a :class:`LinkVerdict`). Kind weights encode how
rare and hard to share a kind is: a payment instrument or a custom client fingerprint
weighs far more than an ASN or a popular SDK's user agent, whose weights keep them from
linking on their own whatever their members look like. A corporate NAT (one IP, card and
proxy fingerprint for many old, uneven, ordinary accounts) scores low on every member term.

Values of kind ``model`` never link; they track model releases instead: a model first seen
``pivot_new_model_after_s`` (an hour) after the stream started is *new*, and accounts that
move most of their volume to it within ``pivot_window_s`` are reported as
:class:`PivotVerdict` movers.

>>> from stream_guard.settings import Settings
>>> from stream_guard.core.linking.profile import AccountProfile, is_young
>>> idx = AttributeIndex(Settings())
>>> for i in range(6):   # six young, extraction-like accounts, same load, same hours, one card
...     idx.observe(AccountProfile(f"a{i}", 900.0, 3, [("payment", "pm_x", 3)], 26.0, 0.9, 2.0, 0b111))
>>> [(v.kind, v.value, v.accounts, v.linked) for v in idx.evaluate(900.0)[0]]
[('payment', 'pm_x', 6, True)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import xxhash

from stream_guard.core.linking.profile import AccountProfile, is_young
from stream_guard.settings import Settings

__all__ = [
    "AttributeIndex", "LinkVerdict", "MemberRow", "Mover", "PivotVerdict", "fits", "group_evidence",
    "likeness_gate", "majority_mask", "suspicion", "synchrony",
]


@dataclass(slots=True)
class _Member:
    day_requests: float
    likeness: float
    age_days: float
    hours: int
    last_at: float
    first_at: float
    value_requests: float = 0.0  # requests on this value
    seen_requests: float = 0.0  # the account's requests in the intervals it used this value
    first_day_requests: float = 0.0


@dataclass(slots=True)
class _Value:
    first_seen: float
    members: dict[str, _Member] = field(default_factory=dict)
    level: int = 0  # hash-sampling level once members exceed the cap
    linked: bool = False
    judged_at: float = float("-inf")


class MemberRow(NamedTuple):
    """One member of an attribute value as a link verdict carries it (a tuple: the links
    topic and checkpoints hold it as a JSON array in this order)."""

    account: str
    day_requests: float
    likeness: float  # the account's extraction-likeness (0..1)
    age_days: float
    hours: int  # 24-hour activity mask


class Mover(NamedTuple):
    """An account that moved to a new model fast (a tuple: a JSON array on the wire)."""

    account: str
    share: float  # share of its requests sent to the new model once it started using it
    delay_s: float  # from the model's first appearance to the account's first use of it
    requests: float  # its requests on the new model
    likeness: float
    speedup: float  # day requests now / day requests at its first use


@dataclass(slots=True)
class LinkVerdict:
    """The judgement of one shared attribute value at one evaluation."""

    kind: str
    value: str
    at: float
    accounts: int
    score: float
    linked: bool
    stats: dict[str, float]
    members: list[MemberRow]  # the linked members (when linked)

    def to_wire(self) -> dict[str, Any]:
        """JSON-able form (for the links topic)."""
        return {"t": "link", "kind": self.kind, "value": self.value, "at": self.at, "accounts": self.accounts,
                "score": self.score, "linked": self.linked, "stats": self.stats,
                "members": [list(r) for r in self.members]}  # orjson writes no NamedTuple


@dataclass(slots=True)
class PivotVerdict:
    """Accounts that moved to a newly released model fast (evidence, not an alert by itself)."""

    model: str
    released_at: float
    at: float
    movers: list[Mover]

    def to_wire(self) -> dict[str, Any]:
        """JSON-able form (for the links topic)."""
        return {"t": "pivot", "model": self.model, "released_at": self.released_at, "at": self.at,
                "movers": [list(m) for m in self.movers]}  # orjson writes no NamedTuple


def verdict_from_wire(data: dict[str, Any]) -> LinkVerdict | PivotVerdict:
    """The inverse of ``to_wire`` of either verdict."""
    if data["t"] == "pivot":
        return PivotVerdict(data["model"], data["released_at"], data["at"], [Mover._make(m) for m in data["movers"]])
    return LinkVerdict(data["kind"], data["value"], data["at"], data["accounts"], data["score"],
                       data["linked"], data["stats"], [MemberRow._make(r) for r in data["members"]])


def majority_mask(masks: list[int], bits: int = 24) -> int:
    """Hours in which at least half of the masks are active.

    Counts all bit positions at once with a bit-sliced counter (``slices[i]`` holds bit
    ``i`` of every position's count): about two big-int operations per mask.

    >>> bin(majority_mask([0b011, 0b010, 0b110]))
    '0b10'
    """
    slices: list[int] = []
    for m in masks:
        carry, i = m, 0
        while carry:
            if i == len(slices):
                slices.append(0)
            low = slices[i]
            slices[i] = low ^ carry
            carry &= low
            i += 1
    out = 0
    n = len(masks)
    for b in range(bits):
        count = 0
        for i, sl in enumerate(slices):
            count |= (sl >> b & 1) << i
        if 2 * count >= n:
            out |= 1 << b
    return out


def _jaccard(a: int, b: int) -> float:
    union = (a | b).bit_count()
    return (a & b).bit_count() / union if union else 0.0


def synchrony(masks: list[int], major: int | None = None) -> float:
    """Mean Jaccard similarity of each activity mask with the majority mask, in [0, 1].

    >>> synchrony([0b1111, 0b1111, 0b1111]), synchrony([0b0001, 0b0010, 0b0100, 0b1000])
    (1.0, 0.0)
    """
    masks = [m for m in masks if m]
    if len(masks) < 2:
        return 0.0
    if major is None:
        major = majority_mask(masks)
    return sum(_jaccard(m, major) for m in masks) / len(masks)


def evenness(volumes: list[float]) -> float:
    """``1 - CV`` of the volumes, clipped to [0, 1] (1 = all equal).

    >>> evenness([26.0, 26.0, 26.0]), evenness([1.0, 2.0, 50.0, 3.0])
    (1.0, 0.0)
    """
    if len(volumes) < 2:
        return 0.0
    mean = sum(volumes) / len(volumes)
    if mean <= 0:
        return 0.0
    var = sum((v - mean) ** 2 for v in volumes) / len(volumes)
    return min(max(1.0 - math.sqrt(var) / mean, 0.0), 1.0)


def group_evidence(rows: list[MemberRow], s: Settings, major: int | None = None) -> dict[str, float]:
    """Evidence of a group of accounts from their member rows.

    ``likeness`` is the request-weighted mean shrunk toward ``s.link_likeness_prior``
    (weighing ``s.link_prior_requests``); ``young_share`` counts members younger than
    ``s.young_account_days``; ``evenness`` and ``synchrony`` are scaled by how much volume
    and how many active hours the members have (``s.link_evenness_basis_requests``,
    ``s.link_synchrony_basis_hours``).

    >>> from stream_guard.settings import DEFAULTS
    >>> ev = group_evidence([MemberRow("a", 26.0, 0.9, 1.0, 0xFFFFFF), MemberRow("b", 26.0, 0.9, 2.0, 0xFFFFFF)],
    ...                     DEFAULTS)
    >>> ev["likeness"], ev["young_share"], ev["evenness"], ev["synchrony"]
    (0.7952, 1.0, 1.0, 1.0)
    >>> group_evidence([MemberRow("a", 1.0, 0.9, 1.0, 1), MemberRow("b", 1.0, 0.9, 1.0, 1)], DEFAULTS)["evenness"]
    0.1
    """
    n = len(rows)
    volume = sum(r.day_requests for r in rows)
    prior = s.link_prior_requests
    likeness = ((sum(r.day_requests * r.likeness for r in rows) + s.link_likeness_prior * prior)
                / (volume + prior))
    young_days = s.young_account_days
    young = sum(1 for r in rows if is_young(r.age_days, young_days)) / n
    step = max(1, n // s.link_stats_sample)  # synchrony is a mean: a sample of the masks will do
    masks = [r.hours for r in rows[::step]]
    even = evenness([r.day_requests for r in rows]) * min(volume / n / s.link_evenness_basis_requests, 1.0)
    hours = sum(m.bit_count() for m in masks) / max(len(masks), 1)
    sync = synchrony(masks, major) * min(hours / s.link_synchrony_basis_hours, 1.0)
    return {"likeness": round(likeness, 4), "young_share": round(young, 4), "evenness": round(even, 4),
            "synchrony": round(sync, 4), "day_requests": round(volume, 1)}


def suspicion(ev: dict[str, float], s: Settings) -> float:
    """Member evidence of a group in [0, 1] (before the attribute kind's weight): the
    evidence weighted by ``s.link_evidence_weights``, scaled down in proportion below a
    likeness of ``s.link_likeness_gate`` (young, even, synchronized accounts that do not look
    like extraction, such as a new team on one company card, do not link on structure alone).

    >>> from stream_guard.settings import DEFAULTS
    >>> suspicion({"likeness": 0.8, "young_share": 1.0, "evenness": 1.0, "synchrony": 1.0}, DEFAULTS)
    0.93
    >>> suspicion({"likeness": 0.1, "young_share": 1.0, "evenness": 1.0, "synchrony": 1.0}, DEFAULTS)  # damped
    0.1713
    """
    w_likeness, w_young, w_even, w_sync = s.link_evidence
    raw = (w_likeness * ev["likeness"] + w_young * ev["young_share"] + w_even * ev["evenness"]
           + w_sync * ev["synchrony"])
    return round(raw * likeness_gate(ev["likeness"], s), 4)


def likeness_gate(likeness: float, s: Settings) -> float:
    """The damping of a group's score by its likeness: 1 from ``s.link_likeness_gate`` up,
    falling in proportion below it.

    >>> from stream_guard.settings import DEFAULTS
    >>> likeness_gate(0.8, DEFAULTS), likeness_gate(0.1, DEFAULTS)
    (1.0, 0.25)
    """
    return min(likeness / s.link_likeness_gate, 1.0)


def shrunk_likeness(day_requests: float, likeness: float, s: Settings) -> float:
    """An account's likeness shrunk toward ``s.link_likeness_prior`` with a third of
    ``s.link_prior_requests`` as its weight (a few requests show little).

    >>> from stream_guard.settings import DEFAULTS
    >>> shrunk_likeness(1.0, 0.9, DEFAULTS), shrunk_likeness(100.0, 0.9, DEFAULTS)
    (0.4, 0.879)
    """
    k = s.link_prior_requests / 3.0
    return round((day_requests * likeness + s.link_likeness_prior * k) / (day_requests + k), 4)


def fits(row: MemberRow, median_requests: float, major: int, s: Settings) -> bool:
    """Whether a member of a linked value is linked (see :func:`fitting_members`)."""
    return bool(fitting_members([row], median_requests, major, s))


def fitting_members(
    rows: list[MemberRow], median_requests: float, major: int, s: Settings, min_likeness: float | None = None,
) -> list[MemberRow]:
    """The members of a linked value that are linked: own (shrunk) likeness at least
    ``min_likeness`` (default ``s.link_member_min_likeness``), volume at most about
    ``s.link_member_max_volume_ratio`` times the group's median (:func:`volume_term`) and
    :func:`member_fit` at least ``s.link_member_min_fit``.

    >>> from stream_guard.settings import DEFAULTS
    >>> rows = [MemberRow("a", 26.0, 0.9, 2.0, 0xFFFFFF), MemberRow("e", 400.0, 0.7, 300.0, 0b111),
    ...         MemberRow("c", 1.0, 0.58, 6.0, 1)]
    >>> [r.account for r in fitting_members(rows, 26.0, 0xFFFFFF, DEFAULTS)]
    ['a']
    """
    floor = s.link_member_min_likeness if min_likeness is None else min_likeness
    # volume_term(r, m) >= t  <=>  (r + 1) / (m + 1) <= ratio (up to volume_term's rounding)
    min_volume_term = 1.0 - math.log(s.link_member_max_volume_ratio) / math.log(4.0)
    young_days, min_fit = s.young_account_days, s.link_member_min_fit
    # members of one value share a handful of (requests, likeness) pairs and hour masks: each
    # pure function runs once per distinct input (the same values as calling it per row)
    shrunk: dict[tuple[float, float], float] = {}
    volume: dict[float, float] = {}
    out = []
    for row in rows:
        key = (row.day_requests, row.likeness)
        own = shrunk.get(key)
        if own is None:
            own = shrunk[key] = shrunk_likeness(row.day_requests, row.likeness, s)
        if own < floor:
            continue
        vt = volume.get(row.day_requests)
        if vt is None:
            vt = volume[row.day_requests] = volume_term(row.day_requests, median_requests)
        if vt >= min_volume_term and member_fit(row, median_requests, major, young_days, vt) >= min_fit:
            out.append(row)
    return out


def volume_term(requests: float, median_requests: float) -> float:
    """1 at or below the group's median volume, falling to 0 at 4x above it (load-balanced
    peers carry the same volume; replacements ramp up from below).

    >>> volume_term(1.0, 26.0), volume_term(53.0, 26.0), volume_term(400.0, 26.0)
    (1.0, 0.5, 0.0)
    """
    return round(1.0 - min(max(math.log((requests + 1.0) / (median_requests + 1.0)), 0.0) / math.log(4.0), 1.0), 4)


def member_fit(
    row: MemberRow, median_requests: float, major: int, young_days: float, volume: float | None = None
) -> float:
    """How well one member fits its group's suspicious picture, in [0, 1]: the mean of its own
    likeness, youth, :func:`volume_term` and active hours like the group's majority. Members
    below ``link_member_min_fit`` (0.5) are not linked (a benign account that happens to share
    an address or a popular CoT phrase with a campaign).

    >>> member_fit(MemberRow("a", 26.0, 0.9, 2.0, 0xFFFFFF), 26.0, 0xFFFFFF, 14.0)
    0.975
    >>> member_fit(MemberRow("e", 400.0, 0.7, 300.0, 0b111), 26.0, 0xFFFFFF, 14.0)   # an old eval run
    0.2062
    >>> member_fit(MemberRow("n", 1.0, 0.9, 0.1, 0b1), 26.0, 0xFFFFFF, 14.0)   # a replacement, first request
    0.7354
    """
    young = 1.0 if is_young(row.age_days, young_days) else 0.0
    if volume is None:  # (fitting_members passes the volume_term it computed already)
        volume = volume_term(row.day_requests, median_requests)
    fit = (row.likeness + young + volume + _jaccard(row.hours, major)) / 4.0
    return round(fit, 4)


def _finite(x: float) -> float | None:
    """JSON has no infinities: ``None`` stands for "never"."""
    return x if math.isfinite(x) else None


def _infinite(x: float | None) -> float:
    return float("-inf") if x is None else float(x)


class AttributeIndex:
    """Attribute values -> member accounts, judged per evaluation (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.weights = settings.link_weights
        self.values: dict[tuple[str, str], _Value] = {}
        self.dirty: set[tuple[str, str]] = set()
        self.started_at: float | None = None
        self._pending: list[AccountProfile] = []
        self.model_first_seen: dict[str, float] = {}  # never expires: models are few
        self.dropped = 0  # members dropped by hash sampling
        # a kind weighing less than link_min_score can never link: it is not indexed
        self.indexed = {k for k, w in self.weights.items() if w >= settings.link_min_score} | {"model"}

    def __len__(self) -> int:
        return len(self.values)

    def holding(self) -> bool:
        """Whether any attribute value is held (an empty index judges nothing)."""
        return bool(self.values)

    def members(self) -> int:
        """Members held over all values (the state size)."""
        return sum(len(v.members) for v in self.values.values())

    # --- checkpoints ------------------------------------------------------------------------
    def export(self) -> dict[str, Any]:
        """The whole index as JSON-able data (the inverse of :meth:`load`)."""
        return {
            "values": [
                [kind, value, vs.first_seen, vs.level, vs.linked, _finite(vs.judged_at),
                 [[a, m.day_requests, m.likeness, m.age_days, m.hours, m.last_at, m.first_at,
                   m.value_requests, m.seen_requests, m.first_day_requests] for a, m in vs.members.items()]]
                for (kind, value), vs in self.values.items()
            ],
            "dirty": sorted(self.dirty),
            "started_at": self.started_at,
            "pending": [p.to_wire() for p in self._pending],
            "model_first_seen": self.model_first_seen,
            "dropped": self.dropped,
        }

    def load(self, data: dict[str, Any]) -> None:
        """Replace this index's state by exported data."""
        self.values = {}
        for kind, value, first_seen, level, linked, judged_at, members in data["values"]:
            vs = self.values[(kind, value)] = _Value(first_seen, level=level, linked=linked,
                                                     judged_at=_infinite(judged_at))
            for a, *fields in members:
                vs.members[a] = _Member(*fields)
        self.dirty = {(k, v) for k, v in data["dirty"]}
        self.started_at = data["started_at"]
        self._pending = [AccountProfile.from_wire(p) for p in data["pending"]]
        self.model_first_seen = dict(data["model_first_seen"])
        self.dropped = int(data["dropped"])

    def observe(self, profile: AccountProfile) -> None:
        """Take one account profile; it is routed to its values by the first :meth:`evaluate`
        at or after its interval's end (profiles of later intervals may arrive early)."""
        self._pending.append(profile)

    def next_pending(self) -> float | None:
        """The earliest interval end among profiles not yet routed (``None``: none)."""
        return min((p.at for p in self._pending), default=None)

    def _route(self, profile: AccountProfile) -> None:
        if self.started_at is None or profile.at < self.started_at:
            self.started_at = profile.at
        account = profile.account
        h = xxhash.xxh3_64_intdigest(account.encode())
        for kind, value, n in profile.values:
            if kind not in self.indexed:
                continue
            key = (kind, value)
            vs = self.values.get(key)
            if vs is None:
                first = profile.at
                if kind == "model":
                    first = self.model_first_seen.setdefault(value, profile.at)
                vs = self.values[key] = _Value(first)
            self.dirty.add(key)
            if vs.level and h & ((1 << vs.level) - 1):
                continue
            m = vs.members.get(account)
            if m is None:
                m = vs.members[account] = _Member(
                    profile.day_requests, profile.likeness, profile.age_days, profile.hours, profile.at,
                    profile.at, first_day_requests=profile.day_requests,
                )
                if len(vs.members) > self.s.link_member_cap:
                    self._thin(vs)
            elif profile.at <= m.last_at:
                continue  # this interval of the account is in already: a profile sent again
            else:
                m.day_requests, m.likeness, m.age_days = profile.day_requests, profile.likeness, profile.age_days
                m.hours, m.last_at = profile.hours, max(m.last_at, profile.at)
            m.value_requests += n
            m.seen_requests += profile.requests

    def _thin(self, vs: _Value) -> None:
        vs.level += 1
        mask = (1 << vs.level) - 1
        keep = {a: m for a, m in vs.members.items() if not xxhash.xxh3_64_intdigest(a.encode()) & mask}
        self.dropped += len(vs.members) - len(keep)
        vs.members = keep

    def evaluate(self, at: float) -> tuple[list[LinkVerdict], list[PivotVerdict]]:
        """Judge every value touched since the last call, as of event time ``at``.

        Returns the link verdicts (linked values, and values that just stopped linking) in
        (kind, value) order, and pivot verdicts for new models.
        """
        ready = sorted((p for p in self._pending if p.at <= at), key=lambda p: (p.at, p.account))
        if ready:
            self._pending = [p for p in self._pending if p.at > at]
            for p in ready:
                self._route(p)
        links: list[LinkVerdict] = []
        pivots: list[PivotVerdict] = []
        horizon = at - self.s.link_ttl_s
        dirty, self.dirty = self.dirty, set()
        for key in sorted(dirty):
            vs = self.values.get(key)
            if vs is None:
                continue
            if (len(vs.members) > self.s.link_big_value_members and at - vs.judged_at < self.s.link_big_value_every_s
                    and key[0] != "model"):
                self.dirty.add(key)  # a big value changes slowly: judged at most every link_big_value_every_s
                continue
            vs.judged_at = at
            stale = [a for a, m in vs.members.items() if m.last_at < horizon]
            for a in stale:
                del vs.members[a]
            if not vs.members:
                del self.values[key]
                continue
            kind, value = key
            if kind == "model":
                pivot = self._pivot(value, vs, at)
                if pivot is not None:
                    pivots.append(pivot)
                continue
            verdict = self._judge(kind, value, vs, at)
            if verdict is not None:
                links.append(verdict)
        return links, pivots

    def expire(self, at: float) -> int:
        """Drop values with no member active within ``link_ttl_s`` of ``at``; returns how many."""
        horizon = at - self.s.link_ttl_s
        stale = [k for k, vs in self.values.items() if all(m.last_at < horizon for m in vs.members.values())]
        for k in stale:
            del self.values[k]
        return len(stale)

    def _judge(self, kind: str, value: str, vs: _Value, at: float) -> LinkVerdict | None:
        s = self.s
        members = vs.members
        accounts = len(members) << vs.level
        if accounts < s.link_min_accounts:
            if vs.linked:
                vs.linked = False
                return LinkVerdict(kind, value, at, accounts, 0.0, False, {}, [])
            return None
        row = MemberRow._make  # tuple.__new__: no per-row keyword handling
        rows = [row((a, m.day_requests, m.likeness, m.age_days, m.hours)) for a, m in sorted(members.items())]
        sample = rows[:: max(1, len(rows) // s.link_stats_sample)]
        major = majority_mask([r.hours for r in sample if r.hours])
        ev = group_evidence(sample, s, major)
        score = round(self.weights.get(kind, 0.0) * suspicion(ev, s), 4)
        linked = score >= s.link_min_score
        if not linked and not vs.linked:
            return None
        vs.linked = linked
        ev["day_requests"] = round(ev["day_requests"] * (accounts / len(sample)), 1)
        ev["sampled"] = float(vs.level > 0)
        fitting: list[MemberRow] = []
        if linked:
            volumes = sorted(r.day_requests for r in sample)
            median = volumes[len(volumes) // 2]
            wide = accounts > s.link_specific_value_accounts  # sharing it says little about one account
            floor = s.link_member_min_likeness_wide if wide else s.link_member_min_likeness
            fitting = fitting_members(rows, median, major, s, floor)
            ev["unfit_members"] = float(len(rows) - len(fitting))
        return LinkVerdict(kind, value, at, accounts, score, linked, ev, fitting)

    def _pivot(self, model: str, vs: _Value, at: float) -> PivotVerdict | None:
        if self.started_at is None or vs.first_seen - self.started_at < self.s.pivot_new_model_after_s:
            return None  # present from the start: not a release we saw happen
        if at - vs.first_seen > self.s.pivot_window_s + self.s.link_ttl_s:
            return None
        movers: list[Mover] = []
        for account, m in sorted(vs.members.items()):
            delay = m.first_at - vs.first_seen
            share = m.value_requests / m.seen_requests if m.seen_requests else 0.0
            if delay > self.s.pivot_window_s or m.value_requests < self.s.pivot_min_requests:
                continue
            if share < self.s.pivot_min_share:
                continue
            speedup = m.day_requests / m.first_day_requests if m.first_day_requests > 0 else 1.0
            movers.append(Mover(account, round(share, 4), delay, m.value_requests, m.likeness, round(speedup, 3)))
        if not movers:
            return None
        return PivotVerdict(model, vs.first_seen, at, movers)
