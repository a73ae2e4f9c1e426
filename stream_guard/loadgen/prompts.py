"""Prompt text: a built-in generator, and corpora loaded from ``--prompts DIR``.

Kinds of text the population and the campaigns need:

* benign chat prompts of varied topics and lengths (length drawn from Arena-Hard's),
  a few very common short ones ("hi", "continue") that many users share;
* SaaS end-user prompts per product domain; coding-agent turns (instructions, tool
  results); templated batch-job prompts;
* benchmark-style *tasks* (math word problems, code tasks with tests, multiple choice),
  addressed by an integer index so a campaign can hand out disjoint tasks to its accounts
  and an evaluation run can replay the same public benchmark;
* chain-of-thought wrappers (``"... Let's think step by step."``).

Corpora (``*.jsonl`` / ``*.jsonl.gz`` under a folder, recursively) are sorted by their
fields: ``entry_point`` or ``test_list`` -> code task (MBPP's ``text`` gets its tests
appended), ``question`` + ``answer`` -> math task, ``prompt`` (Arena-Hard) -> chat prompt.

>>> import random
>>> lib = PromptLibrary.builtin()
>>> t = lib.tasks.task(5)
>>> t == lib.tasks.task(5) != lib.tasks.task(6)
True
>>> len(lib.chat.draw(random.Random(1))) > 0
True
"""

from __future__ import annotations

import gzip
import random
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

from stream_guard.loadgen import prompt_parts as P
from stream_guard.loadgen.calibration import Quantiles, load_calibration

__all__ = [
    "AgentTurns",
    "BatchPrompts",
    "ChatPrompts",
    "Corpora",
    "PromptLibrary",
    "SaasPrompts",
    "TaskSource",
    "load_corpora",
    "mix64",
]

_M64 = (1 << 64) - 1


