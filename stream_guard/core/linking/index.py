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

import base64
import math
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, overload

import xxhash

from stream_guard.core.linking.changes import Tracked, Untracked
from stream_guard.core.linking.profile import AccountProfile, is_young
from stream_guard.core.signals import native
from stream_guard.settings import Settings


def _kernels() -> tuple[Callable[..., tuple[list[int], bytes]] | None, Callable[[list[int], int], int] | None]:
    """The compiled member kernels (native/src/members.rs: ``fitting_rows``, ``majority_mask``),
    ``None`` when the optional extension was not built: the references below do the same."""
    try:
        from stream_guard._native import fitting_rows, majority_mask
    except ImportError:  # the optional extension was not built (no Rust toolchain at install)
        return None, None
    return fitting_rows, majority_mask


_native_fitting_rows, _native_majority_mask = _kernels()

_LOG4 = math.log(4.0)  # (volume_term's divisor, as Python computes it: the kernel is given this one)

__all__ = [
    "AttributeIndex", "LinkVerdict", "MemberRow", "MemberTable", "Mover", "PivotVerdict", "fits", "group_evidence",
    "likeness_gate", "majority_mask", "suspicion", "synchrony",
]


# A value's members are held in columns: one ``array('d')`` row of _ROW (or, for ``model``
# values, _PIVOT_ROW) floats per member, in the order they joined, and a dict account -> row.
# (An object per member with its own float objects cost ~250 B per membership: the index was
# the largest part of the cross-account state per account.)
DAY, LIKENESS, AGE, HOURS, LAST_AT, FIRST_AT = range(6)
#: ``model`` values only (the pivot): requests on the value, the account's requests in the
#: intervals it used it, its day requests when it first used it
VALUE_REQUESTS, SEEN_REQUESTS, FIRST_DAY = range(6, 9)
_ROW, _PIVOT_ROW = 6, 9


class _Value:
    """One attribute value: when it was first seen, its sampling level and judgement, and
    its members' rows."""

    __slots__ = ("accounts", "cols", "first_seen", "judged_at", "level", "linked", "rows", "stride")

    def __init__(self, first_seen: float, stride: int, level: int = 0, linked: bool = False,
                 judged_at: float = float("-inf")) -> None:
        self.first_seen = first_seen
        self.stride = stride
        self.level = level  # hash-sampling level once members exceed the cap
        self.linked = linked
        self.judged_at = judged_at
        self.accounts: list[str] = []  # in joining order
        self.rows: dict[str, int] = {}  # account -> its row in cols
        self.cols = array("d")

    def __len__(self) -> int:
        return len(self.accounts)

    def join(self, account: str, row: Sequence[float]) -> None:
        self.rows[account] = len(self.accounts)
        self.accounts.append(account)
        self.cols.extend(row)

    def column(self, field: int) -> array[float]:
        return self.cols[field::self.stride]

    def keep(self, kept: list[int]) -> None:
        """Keep only the members at rows ``kept`` (ascending), in their order."""
        st, cols, accounts = self.stride, self.cols, self.accounts
        new = array("d")
        for i in kept:
            new.extend(cols[i * st:(i + 1) * st])
        self.cols = new
        self.accounts = [accounts[i] for i in kept]
        self.rows = {a: i for i, a in enumerate(self.accounts)}

    def sorted_rows(self) -> list[tuple[str, int]]:
        """(account, offset of its row in cols) in account order."""
        st = self.stride
        return [(a, i * st) for a, i in sorted(self.rows.items())]


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


def _row_at(account: str, cols: array[float], i: int) -> MemberRow:
    """The member row whose (day requests, likeness, age, hours) start at ``cols[i]`` (the
    layout of both a :class:`MemberTable` row and the front of an index member's row)."""
    return MemberRow._make((account, cols[i], cols[i + 1], cols[i + 2], int(cols[i + 3])))


