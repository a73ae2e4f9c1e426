"""Per-prompt text signals (stream_guard.core.signals): pure functions on hand-made prompts.

Each test feeds prompts written here and checks what ``analyze_prompt``, ``template_of``,
``elicits_reasoning`` and ``prompt_fingerprint`` compute. Known misclassifications are
``xfail(strict=True)`` with the reason: they turn red the day the detector is fixed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from stream_guard.core.signals import (
    CATEGORIES,
    PromptSignals,
    analyze_prompt,
    elicits_reasoning,
    prompt_fingerprint,
    template_of,
)

ROOT = Path(__file__).resolve().parents[3]
SCAN = 2000  # the module promises: only the first and the last 2000 characters are scanned


def categories(sig: PromptSignals) -> set[str]:
    return {name for i, name in enumerate(CATEGORIES) if sig.categories >> i & 1}


def filler(n: int) -> str:
    """``n`` characters of neutral text: no marker, keyword, number, name or quote."""
    unit = "lorem ipsum dolor sit amet consectetur "
    return (unit * (n // len(unit) + 1))[:n]


# --- chain-of-thought elicitation ---------------------------------------------------------------

COT_VARIANTS = [
    "Think step by step.",
    "Let's think step-by-step about this.",
    "THINK STEP BY STEP",
    "Solve it step by step and give the final number.",
    "Show your full reasoning.",
    "Please show your work.",
    "Show the complete derivation of the formula.",
    "Show all steps.",
    "Explain your reasoning before the answer.",
    "Walk me through each step of the proof.",
    "Lay out the reasoning behind the verdict.",
    "Justify your answer.",
    "Use chain-of-thought.",
    "Use a chain of thought, then answer.",
    "Reason through the problem carefully.",
    "Reason it out before you commit.",
    "Think carefully about edge cases.",
    "Think aloud while you solve it.",
    "Think out loud.",
    "Before answering, please explain what you think the trick is.",
    "Grade this essay against the rubric below.",
    "Score the response on a scale from 1 to 10.",
    "Evaluate each answer using these criteria: accuracy, clarity.",
    "Use the rubric.",
]


@pytest.mark.parametrize("prompt", COT_VARIANTS)
def test_cot_wording_variants_are_recognised(prompt: str) -> None:
    assert analyze_prompt(prompt).cot is True
    assert elicits_reasoning(prompt) is True


COT_NON_MATCHES = [
    "What is a good name for a cat?",
    "I took a step back and watched the show.",
    "Show me the way to the station.",
    "Explain quantum computing to a child.",
    "Think of a number for the raffle.",
    "The steps are on the left of the building.",
    "What is the exchange rate of the euro?",
    "Before you go, grab a coffee.",
    "Chain the dog to the fence.",
    "Grade school reading list, please.",
]


@pytest.mark.parametrize("prompt", COT_NON_MATCHES)
def test_ordinary_wording_does_not_count_as_cot(prompt: str) -> None:
    assert analyze_prompt(prompt).cot is False
    assert elicits_reasoning(prompt) is False


def test_show_all_your_reasoning_counts_as_cot() -> None:
    assert analyze_prompt("Show all your reasoning.").cot is True


# --- benchmark shapes ---------------------------------------------------------------------------

WORD_PROBLEMS = [
    "Tom has 5 apples and buys 3 more. How many apples does he have now?",
    "A tank holds 40 litres and leaks 2 litres a day. How long until it is empty?",
    "A train travels 60 km in 45 minutes. How far does it travel in 2 hours?",
    "What is the probability of rolling two sixes with two dice?",
    "What is the remainder when 100 is divided by 7?",
    "Pens cost 3 dollars each. What is the total for 12 pens?",
]


@pytest.mark.parametrize("prompt", WORD_PROBLEMS)
def test_math_word_problems_are_benchmark_shaped_and_math(prompt: str) -> None:
    sig = analyze_prompt(prompt)
    assert sig.benchmark is True
    assert "math" in categories(sig)


CODE_TASKS = [
    "Write a function is_even(n) with unit tests.",
    "Write a Python function that reverses a linked list.",
    "Write a program that prints the first primes.",
    "def add(a, b):\n    \"\"\"Return a plus b.\"\"\"\n",
    "Make this pass: assert reverse('ab') == 'ba'",
    "Implement so that:\n>>> fib(10)\n55",
]


@pytest.mark.parametrize("prompt", CODE_TASKS)
def test_code_tasks_with_tests_or_signatures_are_benchmark_shaped_and_code(prompt: str) -> None:
    sig = analyze_prompt(prompt)
    assert sig.benchmark is True
    assert "code" in categories(sig)


MULTIPLE_CHOICE = [
    "Which planet is largest? A) Mars B) Jupiter C) Venus",
    "Pick one: (A) red (B) green (C) blue (D) yellow",
    "Capital of Peru?\nA) Lima\nB) Quito\nC) Bogota\nD) Santiago\nE) Caracas",
]


@pytest.mark.parametrize("prompt", MULTIPLE_CHOICE)
def test_multiple_choice_with_three_or_more_options_is_benchmark_shaped(prompt: str) -> None:
    sig = analyze_prompt(prompt)
    assert sig.benchmark is True
    assert "reasoning" in categories(sig)


@pytest.mark.parametrize("prompt", [
    "Is it tea or coffee? A) tea B) coffee",   # two options
    "Options: A) x A) y A) z",                # one letter three times
])
def test_fewer_than_three_distinct_options_is_not_multiple_choice(prompt: str) -> None:
    assert analyze_prompt(prompt).benchmark is False


ORDINARY_CHAT = [
    "Can you help me write a cover letter?",
    "What is the capital of France?",
    "Summarize this article about climate policy for my newsletter.",
    "Hi! How are you today?",
    "Plan a 3-day trip to Rome for two.",
    "What is the best way to learn the piano as an adult?",
    "I wrote a function yesterday and now my script crashes.",
    "Fix this bug please: TypeError in my script.",
    "Translate 'good morning' into Spanish.",
]


@pytest.mark.parametrize("prompt", ORDINARY_CHAT)
def test_ordinary_chat_is_not_benchmark_shaped(prompt: str) -> None:
    sig = analyze_prompt(prompt)
    assert sig.benchmark is False
    assert sig.cot is False


@pytest.mark.parametrize("prompt", [
    "How long should I boil an egg?",
    "How much does a flight to Tokyo cost in May?",
])
def test_everyday_how_questions_are_not_word_problems(prompt: str) -> None:
    assert analyze_prompt(prompt).benchmark is False


@pytest.mark.parametrize("prompt", [
    "Write an essay about class inequality in Victorian novels.",
    "Write a methodology section for my thesis.",
])
def test_writing_requests_are_not_code_tasks(prompt: str) -> None:
    sig = analyze_prompt(prompt)
    assert sig.benchmark is False
    assert "code" not in categories(sig)


def test_multiple_choice_with_dotted_options_is_benchmark_shaped() -> None:
    prompt = "Which city is the capital of France?\nA. Paris\nB. London\nC. Rome\nD. Berlin\nAnswer:"
    assert analyze_prompt(prompt).benchmark is True


# --- capability categories ----------------------------------------------------------------------

@pytest.mark.parametrize(("prompt", "expected"), [
    ("Translate this poem into French.", {"language", "writing"}),
    ("Which chemical reaction releases the most energy?", {"reasoning", "science"}),
    ("Extract the rows of this csv into a json table.", {"data"}),
    ("Who was president during the war?", {"knowledge"}),
    ("Compute the integral of x squared.", {"math"}),
    ("Debug my python script.", {"code"}),
    ("lorem ipsum dolor", set()),
])
def test_categories_bitmask_follows_keywords(prompt: str, expected: set[str]) -> None:
    sig = analyze_prompt(prompt)
    assert categories(sig) == expected
    assert 0 <= sig.categories < 1 << len(CATEGORIES)
    assert sig.categories == sum(1 << CATEGORIES.index(name) for name in expected)


def test_categories_match_whole_words_only() -> None:
    # "summertime" contains "sum", "functionality" contains "function", "classy" contains "class"
    assert analyze_prompt("Tell me about summertime functionality, classy.").categories == 0


def test_categories_accumulate_over_a_prompt() -> None:
    sig = analyze_prompt("Write a python function to compute the probability, then a poem about it.")
    assert {"code", "math", "writing"} <= categories(sig)


# --- templates ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b"), [
    ("Solve 12 + 7. Think step by step.", "Solve 3 + 41. Think step by step."),
    ("The price is 3.14 or 1,000.50 today", "The price is 2 or 7 today"),
    ('Translate "good morning" to French.', 'Translate "see you tomorrow" to French.'),
    ("Translate 'good morning' to French.", "Translate 'thank you' to French."),
    ("Explain `x = a if b else c` briefly.", "Explain `lambda y: y` briefly."),
    ("Write a poem for Anna about spring.", "Write a poem for Boris about spring."),
    ("Hello   World,\nhow are you", "hello world, HOW ARE you"),
])
def test_two_fills_of_one_template_share_it(a: str, b: str) -> None:
    assert template_of(a) == template_of(b)
    assert analyze_prompt(a).template == analyze_prompt(b).template


@pytest.mark.parametrize(("a", "b"), [
    ("Solve 12 + 7. Think step by step.", "Factor 12 + 7. Think step by step."),
    ("Write a poem about spring.", "Write a story about spring."),
    ("Translate 'hi' to French.", "Summarise 'hi' in French."),
])
def test_different_templates_differ(a: str, b: str) -> None:
    assert template_of(a) != template_of(b)
    assert analyze_prompt(a).template != analyze_prompt(b).template


def test_template_masks_numbers_quotes_and_mid_sentence_names() -> None:
    t = template_of('Remind Maria that "the report" is due in 3 days.')
    assert "3" not in t and "report" not in t and "maria" not in t
    assert t.count("#") == 3


@pytest.mark.xfail(strict=True, reason="_NAME masks only capitalised words after a lowercase letter, ',' or "
                   "';': names opening a sentence (as in GSM8K-style word problems) stay, so two fills differ")
def test_names_opening_a_sentence_are_masked_too() -> None:
    a = "Alice has 3 apples. Bob gives her 2 more. How many apples does she have?"
    b = "Carol has 5 apples. Dave gives her 4 more. How many apples does she have?"
    assert analyze_prompt(a).template == analyze_prompt(b).template


# --- fingerprints -------------------------------------------------------------------------------

def test_fingerprint_folds_case_and_whitespace() -> None:
    base = prompt_fingerprint({"prompt": "hello world"})
    assert prompt_fingerprint({"prompt": "Hello  World"}) == base
    assert prompt_fingerprint({"prompt": "  HELLO\n\tworld "}) == base
    assert prompt_fingerprint({"prompt": "hello world!"}) != base
    assert prompt_fingerprint({"prompt": "hello there world"}) != base


def test_fingerprint_is_a_64_bit_int() -> None:
    fp = prompt_fingerprint({"prompt": "anything"})
    assert isinstance(fp, int) and 0 <= fp < 2**64


def test_fingerprint_falls_back_to_the_prompt_hash() -> None:
    a = prompt_fingerprint({"prompt_hash": "sha256:aaaa"})
    assert a is not None
    assert prompt_fingerprint({"prompt_hash": "sha256:aaaa"}) == a
    assert prompt_fingerprint({"prompt_hash": "sha256:bbbb"}) != a


def test_prompt_text_wins_over_the_hash() -> None:
    assert (prompt_fingerprint({"prompt": "Some text", "prompt_hash": "h1"})
            == prompt_fingerprint({"prompt": "some text", "prompt_hash": "h2"}))


def test_no_prompt_and_no_hash_gives_none() -> None:
    assert prompt_fingerprint({}) is None
    assert prompt_fingerprint({"prompt": None, "prompt_hash": None}) is None


def test_fingerprints_are_stable_across_processes() -> None:
    # Python's hash() is salted per process; the fingerprints must not be (checkpoints, replay).
    code = ("from stream_guard.core.signals import analyze_prompt, prompt_fingerprint; "
            "print(prompt_fingerprint({'prompt': 'Stable?'}), analyze_prompt('Solve 1 + 2').template)")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           cwd=ROOT, env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout
            for seed in ("1", "2")}
    here = f"{prompt_fingerprint({'prompt': 'Stable?'})} {analyze_prompt('Solve 1 + 2').template}\n"
    assert outs == {here}


# --- long prompts: only the ends are scanned ----------------------------------------------------

def test_a_marker_in_the_middle_of_a_long_prompt_is_not_scanned() -> None:
    prompt = filler(3000) + " think step by step " + filler(3000)
    assert analyze_prompt(prompt).cot is False
    assert elicits_reasoning(prompt) is False


def test_markers_at_either_end_of_a_long_prompt_are_scanned() -> None:
    head = "Think step by step. " + filler(8000)
    tail = filler(8000) + " Think step by step."
    assert analyze_prompt(head).cot and analyze_prompt(tail).cot
    assert elicits_reasoning(head) and elicits_reasoning(tail)


def test_the_scanned_ends_are_2000_characters_each() -> None:
    marker = " what is the total "  # a word problem marker, no CoT anchor
    inside = filler(SCAN - len(marker)) + marker + filler(5000)   # ends exactly at char 2000
    outside = filler(SCAN) + marker + filler(5000)                # starts at char 2000
    assert analyze_prompt(inside).benchmark is True
    assert analyze_prompt(outside).benchmark is False
    tail_inside = filler(5000) + marker + filler(SCAN - len(marker))
    tail_outside = filler(5000) + marker + filler(SCAN)
    assert analyze_prompt(tail_inside).benchmark is True
    assert analyze_prompt(tail_outside).benchmark is False


def test_a_prompt_up_to_twice_the_scan_length_is_scanned_whole() -> None:
    prompt = filler(SCAN - 2) + " rubric " + filler(SCAN - 8)
    assert len(prompt) <= 2 * SCAN
    assert analyze_prompt(prompt).cot is True


def test_keywords_in_the_middle_of_a_long_prompt_add_no_category() -> None:
    assert analyze_prompt(filler(3000) + " python integral poem " + filler(3000)).categories == 0


def test_long_prompts_differing_only_in_the_middle_share_a_template_not_a_fingerprint() -> None:
    a = "Summarise: " + filler(3000) + " alpha " + filler(3000) + " End."
    b = "Summarise: " + filler(3000) + " omega " + filler(3000) + " End."
    assert analyze_prompt(a).template == analyze_prompt(b).template
    assert prompt_fingerprint({"prompt": a}) != prompt_fingerprint({"prompt": b})


def test_the_cut_cot_search_gives_the_whole_patterns_answer() -> None:
    """analyze_prompt runs only the COT_PATTERN alternatives whose words a prompt has; on
    any text that must agree with the whole pattern (random mixes of its own words)."""
    import random
    import re

    from stream_guard.core import signals

    vocab = ("step by step-by-step show all your the full work reasoning explain walk me through lay out "
             "justify each every thought answer chain of thought chain-of-thought reason through carefully "
             "it out think aloud out loud before giving answering you answer please grade score rate "
             "evaluate this the following response using a rubric criteria scale rubrics stepwise").split()
    rnd = random.Random(11)
    texts = [" ".join(rnd.choice(vocab) for _ in range(rnd.randint(1, 25))) for _ in range(20_000)]
    hits = 0
    for text in texts:
        lower = text.lower()
        words = set(re.findall(r"[a-z]+", lower))
        whole = not words.isdisjoint(signals._COT_ANCHORS) and signals.COT_PATTERN.search(lower) is not None
        assert signals._asks_reasoning(words, lower) == whole, text
        hits += whole
    assert 1_000 < hits < 19_000  # both answers occur often
