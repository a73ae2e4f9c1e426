"""The compiled text kernel (``stream_guard._native``, native/src/lib.rs) against the
pure-Python reference of ``stream_guard.core.signals``: the same signals for every prompt.

``analyze_prompt`` and ``prompt_fingerprint`` go through the kernel when it reads a prompt
(ASCII without ``\\x1c``-``\\x1f``, or Unicode text whose other characters are all in the
kernel's readable set) and through ``analyze_prompt_python`` otherwise; these tests compare
both paths on generated prompts (hypothesis, biased toward every marker the signals look
for), on every non-ASCII character the kernel reads, on the load generator's prompts and on
prompts past the 4 kB scan.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stream_guard.core import signals
from stream_guard.core.signals import PromptSignals, analyze_prompt, analyze_prompt_python, native, prompt_fingerprint
from stream_guard.loadgen.generator import Generator
from stream_guard.loadgen.scenarios import scenario

FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=3000,
                suppress_health_check=[HealthCheck.too_slow])

# pieces that each exercise a branch of the signals (and of the kernel's own code)
PIECES = [
    "step by step", "Step-by-step", "show all your work", "show the full reasoning", "explain your reasoning",
    "walk me through each step", "chain-of-thought", "reason carefully", "think aloud", "think out loud",
    "before answering, please reason", "grade this essay against the rubric", "rate the response on a scale",
    "Rubric", "rubrics", "A) ", "B) ", "C. ", "D: ", "E) ", "(A) ", "(B) ", "A)x", "assert f(", "def solve(",
    ">>> g(", "write a python function", "Write a recursive script", "how many", "how much", "what is the total",
    "what is the probability", "3", "3.14", "1,000,000", "2.5.1", "Anna", "Bob", ", Carl", "; Dora", "x Eve",
    '"quoted span"', "'single'", "`code span`", '"', "'", "`", "\n", "\t", "\x0b", "\x0c", "\r", "  ",
    "prime", "integral", "python", "sql", "physics", "poem", "translate", "csv", "history", "logic", "the", "of",
    "please", "don't", "é", "Ünïcode", "\u00a0", "\x1c", "\x1f", "\x85", "ſtep by ſtep", "İ", "K",
    "\u2019", "\u201cq\u201d", "\u2014", "\u2026", "\u00bd", "\u0436\u0416", "\u03a3\u03c3", "\u4e00\u6b65",
    "\uff11\uff12", "\U0001f600", "\u3000", "\u2212", "\u0301", "\u00c9TAPE",
]
WORD = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
PROMPTS = st.lists(st.one_of(st.sampled_from(PIECES), WORD), max_size=40).map(" ".join) | st.lists(
    st.one_of(st.sampled_from(PIECES), WORD), max_size=40).map("".join)

needs_kernel = pytest.mark.skipif(not native(), reason="the compiled kernel is not built (see test_kernel_is_built)")


def both(prompt: str, *, sketch: bool) -> tuple[object, object]:
    """(what analyze_prompt gives, what the Python reference gives) for one prompt."""
    return analyze_prompt(prompt, sketch=sketch), analyze_prompt_python(prompt, sketch=sketch)


def python_fingerprint(prompt: str) -> int | None:
    was = native()
    native(False)
    try:
        return prompt_fingerprint({"prompt": prompt})
    finally:
        native(was)


def test_kernel_is_built() -> None:
    # scripts/setup installs a Rust toolchain where it can and `pip install -e .` builds the
    # kernel; without it the package still works (the Python path), slower: this test says so
    assert native(), "stream_guard._native was not built: install cargo (scripts/setup does) and `pip install -e .`"


@needs_kernel
@FUZZ
@given(PROMPTS, st.booleans())
@example("(A) 1 (B) 2 (C) 3", False)
@example("Q: A) 1\nB) 2\nC) 3", False)
@example("Think step by step: a b c d e f g h", True)
def test_kernel_matches_python_on_generated_prompts(prompt: str, sketch: bool) -> None:
    got, want = both(prompt, sketch=sketch)
    assert got == want
    assert prompt_fingerprint({"prompt": prompt}) == python_fingerprint(prompt)


@needs_kernel
@pytest.mark.parametrize("size", [3999, 4000, 4001, 4002, 9000])
def test_kernel_matches_python_past_the_scan(size: int) -> None:
    unit = "Q1. Think step by step: how many primes below 100? A) 25 B) 24 C) 26 Anna said \"x\". "
    prompt = (unit * (size // len(unit) + 1))[:size]
    for sketch in (False, True):
        got, want = both(prompt, sketch=sketch)
        assert got == want
    assert prompt_fingerprint({"prompt": prompt}) == python_fingerprint(prompt)


@needs_kernel
def test_kernel_matches_python_on_load_generator_prompts() -> None:
    prompts = [e["prompt"] for e in itertools.islice(Generator(scenario("smoke")).events(), 20000)
               if isinstance(e.get("prompt"), str)]
    assert len(prompts) > 1000
    read = 0
    for prompt in prompts:
        got, want = both(prompt, sketch=True)
        assert got == want
        read += signals._kernel is not None and signals._kernel.analyze(prompt) is not None
    assert read > 0.9 * len(prompts)  # the kernel, not the fallback, read these


def probes(c: str) -> list[str]:
    """Prompts around one character that show how it is read: alone and between words
    (lower-casing, whitespace, words), next to `\\w`-sensitive markers, digits and options,
    next to names and quotes, and in a prompt past the 4 kB scan (where the ends are cut)."""
    return [
        c, f"a{c}b",
        f"Assert f{c}(x) and write a{c}python function; rubric{c} {c}rubric {c}",
        f"How many {c} apples, {c}{c}1 and 2{c}3? A){c}x B){c}y C){c}z",
        f"hello {c}Anna,{c} Bob;{c}Carl x{c}Dora \"q{c}\" '{c}' `{c}` think{c}aloud step{c}by step",
    ]


@needs_kernel
def test_kernel_matches_python_on_every_character_it_reads() -> None:
    # every non-ASCII code point the kernel reads (~44k), each in every probe: the kernel's
    # readable set is exactly where Rust's and Python's Unicode tables agree for the signals
    kernel = signals._kernel
    assert kernel is not None
    readable = [chr(cp) for cp in range(0x80, 0x30000) if not 0xD800 <= cp <= 0xDFFF and kernel.reads(chr(cp))]
    assert len(readable) > 40000
    differ = []
    for i, c in enumerate(readable):
        cases = probes(c) + ([("word" + c + " ") * 900] if i % 64 == 0 else [])
        for prompt in cases:
            got = kernel.analyze(prompt, True)
            assert got is not None
            if PromptSignals._make(got) != analyze_prompt_python(prompt, sketch=True) or (
                    kernel.fingerprint(prompt) != python_fingerprint(prompt)):
                differ.append(hex(ord(c)))
                break
    assert differ == []


@needs_kernel
@pytest.mark.parametrize("prompt", [
    "a\x1cb step by step", "x\x1f", "\u0130stanbul: show your work", "\u00bd cup", "caf\u0065\u0301",
    "\u05e9\u05dc\u05d5\u05dd", "\u0928\u092e\u0938\u094d\u0924\u0947", "\U000e0041",
])
def test_text_the_kernel_does_not_read_goes_to_python(prompt: str) -> None:
    # separators, İ, a fraction, a combining accent, Hebrew, Devanagari, a tag character
    assert signals._kernel is not None and signals._kernel.analyze(prompt) is None
    assert not signals._kernel.reads(prompt)
    assert analyze_prompt(prompt) == analyze_prompt_python(prompt)
    assert prompt_fingerprint({"prompt": prompt}) == python_fingerprint(prompt)


@needs_kernel
def test_kernel_declines_a_lone_surrogate() -> None:
    # not UTF-8: the kernel says so instead of raising (events never carry one: orjson
    # rejects them while decoding, and the Python path would fail to hash one)
    assert signals._kernel is not None
    assert signals._kernel.analyze("a\ud800b", True) is None
    assert signals._kernel.fingerprint("\udfff") is None
    assert not signals._kernel.reads("\ud800")


@needs_kernel
@pytest.mark.parametrize("prompt", [
    "Caf\u00e9 \u201cquoted\u201d \u2014 step by step\u2026", "\u041f\u0440\u0438\u0432\u0435\u0442, show your work",
    "\u03a3\u039f\u03a6\u0399\u0391\u03a3 think carefully",
    "\u4f60\u597d\uff0c\u8bf7\u4e00\u6b65\u4e00\u6b65\u601d\u8003",
    "\U0001f680 launch \u2192 A)\u00a0x B)\u00a0y C)\u00a0z", "\uff28\uff45\uff4c\uff4c\uff4f \uff11\uff12\uff13",
])
def test_kernel_reads_common_non_ascii_text(prompt: str) -> None:
    assert signals._kernel is not None and signals._kernel.reads(prompt)
    for sketch in (False, True):
        got, want = both(prompt, sketch=sketch)
        assert got == want


def test_switching_the_kernel_off_gives_the_same_signals() -> None:
    prompt = "Q7. Which is prime? A) 4 B) 9 C) 11 D) 12. Think step by step, Anna."
    was = native()
    try:
        native(False)
        assert not native()
        off = analyze_prompt(prompt, sketch=True)
    finally:
        native(was)
    assert native() == was
    assert analyze_prompt(prompt, sketch=True) == off
