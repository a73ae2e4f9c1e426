"""Per-event signals: what one request's text tells about its account, in one or two passes.

Raw prompt text never leaves this module: it is reduced to 64-bit fingerprints (of the
prompt and of its *template*, the prompt with numbers, quoted spans and capitalised names
masked) and a few marker flags:

- **chain-of-thought elicitation**: wording that asks for the full reasoning or for rubric
  grading, the outputs a distiller wants most;
- **benchmark shape**: math word problems, code tasks with tests or signatures, multiple
  choice: the shapes of public evaluation sets that extraction campaigns sweep;
- **capability category**: a coarse bitmask (math, code, science, writing, reasoning,
  knowledge, language, data) that shows how widely an account covers the space;
- on request (``sketch=True``), an 8-byte MinHash signature of the prompt's word set
  (:mod:`~stream_guard.core.neardup`) that tells paraphrases and small edits apart from
  new prompts.

>>> s = analyze_prompt("Q7. Which is prime? A) 4 B) 9 C) 11 D) 12. Think step by step.")
>>> s.cot, s.benchmark, [CATEGORIES[i] for i in range(len(CATEGORIES)) if s.categories >> i & 1]
(True, True, ['math', 'reasoning'])
>>> analyze_prompt("Write a function is_even(n) with unit tests.").benchmark
True
>>> analyze_prompt("Q8. Which is prime? A) 6 B) 15 C) 13 D) 22. Think step by step.").template == s.template
True
>>> analyze_prompt("What is a good name for a cat?").cot
False
>>> s.sketch is None, analyze_prompt("Rewrite this paragraph about quarterly revenue growth in plain words.",
...                                  sketch=True).sketch
(True, 2103689525697808935)
>>> prompt_fingerprint({"prompt": "Hello  World"}) == prompt_fingerprint({"prompt": "hello world"})
True
>>> prompt_fingerprint({"prompt_hash": "abc"}) is not None, prompt_fingerprint({})
(True, None)
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NamedTuple

import xxhash

from stream_guard.core.neardup import MIN_WORDS, STOP_WORDS
from stream_guard.core.neardup import sketch as _sketch

if TYPE_CHECKING:
    from stream_guard._native import TextKernel

__all__ = [
    "CATEGORIES", "COT_PATTERN", "PromptSignals", "analyze_prompt", "analyze_prompt_python", "elicits_reasoning",
    "native", "native_panic", "prompt_fingerprint", "template_of", "text_kernel",
]

#: Capability categories, in bit order of :attr:`PromptSignals.categories`.
CATEGORIES: tuple[str, ...] = ("math", "code", "science", "writing", "reasoning", "knowledge", "language", "data")

#: Wording that asks the model to lay out its full reasoning or to grade/explain in detail.
COT_PATTERN = re.compile(
    r"step[- ]by[- ]step"
    r"|show (?:all |your |the |of )*(?:full |complete |detailed |entire )?(?:reasoning|work|thinking|steps|derivation)"
    r"|(?:explain|walk me through|lay out|justify) (?:your|the|each|every) (?:reasoning|thought|step|answer)"
    r"|chain[- ]of[- ]thought"
    r"|reason (?:through|carefully|it out)"
    r"|think (?:carefully|aloud|out loud|through)"
    r"|before (?:giving|answering|you answer).{0,40}(?:reason|think|explain)"
    r"|(?:grade|score|rate|evaluate) (?:this|the following|each|the response).{0,60}(?:rubric|criteria|scale)"
    r"|\brubric\b",
    re.IGNORECASE,
)

# Capability categories by keyword (looked up per distinct word: no regex alternation).
_KEYWORDS: dict[str, str] = {}
for _category, _words in {
    "math": "equation integral derivative probability percent percentage prime fraction polynomial sum "
            "product remainder calculate compute solve arithmetic algebra geometry triangle average ratio",
    "code": "function python java javascript sql code bug compile regex api program script "
            "algorithm array string return def assert implement debug",
    "science": "physics chemistry chemical biology molecule molecular energy cell force velocity atom "
               "reaction gravity organism",
    "writing": "story poem essay letter email song blog speech rewrite summarize summarise paraphrase tone",
    "reasoning": "which true false prove logic logical puzzle infer deduce conclude argument premise",
    "knowledge": "who when history capital century war president country explain",
    "language": "translate translation grammar synonym antonym french spanish german chinese japanese",
    "data": "csv json table dataset extract classify label column rows spreadsheet",
}.items():
    for _word in _words.split():
        _KEYWORDS[_word] = _category
_WORDS = re.compile(r"[a-z]+")
_MC_OPTION = re.compile(r"(?:^|\s|\()([A-E])[).:]\s")
_CODE_TASK = re.compile(
    r"\bassert \w+\(|\bdef \w+\(|>>> \w+\("
    r"|write an? (?:(?:python|java|javascript|typescript|c\+\+|c#|rust|go|sql|bash|recursive|simple|efficient|short) )?"
    r"(?:function|program|method|class|script)\b"
)
_HOW_MUCH = re.compile(r"how (?:many|much|long|far)\b")
_WHAT_IS = re.compile(r"what is the (?:total|sum|value|probability|remainder)\b")
_BIT = {name: 1 << i for i, name in enumerate(CATEGORIES)}

# Masks that turn a prompt into its template: quoted spans, numbers, capitalised names.
_QUOTED = re.compile(r"\"[^\"\n]{1,200}\"|'[^'\n]{1,200}'|`[^`]{1,400}`")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]+")  # a capitalised word mid-sentence
# Words without which COT_PATTERN / _CODE_TASK cannot match: the regexes run only then.
_COT_ANCHORS = frozenset("step steps show explain walk lay justify chain reason think before grade score rate "
                         "evaluate rubric".split())
#: COT_PATTERN cut into its alternatives, each with the words it needs (on lowercased text,
#: without IGNORECASE): a search of the whole alternation is a match of any alternative, so
#: running only the alternatives whose words the prompt has gives the same answer at a
#: fraction of the cost (IGNORECASE alone made the search 2.7x slower; measured on the load
#: generator's real prompts: analyze_prompt 35 -> 24 us on average). On lowercased text
#: IGNORECASE only added Unicode case folds that lower() keeps apart (U+017F, long s, for
#: "s"): a prompt spelling "step" with a long s no longer counts.
_COT_PARTS: tuple[tuple[frozenset[str], re.Pattern[str]], ...] = tuple(
    (frozenset(words.split()), re.compile(part))
    for words, part in (
        ("step", r"step[- ]by[- ]step"),
        ("show", r"show (?:all |your |the |of )*(?:full |complete |detailed |entire )?"
                 r"(?:reasoning|work|thinking|steps|derivation)"),
        ("explain walk lay justify",
         r"(?:explain|walk me through|lay out|justify) (?:your|the|each|every) (?:reasoning|thought|step|answer)"),
        ("chain", r"chain[- ]of[- ]thought"),
        ("reason", r"reason (?:through|carefully|it out)"),
        ("think", r"think (?:carefully|aloud|out loud|through)"),
        ("before", r"before (?:giving|answering|you answer).{0,40}(?:reason|think|explain)"),
        ("grade score rate evaluate",
         r"(?:grade|score|rate|evaluate) (?:this|the following|each|the response).{0,60}(?:rubric|criteria|scale)"),
        ("rubric", r"\brubric\b"),
    )
)


def _asks_reasoning(words: set[str], lower: str) -> bool:
    """``COT_PATTERN`` on lowercased text whose word set is ``words`` (the same answer)."""
    return any(not need.isdisjoint(words) and part.search(lower) is not None for need, part in _COT_PARTS)
_CODE_ANCHORS = frozenset("assert def write".split())
_SCAN = 2000  # chars scanned at each end of a long prompt: instructions sit there


class PromptSignals(NamedTuple):
    """What the text of one prompt shows."""

    cot: bool
    benchmark: bool
    categories: int  # bitmask over CATEGORIES
    template: int  # fingerprint of the masked prompt
    sketch: int | None = None  # near-duplicate signature (neardup), when asked for and the prompt is long enough
    #: the masked prompt (:func:`template_of` of its ends): the cross-account template frames
    #: come from it without masking the text again; never stored or sent (it is prompt text)
    masked: str = ""


def _ends(text: str) -> str:
    return text if len(text) <= 2 * _SCAN else text[:_SCAN] + "\n" + text[-_SCAN:]


def elicits_reasoning(prompt: str) -> bool:
    """Whether a prompt asks for chain-of-thought style reasoning or rubric grading."""
    return COT_PATTERN.search(_ends(prompt)) is not None


def template_of(prompt: str) -> str:
    """The prompt with quoted spans, numbers and mid-sentence names masked, case and spaces
    folded (a name that opens a sentence is kept: it cannot be told from an ordinary word).

    >>> template_of('Translate "good morning" to French for Anna, 3 times.')
    'translate # to # for #, # times.'
    """
    if '"' in prompt or "'" in prompt or "`" in prompt:
        prompt = _QUOTED.sub("#", prompt)
    masked = _NAME.sub("#", _NUMBER.sub("#", prompt))
    return " ".join(masked.lower().split())


def analyze_prompt(prompt: str, *, sketch: bool = False) -> PromptSignals:
    """All text signals of one prompt; with ``sketch``, also its near-duplicate signature
    from the same word set. The compiled kernel reads it when it can (see :func:`native`),
    otherwise :func:`analyze_prompt_python` does: the same signals either way."""
    if _kernel is not None:
        fields = _kernel.analyze(prompt, sketch)
        if fields is not None:
            return PromptSignals._make(fields)
    return analyze_prompt_python(prompt, sketch=sketch)


def analyze_prompt_python(prompt: str, *, sketch: bool = False) -> PromptSignals:
    """The pure-Python reference of :func:`analyze_prompt` (a few C-level regex passes over
    at most 4 kB)."""
    text = _ends(prompt)
    lower = text.lower()
    categories = 0
    words = set(_WORDS.findall(lower))
    for word in words:
        category = _KEYWORDS.get(word)
        if category is not None:
            categories |= _BIT[category]
    multiple_choice = "B" in text and "C" in text and len(set(_MC_OPTION.findall(text))) >= 3
    code_task = (">>>" in text or not words.isdisjoint(_CODE_ANCHORS)) and _CODE_TASK.search(lower) is not None
    # a word problem asks a quantity about numbers it gives ("how long should I boil an egg" does not)
    word_problem = _WHAT_IS.search(lower) is not None or (
        _HOW_MUCH.search(lower) is not None and len(_NUMBER.findall(text)) >= 2
    )
    if multiple_choice:
        categories |= _BIT["reasoning"]
    if code_task:
        categories |= _BIT["code"]
    if word_problem:
        categories |= _BIT["math"]
    cot = not words.isdisjoint(_COT_ANCHORS) and _asks_reasoning(words, lower)
    masked = template_of(text)
    return PromptSignals(cot, multiple_choice or code_task or word_problem, categories,
                         xxhash.xxh3_64_intdigest(masked.encode()), _sketch(words) if sketch else None, masked)


def prompt_fingerprint(event: dict[str, Any]) -> int | None:
    """A stable 64-bit fingerprint of the prompt (case and whitespace folded).

    Falls back to the gateway's ``prompt_hash`` when the text is absent, and to ``None``
    when neither is there. Stable across processes (xxh3), unlike ``hash()``.
    """
    prompt = event.get("prompt")
    if prompt is not None:
        if _kernel is not None:
            fingerprint = _kernel.fingerprint(prompt)
            if fingerprint is not None:
                return fingerprint
        return xxhash.xxh3_64_intdigest(" ".join(prompt.lower().split()).encode())
    prompt_hash = event.get("prompt_hash")
    if prompt_hash is not None:
        return xxhash.xxh3_64_intdigest(prompt_hash.encode())
    return None


# --- the compiled kernel --------------------------------------------------------------------
def _build_kernel() -> TextKernel | None:
    """The compiled text kernel (``stream_guard._native``, built from ``native/`` by ``pip
    install`` when cargo is there), given this module's vocabulary and patterns; ``None``
    when it was not built."""
    try:
        from stream_guard._native import TextKernel
    except ImportError:  # the optional extension was not built (no Rust toolchain at install)
        return None
    return TextKernel(
        keywords={word: _BIT[category] for word, category in _KEYWORDS.items()},
        stop_words=set(STOP_WORDS),
        cot_anchors=set(_COT_ANCHORS),
        cot_parts=[(sorted(need), part.pattern) for need, part in _COT_PARTS],
        code_anchors=set(_CODE_ANCHORS),
        code_task=_CODE_TASK.pattern,
        how_much=_HOW_MUCH.pattern,
        what_is=_WHAT_IS.pattern,
        mc_option=_MC_OPTION.pattern,
        number=_NUMBER.pattern,
        quoted=_QUOTED.pattern,
        scan=_SCAN,
        min_words=MIN_WORDS,
        reasoning_bit=_BIT["reasoning"],
        code_bit=_BIT["code"],
        math_bit=_BIT["math"],
    )


_built = _build_kernel()
_kernel = _built


def native_panic() -> type[BaseException]:
    """The exception a bug (a Rust panic) in the compiled kernels raises: a ``BaseException``,
    so ``except Exception`` misses it; the worker catches it per event too. Without the
    kernels, a class nothing raises."""
    try:
        from stream_guard._native import PanicException
    except ImportError:  # the optional extension was not built: nothing can panic
        return _NeverRaised
    return PanicException


class _NeverRaised(BaseException):
    """Stands for the kernels' panic when they are not built."""


def text_kernel() -> TextKernel | None:
    """The compiled text kernel as built (whatever :func:`native` says), ``None`` when the
    extension was not built."""
    return _built


def native(enabled: bool | None = None) -> bool:
    """Whether the compiled kernel reads prompts (when it was built); ``enabled=False``
    switches to the pure-Python reference (benchmarks compare the two), ``True`` back.

    >>> was = native()
    >>> native(False), native(was) == was
    (False, True)
    """
    global _kernel
    if enabled is not None:
        _kernel = _built if enabled else None
    return _kernel is not None