def mix64(x: int) -> int:
    """SplitMix64 finaliser: a well-mixed 64-bit value from an integer (deterministic).

    >>> mix64(1) != mix64(2)
    True
    """
    z = (x * 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


class _Filler:
    """Fills the ``{slot}`` fields of one template with random vocabulary, cheaply.

    The template is compiled once into a positional format string and one picker per
    slot, so a fill costs one draw per slot and one ``str.format``.
    """

    __slots__ = ("_fmt", "_pickers", "names", "template")

    def __init__(self, template: str) -> None:
        self.template = template
        parts: list[str] = []
        names: list[str] = []
        for literal, name, _spec, _conv in string.Formatter().parse(template):
            parts.append(literal.replace("{", "{{").replace("}", "}}"))
            if name:
                parts.append(f"{{{len(names)}}}")
                names.append(name)
        self.names = tuple(names)
        self._fmt = "".join(parts)
        self._pickers = tuple(_picker(n) for n in names)

    def fill(self, r: Callable[[], float]) -> str:
        """``r`` is a ``random.random``-like callable; only the used slots are drawn."""
        if not self._pickers:
            return self.template
        return self._fmt.format(*[p(r) for p in self._pickers])


_T = TypeVar("_T")


def _pick(seq: Sequence[_T], r: Callable[[], float]) -> _T:
    return seq[int(r() * len(seq))]


def _from(seq: Sequence[str]) -> Callable[[Callable[[], float]], str]:
    n = len(seq)
    return lambda r: seq[int(r() * n)]


_PLURALS = tuple(p for _s, p in P.ITEMS)
_FILES = tuple(
    f"src/{m}/{f}.py" for m in P.AGENT_FILES for f in ("service", "models", "api", "utils", "handlers")
)


def _review(r: Callable[[], float]) -> str:
    a = _pick(P.REVIEW_BITS, r).format(product=_pick(P.PRODUCTS, r), n=int(r() * 9) + 2)
    b = _pick(P.REVIEW_BITS, r).format(product=_pick(P.PRODUCTS, r), n=int(r() * 9) + 2)
    return f"{a}, but {b[0].lower()}{b[1:]}."


def _picker(name: str) -> Callable[[Callable[[], float]], str]:
    table: dict[str, Sequence[str]] = {
        "topic": P.TOPICS,
        "topic2": P.TOPICS,
        "lang": P.LANGS,
        "lang2": P.LANGS,
        "city": P.CITIES,
        "error": P.ERRORS,
        "name": P.NAMES,
        "product": P.PRODUCTS,
        "items": _PLURALS,
        "file": _FILES,
        "mod": P.AGENT_FILES,
        "mod2": P.AGENT_FILES,
    }
    if name in table:
        return _from(table[name])
    if name == "num":
        return lambda r: str(int(r() * 9000) + 100)
    if name in ("n", "m"):
        return lambda r: str(int(r() * 12) + 2)
    if name == "review":
        return _review
    raise ValueError(f"unknown template slot {{{name}}}")


class ChatPrompts:
    """Benign user prompts: templates, pasted context up to an Arena-Hard-like length,
    a share of very common short messages, and corpus prompts when given."""

    def __init__(self, lengths: Quantiles, corpus: Sequence[str] = (), corpus_share: float = 0.5) -> None:
        self._fillers = [_Filler(t) for t in P.CHAT_TEMPLATES]
        self._lengths = lengths
        self._corpus = tuple(corpus)
        self._corpus_share = corpus_share if self._corpus else 0.0

    def draw(self, rng: random.Random) -> str:
        """One prompt."""
        r = rng.random
        u = r()
        if u < 0.04:
            return str(_pick(P.COMMON_SHORT, r))
        if u < 0.04 + self._corpus_share * 0.96:
            return str(_pick(self._corpus, r))
        text = _pick(self._fillers, r).fill(r)
        target = self._lengths.sample(r)
        extra = 0
        while len(text) < target * 0.8 and extra < 8:
            text = f"{text}\n\n{_pick(P.FRAGMENTS, r)}"
            extra += 1
        return text


class SaasPrompts:
    """End-user prompts of one SaaS product (one domain), diverse in content."""

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self._fillers = [_Filler(t) for t in P.SAAS_DOMAINS[domain]]

    def draw(self, rng: random.Random) -> str:
        """One end-user prompt."""
        r = rng.random
        return _pick(self._fillers, r).fill(r)


class AgentTurns:
    """Coding-agent turns: the user's instruction (turn 0), then tool results."""

    def __init__(self) -> None:
        self._instr = [_Filler(t) for t in P.AGENT_INSTRUCTIONS]
        self._results = [_Filler(t) for t in P.AGENT_TOOL_RESULTS]

    def instruction(self, rng: random.Random) -> str:
        """A first turn."""
        return _pick(self._instr, rng.random).fill(rng.random)

    def tool_result(self, rng: random.Random) -> str:
        """A later turn (tool output fed back)."""
        return _pick(self._results, rng.random).fill(rng.random)


class BatchPrompts:
    """A batch job's fixed template over varying records."""

    def __init__(self, template_index: int) -> None:
        self._filler = _Filler(P.BATCH_TEMPLATES[template_index % len(P.BATCH_TEMPLATES)])

    def draw(self, rng: random.Random) -> str:
        """One record's prompt."""
        return self._filler.fill(rng.random)


_MATH = (
    "{n1} has {a} {items}. {n2} gives {n1} {b} more, then {n1} gives away {c}. How many {items} does {n1} have now?",
    "A shop sells {items} for {a} dollars each. {n1} buys {b} of them and pays with a {p}-dollar bill. "
    "How much change does {n1} get?",
    "{n1} reads {a} pages on Monday and {b} pages more on Tuesday than on Monday. The book has {p} pages. "
    "How many pages are left?",
    "A train travels {a} km in {b} hours. At the same speed, how far does it travel in {c} hours?",
    "{n1} saves {a} dollars a week. {n2} saves {b} dollars a week more than {n1}. "
    "How much do they save together in {c} weeks?",
    "A farm has {a} hens. Each hen lays {b} eggs a week. The farmer sells eggs in boxes of {c}. "
    "How many full boxes per week?",
    "{n1} is {a} years old. {n2} is {b} times as old as {n1}. How old will {n2} be in {c} years?",
    "A recipe needs {a} grams of flour for {b} cookies. How much flour is needed for {p} cookies?",
    "There are {a} students in a class; {b}% of them walk to school and {c} take the bus. "
    "The rest bike. How many bike?",
    "{n1} buys {a} {items} at {b} dollars each and sells them at {c} dollars each. What is the total profit?",
)


@dataclass(frozen=True, slots=True)
class Corpora:
    """Prompt text read from corpus files (empty tuples when none were given)."""

    chat: tuple[str, ...] = ()
    math: tuple[str, ...] = ()
    code: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    @property
    def tasks(self) -> tuple[str, ...]:
        """Benchmark-style items (math and code), interleaved."""
        out: list[str] = []
        for i in range(max(len(self.math), len(self.code))):
            if i < len(self.math):
                out.append(self.math[i])
            if i < len(self.code):
                out.append(self.code[i])
        return tuple(out)


class TaskSource:
    """Benchmark-style tasks by index: ``task(i)`` is deterministic for ``(salt, i)``.

    Built-in tasks are procedural (math word problems, code tasks with tests, multiple
    choice), practically without repeats; with corpus tasks, index ``i`` cycles through
    them (a finite public benchmark).
    """

    def __init__(self, corpus: Sequence[str] = (), salt: int = 0) -> None:
        self._corpus = tuple(corpus)
        self._salt = salt
        self._math = _MATH

    def with_salt(self, salt: int) -> TaskSource:
        """The same source with another built-in task space (a different 'benchmark')."""
        return TaskSource(self._corpus, salt)

    @property
    def size(self) -> int:
        """Number of distinct corpus tasks (0 for the unbounded built-in generator)."""
        return len(self._corpus)

    def task(self, i: int) -> str:
        """Task number ``i``."""
        if self._corpus:
            return self._corpus[i % len(self._corpus)]
        z = mix64(i ^ (self._salt << 32) ^ self._salt)
        kind = z % 10
        z //= 10
        if kind < 5:
            return self._math_task(z)
        if kind < 8:
            return self._code_task(z)
        return self._mc_task(z)

    def _math_task(self, z: int) -> str:
        filler = self._math[z % len(self._math)]
        z //= len(self._math)
        n1 = P.NAMES[z % 30]
        n2 = P.NAMES[(z // 30) % 30]
        z //= 900
        items = P.ITEMS[z % len(P.ITEMS)][1]
        z //= len(P.ITEMS)
        a, b, c = 3 + z % 97, 2 + (z // 97) % 48, 2 + (z // 4656) % 23
        p = (a + b + c) * (2 + (z // 107088) % 9)
        return filler.format(n1=n1, n2=n2 if n2 != n1 else "Alex", items=items, a=a, b=b, c=c, p=p)

    def _code_task(self, z: int) -> str:
        fn, args, spec = P.CODE_SPECS[z % len(P.CODE_SPECS)]
        z //= len(P.CODE_SPECS)
        lang_note = ("", " Do not use any imports.", " Aim for O(n) time.", " Handle empty input.")[z % 4]
        z //= 4
        x, y = 1 + z % 300, 1 + (z // 300) % 300
        ax, ay = _example_arg(args, x), _example_arg(args, y)
        return (
            f"Write a Python function `{fn}({args})` that {spec}.{lang_note}\n"
            f"Your code should pass these tests:\n"
            f"assert {fn}({ax}) {_example_out(fn, ax)}\n"
            f"assert {fn}({ay}) {_example_out(fn, ay)}"
        )

    def _mc_task(self, z: int) -> str:
        subject, stem, opts = P.MC_SUBJECTS[z % len(P.MC_SUBJECTS)]
        z //= len(P.MC_SUBJECTS)
        n = 2 + z % 300
        z //= 300
        vals = {
            "n": n,
            "name": P.NAMES[z % 30],
            "e": round(0.2 + (z % 17) / 10, 1),
            "a": n * 2,
            "b": n * 3,
            "c": n * 5,
            "d": n * 7,
        }
        shift = (z // 30) % 4
        choices = [o.format(**vals) for o in opts]
        choices = choices[shift:] + choices[:shift]
        lines = "\n".join(f"{'ABCD'[k]}) {c}" for k, c in enumerate(choices))
        return (f"The following is a multiple choice question about {subject}.\n\n"
                f"{stem.format(**vals)}\n{lines}\nAnswer:")


def _example_arg(args: str, x: int) -> str:
    if "str" in args:
        return repr("ab" * (x % 5 + 1) + "racecar"[: x % 7])
    if "list" in args:
        return repr([(x * k) % 17 for k in range(x % 6 + 2)]) + (", 2" if "k: int" in args else "")
    return str(x)


def _example_out(fn: str, arg: str) -> str:
    """The true expected value where it is cheap to compute, else a type check."""
    value: Any = None
    if fn == "count_vowels":
        value = sum(ch in "aeiou" for ch in arg)
    elif fn == "is_palindrome":
        s = arg.strip("'")
        value = s == s[::-1]
    elif fn == "digits_sum":
        value = sum(int(ch) for ch in arg)
    return "is not None" if value is None else f"== {value!r}"


@dataclass(slots=True)
class PromptLibrary:
    """Every prompt source a run needs, built once."""

    chat: ChatPrompts
    tasks: TaskSource
    agent: AgentTurns
    saas: dict[str, SaasPrompts] = field(default_factory=dict)
    corpora: Corpora = field(default_factory=Corpora)

    @classmethod
    def builtin(cls, corpora: Corpora | None = None) -> PromptLibrary:
        """The library over the built-in generator, plus ``corpora`` when given."""
        c = corpora or Corpora()
        cal = load_calibration()
        return cls(
            chat=ChatPrompts(cal.prompt_chars["arena_hard"], c.chat),
            tasks=TaskSource(c.tasks),
            agent=AgentTurns(),
            saas={d: SaasPrompts(d) for d in P.SAAS_DOMAINS},
            corpora=c,
        )


def _records(path: Path) -> Iterable[dict[str, Any]]:
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        for line in fh:
            line = line.strip()
            if line:
                rec = orjson.loads(line)
                if isinstance(rec, dict):
                    yield rec


def load_corpora(folder: str | Path) -> Corpora:
    """Read every ``*.jsonl`` / ``*.jsonl.gz`` under ``folder`` (sorted, so deterministic)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"--prompts: not a folder: {root}")
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith((".jsonl", ".jsonl.gz")))
    chat: list[str] = []
    math: list[str] = []
    code: list[str] = []
    for path in paths:
        for rec in _records(path):
            if "entry_point" in rec and isinstance(rec.get("prompt"), str):
                code.append(rec["prompt"])
            elif "test_list" in rec and isinstance(rec.get("text"), str):
                tests = "\n".join(str(t) for t in rec.get("test_list", []))
                code.append(f"{rec['text']}\nYour code should pass these tests:\n{tests}")
            elif isinstance(rec.get("question"), str):
                math.append(rec["question"])
            elif isinstance(rec.get("prompt"), str):
                chat.append(rec["prompt"])
            elif isinstance(rec.get("text"), str):
                chat.append(rec["text"])
    return Corpora(tuple(chat), tuple(math), tuple(code), tuple(str(p) for p in paths))
