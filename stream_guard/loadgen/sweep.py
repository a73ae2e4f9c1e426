"""A capability sweep: benchmark-like items by category, never repeated.

``SweepItems.item(category, i)`` is deterministic for ``(salt, category, i)``. Categories
follow the detector's coarse capability map: ``math`` (word problems), ``code`` (a
function to write, with tests), ``science`` (multiple choice with computed options),
``writing``, ``reasoning``, ``knowledge``, ``language`` and ``data``. Every category's
templates use the same slots, each slot rendered injectively, and index ``i`` goes
through a bijection of ``[0, P)`` (an affine permutation) to the template and slot
digits, so two indices below ``P`` never give the same text (``P`` > 5e9 in every
category: far more than a campaign sends).

With prompt corpora (``--prompts``), ``math`` / ``code`` / ``science`` items come from
the corpus tasks instead (a finite benchmark: they then repeat once it is exhausted).

A campaign hands out indices so that no two of its requests share one: account ``k`` of
``K`` takes ``k, k + K, k + 2K, ...`` (:func:`dispatch_index`).

>>> s = SweepItems(TaskSource(), salt=3)
>>> s.item("writing", 7) == s.item("writing", 7) != s.item("writing", 8)
True
>>> all(len({s.item(c, i) for i in range(3000)}) == 3000 for c in CATEGORIES)
True
>>> min(s.space(c) for c in CATEGORIES) > 5e9
True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stream_guard.loadgen import design_parts as D
from stream_guard.loadgen import prompt_parts as P
from stream_guard.loadgen.prompts import TaskSource

__all__ = ["CATEGORIES", "SweepItems", "dispatch_index"]

CATEGORIES = ("math", "code", "science", "writing", "reasoning", "knowledge", "language", "data")
_PRIME = 2_147_483_647  # coprime to every slot space below (their prime factors are small)
_CODE_X = 3000  # code-task arguments are drawn from 1..3000 (injective renderings below)

Values = dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Slot:
    """One template slot: its name and how a digit in ``[0, radix)`` renders."""

    name: str
    radix: int
    render: Callable[[int], Any]


@dataclass(frozen=True, slots=True)
class _Family:
    """A category: templates over the same slots, and derived values (``finish``)."""

    templates: tuple[str, ...]
    slots: tuple[_Slot, ...]
    finish: Callable[[int, Values], Values] | None = None

    @property
    def space(self) -> int:
        return len(self.templates) * math.prod(s.radix for s in self.slots)


def _table(name: str, values: Sequence[str]) -> _Slot:
    return _Slot(name, len(values), lambda d: values[d])


def _number(name: str, lo: int, hi: int, step: int = 1) -> _Slot:
    return _Slot(name, (hi - lo) // step + 1, lambda d: lo + d * step)


def _three_names(_t: int, v: Values) -> Values:
    """Three distinct first names from the digits ``_n1`` (30), ``_n2`` (29), ``_n3`` (28)."""
    pool = list(P.NAMES)
    for key in ("n1", "n2", "n3"):
        if f"_{key}" in v:
            v[key] = pool.pop(v.pop(f"_{key}"))
    return v


_NAMES3 = (_Slot("_n1", 30, int), _Slot("_n2", 29, int), _Slot("_n3", 28, int))
_NAMES2 = _NAMES3[:2]
_PLURALS = tuple(p for _s, p in P.ITEMS)


# -- science: options computed from the slots ----------------------------------------------
def _fmt(x: float) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def _science(t: int, v: Values) -> Values:
    v["name"] = _three_names(t, v).pop("n1")
    a, b, c = v["a"], v["b"], v["c"]
    subject, _stem = D.SCIENCE_TEMPLATES[t]
    opts: list[str]
    if subject == "physics":
        opts = [f"{_fmt(0.5 * a * b * b + a * b * c)} m", f"{_fmt(0.5 * a * b * b)} m",
                f"{_fmt(a * b * (b + c))} m", f"{_fmt(0.5 * a * (b + c) ** 2)} m"]
    elif subject == "chemistry":
        opts = [_fmt(a / b / c), _fmt(a / b), _fmt(a * c / b), _fmt(b / a / c)]
    elif subject == "statistics":
        opts = [f"{b}/{a + b + c}", f"{a + c}/{a + b + c}", f"{b}/{a + b}", f"{c}/{a + b + c}"]
    elif subject == "economics":
        opts = [_fmt(a * (1 + b * c / 100)), _fmt(a * (1 + b / 100) ** c), _fmt(a * b * c / 100),
                _fmt(a + b * c)]
    else:
        opts = [_fmt(a + b * c), _fmt(a * b * c), _fmt(b * c), _fmt(a + b + c)]
    for k in range(1, 4):  # keep the four options distinct, so every order is a distinct text
        while opts[k] in opts[:k]:
            opts[k] += " (approx.)"
    shift = v.pop("shift")
    opts = opts[shift:] + opts[:shift]
    v["subject"] = subject
    v["options"] = "\n".join(f"{'ABCD'[k]}) {o}" for k, o in enumerate(opts))
    return v


_SCIENCE_TEXT = tuple(
    f"The following is a multiple choice question about {subject}.\n\n{stem}\n{{options}}\nAnswer:"
    for subject, stem in D.SCIENCE_TEMPLATES
)


# -- code: a function to write, with three tests -------------------------------------------
def _code_arg(args: str, x: int) -> str:
    """An argument for a function of signature ``args``, injective in ``x`` (1..3000)."""
    w = D.CODE_WORDS
    if "k: int" in args:
        return f"{[x % 61, x // 61 % 67, (7 * x) % 13]}, {x % 5 + 1}"
    if "tuple" in args:
        return repr([(x % 61, x % 61 + 4), (x // 61 % 67, x // 61 % 67 + 2)])
    if "xs: list" in args:
        return repr([x % 61, [x // 61 % 67, [x % 7]]])
    if "list" in args:
        return repr([x % 61, -(x // 61 % 67), (3 * x) % 17, x % 5])
    if "str" in args:
        return repr(f"{w[x % len(w)]} {w[x // len(w) % len(w)]}")
    return str(x)


@functools.cache
def _primes() -> tuple[int, ...]:
    limit = 30_000  # the 3000th prime is 27,449
    sieve = bytearray([1]) * limit
    sieve[0:2] = b"\x00\x00"
    for p in range(2, int(limit**0.5) + 1):
        if sieve[p]:
            sieve[p * p :: p] = bytearray(len(sieve[p * p :: p]))
    return tuple(i for i in range(limit) if sieve[i])


def _code_expect(fn: str, arg: str) -> str:
    """``== value`` where it is cheap to compute, else a type check."""
    value: Any = None
    if fn == "count_vowels":
        value = sum(ch in "aeiou" for ch in arg.strip("'"))
    elif fn == "is_palindrome":
        s = arg.strip("'").replace(" ", "")
        value = s == s[::-1]
    elif fn == "digits_sum":
        value = sum(int(ch) for ch in arg)
    elif fn == "nth_prime":
        value = _primes()[int(arg) - 1]
    return "is not None" if value is None else f"== {value!r}"


def _code(t: int, v: Values) -> Values:
    fn, args, spec = P.CODE_SPECS[v.pop("spec")]
    v["fn"], v["args"], v["spec"] = fn, args, spec
    for key in ("x", "y", "z"):
        arg = _code_arg(args, v[key])
        v[key] = arg
        v[f"{key}_out"] = _code_expect(fn, arg)
    return v


_CODE_TEXT = (
    "Write a Python function `{fn}({args})` that {spec}.{note}\nYour code should pass these tests:\n"
    "assert {fn}({x}) {x_out}\nassert {fn}({y}) {y_out}\nassert {fn}({z}) {z_out}",
    "Implement `{fn}({args})`: it {spec}.{note}\nTests:\nassert {fn}({x}) {x_out}\nassert {fn}({y}) {y_out}\n"
    "assert {fn}({z}) {z_out}",
)


def _knowledge(_t: int, v: Values) -> Values:
    v["y2"] = v["y1"] + v.pop("span")
    return v


_FAMILIES: dict[str, _Family] = {
    "math": _Family(
        D.MATH_TEMPLATES,
        (*_NAMES2, _table("items", _PLURALS), _number("a", 3, 99), _number("b", 2, 49), _number("c", 2, 24)),
        _three_names,
    ),
    "code": _Family(
        _CODE_TEXT,
        (
            _Slot("spec", len(P.CODE_SPECS), int),
            _table("note", ("", " Do not use any imports.", " Aim for O(n) time.", " Handle empty input.")),
            _number("x", 1, _CODE_X),
            _number("y", 1, _CODE_X),
            _number("z", 1, _CODE_X),
        ),
        _code,
    ),
    "science": _Family(
        _SCIENCE_TEXT,
        (*_NAMES3[:1], _number("a", 2, 2000), _number("b", 2, 300), _number("c", 1, 40), _Slot("shift", 4, int)),
        _science,
    ),
    "writing": _Family(
        D.WRITING_TEMPLATES,
        (
            _table("tone", D.TONES),
            _table("form", D.WRITING_FORMS),
            _table("topic", P.TOPICS),
            _table("audience", D.AUDIENCES),
            _number("words", 50, 1000, 10),
            _table("city", P.CITIES),
            _number("year", 1900, 2030),
        ),
    ),
    "reasoning": _Family(
        D.REASONING_TEMPLATES,
        (*_NAMES3, _number("a", 2, 61), _number("b", 2, 61), _number("c", 120, 199)),
        _three_names,
    ),
    "knowledge": _Family(
        D.KNOWLEDGE_TEMPLATES,
        (
            _table("topic", P.TOPICS),
            _number("y1", 1800, 1989),
            _number("span", 5, 60),
            _number("k", 3, 9),
            _table("audience", D.AUDIENCES),
            _table("topic2", P.TOPICS),
        ),
        _knowledge,
    ),
    "language": _Family(
        D.LANGUAGE_TEMPLATES,
        (
            _table("lang", D.HUMAN_LANGS),
            _table("name", P.NAMES),
            _number("a", 2, 99),
            _table("items", _PLURALS),
            _table("city", P.CITIES),
            _table("weekday", D.WEEKDAYS),
            _number("b", 1, 999),
        ),
    ),
    "data": _Family(
        D.DATA_TEMPLATES,
        (
            _number("inv", 10000, 99999),
            _table("name", P.NAMES),
            _table("surname", D.SURNAMES),
            _number("day", 1, 365),
            _number("year", 2019, 2026),
            _number("a", 1, 50),
            _table("items", _PLURALS),
            _number("p", 1, 99),
        ),
    ),
}
_FROM_CORPUS = ("math", "code", "science")


def dispatch_index(account: int, accounts: int, n: int) -> int:
    """The sweep index of account ``account``'s ``n``-th item when ``accounts`` share a sweep."""
    return account + n * accounts


class SweepItems:
    """Benchmark-like items by capability category (see the module docstring)."""

    def __init__(self, tasks: TaskSource, salt: int = 0) -> None:
        self._tasks = tasks
        self._salt = salt

    def space(self, category: str) -> int:
        """How many distinct texts ``category`` has: indices below it never repeat."""
        return _FAMILIES[category].space

    def item(self, category: str, i: int) -> str:
        """Item ``i`` of ``category``."""
        if self._tasks.size and category in _FROM_CORPUS:
            return self._tasks.task(i)
        fam = _FAMILIES[category]
        space = fam.space
        j = (i * _PRIME + self._salt * 7919 + CATEGORIES.index(category)) % space
        j, t = divmod(j, len(fam.templates))
        values: Values = {}
        for slot in fam.slots:
            j, d = divmod(j, slot.radix)
            values[slot.name] = slot.render(d)
        if fam.finish is not None:
            values = fam.finish(t, values)
        return fam.templates[t].format(**values)