class MemberTable(Sequence[MemberRow]):
    """Member rows held in columns: the accounts, and one ``array('d')`` of (day requests,
    likeness, age, hours) per row; reading a row gives a :class:`MemberRow`. (A verdict of a
    hydra's value holds thousands of rows, and the cluster book keeps every linked value's
    verdict: a tuple with its own float objects per row cost ~180 B, a row here ~40 B.)

    >>> t = MemberTable([MemberRow("a", 26.0, 0.9, 2.0, 7), ("b", 3, 0.5, -1.0, 1)])
    >>> len(t), t[1], t == [MemberRow("a", 26.0, 0.9, 2.0, 7), MemberRow("b", 3.0, 0.5, -1.0, 1)]
    (2, MemberRow(account='b', day_requests=3.0, likeness=0.5, age_days=-1.0, hours=1), True)
    """

    __slots__ = ("accounts", "cols")

    def __init__(self, rows: Iterable[Sequence[Any]] = ()) -> None:
        self.accounts: list[str] = []
        self.cols = array("d")
        for account, day_requests, likeness, age_days, hours in rows:
            self.accounts.append(account)
            self.cols.extend((day_requests, likeness, age_days, hours))

    def __len__(self) -> int:
        return len(self.accounts)

    @overload
    def __getitem__(self, i: int) -> MemberRow: ...
    @overload
    def __getitem__(self, i: slice) -> list[MemberRow]: ...
    def __getitem__(self, i: int | slice) -> MemberRow | list[MemberRow]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        account = self.accounts[i]  # (raises IndexError past the end)
        return _row_at(account, self.cols, 4 * (i % len(self.accounts)))

    def __iter__(self) -> Iterator[MemberRow]:
        cols = self.cols
        for i, account in enumerate(self.accounts):
            yield _row_at(account, cols, 4 * i)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MemberTable):
            return self.accounts == other.accounts and self.cols == other.cols
        if isinstance(other, (list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value: unhashable like a list

    def __repr__(self) -> str:
        return f"MemberTable({list(self)!r})"

    def to_wire(self) -> dict[str, Any]:
        """JSON-able columns: the accounts and the rows' fields as one base64 string of
        little-endian doubles (a JSON array of 5 per row cost ~3x the time to write and read).

        >>> t = MemberTable([MemberRow("a", 26.0, 0.9, 2.0, 7)])
        >>> MemberTable.from_wire(t.to_wire()) == t
        True
        """
        return {"accounts": self.accounts, "cols": _encode_cols(self.cols)}

    @classmethod
    def from_wire(cls, data: Any) -> MemberTable:
        """The inverse of :meth:`to_wire`; also reads the rows as JSON arrays (the format
        before the columns). Raises ``ValueError`` or ``TypeError`` on data that does not fit."""
        if not isinstance(data, dict):
            return cls(data)
        table = cls()
        accounts, cols = data["accounts"], _decode_cols(data["cols"])
        if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
            raise TypeError("member table: accounts must be a list of strings")
        if len(cols) != 4 * len(accounts) or not math.isfinite(sum(cols)):
            raise ValueError(f"member table: {len(accounts)} accounts but {len(cols)} fields (or not finite)")
        # interned: a hydra's account is a member of several links, refreshed at every boundary,
        # and the cluster book keys its cluster ids and alert gates by it: one string, not one
        # decoded copy (~70 B) per link and verdict
        table.accounts, table.cols = [sys.intern(a) for a in accounts], cols
        return table


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
    members: Sequence[MemberRow]  # the linked members (when linked); held as a MemberTable

    def __post_init__(self) -> None:
        if not isinstance(self.members, MemberTable):
            self.members = MemberTable(self.members)

    @property
    def table(self) -> MemberTable:
        """The members as the :class:`MemberTable` they are held in."""
        members = self.members
        assert isinstance(members, MemberTable)  # (made one by __post_init__; narrows the type)
        return members

    def to_wire(self) -> dict[str, Any]:
        """JSON-able form (for the links topic)."""
        return {"t": "link", "kind": self.kind, "value": self.value, "at": self.at, "accounts": self.accounts,
                "score": self.score, "linked": self.linked, "stats": self.stats,
                "members": self.table.to_wire()}


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
                       data["linked"], data["stats"], MemberTable.from_wire(data["members"]))


def majority_mask(masks: list[int], bits: int = 24) -> int:
    """Hours in which at least half of the masks are active (by the compiled kernel when it
    is built and on, see :func:`~stream_guard.core.signals.native`; else
    :func:`majority_mask_python`).

    >>> bin(majority_mask([0b011, 0b010, 0b110]))
    '0b10'
    """
    if _native_majority_mask is not None and native():
        try:
            return _native_majority_mask(masks, bits)
        except (OverflowError, TypeError):
            pass  # a mask that is no 64-bit one: the reference says what it makes of it
    return majority_mask_python(masks, bits)


def majority_mask_python(masks: list[int], bits: int = 24) -> int:
    """:func:`majority_mask`'s reference: counts all bit positions at once with a bit-sliced
    counter (``slices[i]`` holds bit ``i`` of every position's count), about two big-int
    operations per mask.

    >>> bin(majority_mask_python([0b011, 0b010, 0b110]))
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
    min_volume_term = _min_volume_term(s)
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


def fitting_table(
    order: list[tuple[str, int]], cols: array[float], median_requests: float, major: int, s: Settings,
    min_likeness: float,
) -> MemberTable:
    """:func:`fitting_members` of the rows starting at ``order``'s offsets of ``cols`` (a
    value's columns: day requests, likeness, age, hours lead each row), as a table. The
    compiled kernel judges them when it is built and on (no row object per member), else
    the reference does; a row the kernel refuses (hours that are no mask) leaves it to the
    reference."""
    if _native_fitting_rows is not None and order and native():  # (an empty array has no aligned buffer)
        try:
            fit, packed = _native_fitting_rows(
                cols, [i for _, i in order], median_requests, major, min_likeness, _min_volume_term(s),
                s.link_member_min_fit, s.young_account_days, s.link_prior_requests / 3.0, s.link_likeness_prior,
                _LOG4,
            )
        except (BufferError, OverflowError, ValueError):
            pass
        else:
            table = MemberTable()
            table.accounts = [order[j][0] for j in fit]
            table.cols.frombytes(packed)
            return table
    return MemberTable(fitting_members([_row_at(a, cols, i) for a, i in order], median_requests, major, s,
                                       min_likeness))


def _min_volume_term(s: Settings) -> float:
    """The least :func:`volume_term` of a linked member: ``volume_term(r, m) >= t`` iff
    ``(r + 1) / (m + 1) <= s.link_member_max_volume_ratio`` (up to volume_term's rounding)."""
    return 1.0 - math.log(s.link_member_max_volume_ratio) / _LOG4


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


def _encode_cols(cols: array[float]) -> str:
    """A value's member columns for a checkpoint: little-endian doubles in base64 (one string
    instead of a JSON number per field)."""
    if sys.byteorder != "little":
        cols = array("d", cols)
        cols.byteswap()
    return base64.b64encode(cols.tobytes()).decode("ascii")


def _decode_cols(text: str) -> array[float]:
    cols = array("d", base64.b64decode(text, validate=True))
    if sys.byteorder != "little":
        cols.byteswap()
    return cols


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
        #: values whose state changed since the last export_changes (checkpoints of changes;
        #: counted once a first checkpoint pass asked for the whole index)
        self.changed: Tracked = Untracked()
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
        return sum(len(v) for v in self.values.values())

    # --- checkpoints ------------------------------------------------------------------------
    def export(self) -> dict[str, Any]:
        """The whole index as JSON-able data, values in key order (the inverse of :meth:`load`)."""
        return {"values": [self._row(key, self.values[key]) for key in sorted(self.values)], **self._meta()}

    def checkpoint_data(self, *, changes: bool) -> dict[str, Any]:
        """For a checkpoint pass: with ``changes`` what :meth:`export_changes` gives, else the
        whole index (:meth:`export`); either way the changes are counted anew from here."""
        if changes:
            return self.export_changes()
        self.changed = Tracked()
        return self.export()

    def export_changes(self) -> dict[str, Any]:
        """The values changed since the last call (or since :meth:`load`), those deleted, and
        the index-wide fields: what :meth:`apply_changes` needs to bring the index as it was
        at that call up to now (a checkpoint pass of changes, not of the whole index)."""
        if not self.changed.tracking:
            raise RuntimeError("attribute index: no whole checkpoint pass yet, its changes are not counted")
        changed, self.changed = self.changed, Tracked()
        keys = sorted(changed)
        return {"values": [self._row(k, self.values[k]) for k in keys if k in self.values],
                "deleted": [k for k in keys if k not in self.values], **self._meta()}

    def _row(self, key: tuple[str, str], vs: _Value) -> list[Any]:
        return [key[0], key[1], vs.first_seen, vs.level, vs.linked, _finite(vs.judged_at), vs.accounts,
                _encode_cols(vs.cols)]

    def _meta(self) -> dict[str, Any]:
        return {
            "dirty": sorted(self.dirty),
            "started_at": self.started_at,
            "pending": [p.to_wire() for p in self._pending],
            "model_first_seen": self.model_first_seen,
            "dropped": self.dropped,
        }

    def load(self, data: dict[str, Any]) -> None:
        """Replace this index's state by exported data (also the format of the version before
        the columns: one ``[account, 9 fields]`` list per member)."""
        self.values = {}
        self.changed = Tracked()
        self._load_values(data["values"])
        self._load_meta(data)

    def apply_changes(self, data: dict[str, Any]) -> None:
        """Bring the index up to date with :meth:`export_changes`' data (after :meth:`load`
        of the whole index it was exported from, and the changes before it, in order)."""
        for kind, value in data["deleted"]:
            self.values.pop((kind, value), None)
        self._load_values(data["values"])
        self._load_meta(data)

    def _load_values(self, rows: list[list[Any]]) -> None:
        for kind, value, first_seen, level, linked, judged_at, *members in rows:
            stride = _PIVOT_ROW if kind == "model" else _ROW
            vs = self.values[(kind, value)] = _Value(first_seen, stride, level, linked, _infinite(judged_at))
            if len(members) == 2:
                for a in members[0]:
                    vs.join(sys.intern(a), ())
                vs.cols = _decode_cols(members[1])
                if len(vs.cols) != stride * len(vs.accounts):
                    raise ValueError(f"index checkpoint: {kind} value has {len(vs.accounts)} members "
                                     f"but {len(vs.cols)} fields")
            else:
                for a, *fields in members[0]:
                    vs.join(sys.intern(a), [float(f) for f in fields[:stride]])

    def _load_meta(self, data: dict[str, Any]) -> None:
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
            pivot = kind == "model"
            vs = self.values.get(key)
            if vs is None:
                first = profile.at
                if pivot:
                    first = self.model_first_seen.setdefault(value, profile.at)
                vs = self.values[key] = _Value(first, _PIVOT_ROW if pivot else _ROW)
            self.dirty.add(key)
            self.changed.add(key)
            if vs.level and h & ((1 << vs.level) - 1):
                continue
            row = vs.rows.get(account)
            if row is None:
                vs.join(account, (profile.day_requests, profile.likeness, profile.age_days, profile.hours,
                                  profile.at, profile.at) + ((0.0, 0.0, profile.day_requests) if pivot else ()))
                if len(vs) > self.s.link_member_cap:
                    self._thin(vs)
                    if account not in vs.rows:
                        continue
                if not pivot:
                    continue
                row = vs.rows[account]
            else:
                cols = vs.cols
                i = row * vs.stride
                if profile.at <= cols[i + LAST_AT]:
                    continue  # this interval of the account is in already: a profile sent again
                cols[i + DAY], cols[i + LIKENESS], cols[i + AGE] = (profile.day_requests, profile.likeness,
                                                                    profile.age_days)
                cols[i + HOURS], cols[i + LAST_AT] = profile.hours, profile.at
                if not pivot:
                    continue
            i = row * vs.stride
            vs.cols[i + VALUE_REQUESTS] += n
            vs.cols[i + SEEN_REQUESTS] += profile.requests

    def _thin(self, vs: _Value) -> None:
        vs.level += 1
        mask = (1 << vs.level) - 1
        kept = [i for i, a in enumerate(vs.accounts) if not xxhash.xxh3_64_intdigest(a.encode()) & mask]
        self.dropped += len(vs) - len(kept)
        vs.keep(kept)

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
            if (len(vs) > self.s.link_big_value_members and at - vs.judged_at < self.s.link_big_value_every_s
                    and key[0] != "model"):
                self.dirty.add(key)  # a big value changes slowly: judged at most every link_big_value_every_s
                continue
            vs.judged_at = at
            self.changed.add(key)
            last = vs.column(LAST_AT)
            if last and min(last) < horizon:
                vs.keep([i for i, t in enumerate(last) if t >= horizon])
            if not vs:
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
        stale = [k for k, vs in self.values.items() if not vs or max(vs.column(LAST_AT)) < horizon]
        for k in stale:
            del self.values[k]
        self.changed.update(stale)
        return len(stale)

    def _judge(self, kind: str, value: str, vs: _Value, at: float) -> LinkVerdict | None:
        s = self.s
        accounts = len(vs) << vs.level
        if accounts < s.link_min_accounts:
            if vs.linked:
                vs.linked = False
                return LinkVerdict(kind, value, at, accounts, 0.0, False, {}, [])
            return None
        c = vs.cols
        order = vs.sorted_rows()  # (DAY..HOURS lead each row)
        sample = [_row_at(a, c, i) for a, i in order[:: max(1, len(order) // s.link_stats_sample)]]
        major = majority_mask([r.hours for r in sample if r.hours])
        ev = group_evidence(sample, s, major)
        score = round(self.weights.get(kind, 0.0) * suspicion(ev, s), 4)
        linked = score >= s.link_min_score
        if not linked and not vs.linked:
            return None
        vs.linked = linked
        ev["day_requests"] = round(ev["day_requests"] * (accounts / len(sample)), 1)
        ev["sampled"] = float(vs.level > 0)
        fitting = MemberTable()
        if linked:
            volumes = sorted(r.day_requests for r in sample)
            median = volumes[len(volumes) // 2]
            wide = accounts > s.link_specific_value_accounts  # sharing it says little about one account
            floor = s.link_member_min_likeness_wide if wide else s.link_member_min_likeness
            fitting = fitting_table(order, c, median, major, s, floor)
            ev["unfit_members"] = float(len(order) - len(fitting))
        return LinkVerdict(kind, value, at, accounts, score, linked, ev, fitting)

    def _pivot(self, model: str, vs: _Value, at: float) -> PivotVerdict | None:
        if self.started_at is None or vs.first_seen - self.started_at < self.s.pivot_new_model_after_s:
            return None  # present from the start: not a release we saw happen
        if at - vs.first_seen > self.s.pivot_window_s + self.s.link_ttl_s:
            return None
        movers: list[Mover] = []
        c = vs.cols
        for account, i in vs.sorted_rows():
            delay = c[i + FIRST_AT] - vs.first_seen
            value_requests, seen_requests, first_day = c[i + VALUE_REQUESTS], c[i + SEEN_REQUESTS], c[i + FIRST_DAY]
            share = value_requests / seen_requests if seen_requests else 0.0
            if delay > self.s.pivot_window_s or value_requests < self.s.pivot_min_requests:
                continue
            if share < self.s.pivot_min_share:
                continue
            speedup = c[i + DAY] / first_day if first_day > 0 else 1.0
            movers.append(Mover(account, round(share, 4), delay, value_requests, c[i + LIKENESS], round(speedup, 3)))
        if not movers:
            return None
        return PivotVerdict(model, vs.first_seen, at, movers)
