"""Per-event signals: what one request tells about its account, computed in O(1).

Raw prompt text never leaves this module: it is reduced to a 64-bit fingerprint and a
few marker flags.

>>> elicits_reasoning("Solve this. Think step by step and show your full reasoning.")
True
>>> elicits_reasoning("What is a good name for a cat?")
False
>>> prompt_fingerprint({"prompt": "Hello  World"}) == prompt_fingerprint({"prompt": "hello world"})
True
>>> prompt_fingerprint({"prompt_hash": "abc"}) is not None, prompt_fingerprint({})
(True, None)
"""

from __future__ import annotations

import re
from typing import Any

import xxhash

__all__ = ["COT_PATTERN", "elicits_reasoning", "prompt_fingerprint"]

#: Wording that asks the model to lay out its full reasoning or to grade/explain in
#: detail: the outputs that distillation wants most. Matched case-insensitively.
COT_PATTERN = re.compile(
    r"step[- ]by[- ]step"
    r"|show (?:all |your |the )?(?:full |complete |detailed )?(?:reasoning|work|thinking|steps)"
    r"|(?:explain|walk me through|lay out) (?:your|the|each|every) (?:reasoning|thought|step)"
    r"|chain[- ]of[- ]thought"
    r"|reason (?:through|carefully|it out)"
    r"|think (?:carefully|aloud|out loud|through)"
    r"|before (?:giving|answering|you answer).{0,40}(?:reason|think|explain)"
    r"|(?:grade|score|rate) (?:this|the following|each).{0,60}(?:rubric|criteria|scale)"
    r"|rubric",
    re.IGNORECASE,
)
_SCAN = 2000  # chars scanned at each end of a long prompt: instructions sit there


def elicits_reasoning(prompt: str) -> bool:
    """Whether a prompt asks for chain-of-thought style reasoning or rubric grading."""
    if len(prompt) > 2 * _SCAN:
        return bool(COT_PATTERN.search(prompt, 0, _SCAN) or COT_PATTERN.search(prompt, len(prompt) - _SCAN))
    return COT_PATTERN.search(prompt) is not None


def prompt_fingerprint(event: dict[str, Any]) -> int | None:
    """A stable 64-bit fingerprint of the prompt (case and whitespace folded).

    Falls back to the gateway's ``prompt_hash`` when the text is absent, and to ``None``
    when neither is there. Stable across processes (xxh3), unlike ``hash()``.
    """
    prompt = event.get("prompt")
    if prompt is not None:
        return xxhash.xxh3_64_intdigest(" ".join(prompt.lower().split()).encode())
    prompt_hash = event.get("prompt_hash")
    if prompt_hash is not None:
        return xxhash.xxh3_64_intdigest(prompt_hash.encode())
    return None
