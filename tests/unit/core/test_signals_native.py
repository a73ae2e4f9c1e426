"""The compiled text kernel (``stream_guard._native``, native/src/lib.rs) against the
pure-Python reference of ``stream_guard.core.signals``: the same signals for every prompt.

``analyze_prompt`` and ``prompt_fingerprint`` go through the kernel when it reads a prompt
(ASCII without ``\\x1c``-``\\x1f``) and through ``analyze_prompt_python`` otherwise; these
tests compare both paths on generated prompts (hypothesis, biased toward every marker the
signals look for), on the load generator's prompts and on prompts past the 4 kB scan.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stream_guard.core import signals
from stream_guard.core.signals import analyze_prompt, analyze_prompt_python, native, prompt_fingerprint
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
        assert both(prompt, sketch=True) == (analyze_prompt_python(prompt, sketch=True),) * 2
        read += signals._kernel is not None and signals._kernel.analyze(prompt) is not None
    assert read > 0.9 * len(prompts)  # the kernel, not the fallback, read these


@needs_kernel
@pytest.mark.parametrize("prompt", ["héllo step by step", "a\x1cb step by step", "naïve: show your work"])
def test_text_the_kernel_does_not_read_goes_to_python(prompt: str) -> None:
    assert signals._kernel is not None and signals._kernel.analyze(prompt) is None
    assert analyze_prompt(prompt) == analyze_prompt_python(prompt)


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
