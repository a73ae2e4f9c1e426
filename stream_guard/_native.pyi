# Types of the compiled kernel (native/src/lib.rs, built by `pip install` when cargo is there).
from array import array
from collections.abc import Callable
from typing import Any

from stream_guard.core.signals import PromptSignals
from stream_guard.core.state import AccountState

class PanicException(BaseException): ...

class TextKernel:
    def __init__(
        self,
        *,
        keywords: dict[str, int],
        stop_words: set[str],
        cot_anchors: set[str],
        cot_parts: list[tuple[list[str], str]],
        code_anchors: set[str],
        code_task: str,
        how_much: str,
        what_is: str,
        mc_option: str,
        number: str,
        quoted: str,
        scan: int,
        min_words: int,
        reasoning_bit: int,
        code_bit: int,
        math_bit: int,
    ) -> None: ...
    def analyze(self, prompt: str, sketch: bool = False) -> tuple[bool, bool, int, int, int | None, str] | None: ...
    def fingerprint(self, prompt: str) -> int | None: ...
    def reads(self, text: str) -> bool: ...

class AccountKernel:
    def __init__(
        self,
        *,
        kernel: TextKernel,
        fingerprint_fallback: Callable[[dict[str, Any]], int | None],
        analyze_fallback: Callable[..., Any],
        signals_type: Callable[..., Any],
        new_sketch: Callable[[], Any],
        counters: list[str],
        rings: list[tuple[str, int, int]],
        sketch_offset: int,
        sketches: int,
        near: int,
        hour_bits: int,
    ) -> None: ...
    def add(
        self, st: AccountState, event: dict[str, Any], ts: float, sketch_every: int, sketch_all_below: float
    ) -> PromptSignals | None: ...
    @staticmethod
    def feature_order_is(names: list[str]) -> bool: ...
    def features(self, st: AccountState, at: float, near_dup_min_basis: float, out: array[float]) -> None: ...

def majority_mask(masks: list[int], bits: int = 24) -> int: ...
def fitting_rows(
    cols: array[float],
    offsets: list[int],
    median_requests: float,
    major: int,
    min_likeness: float,
    min_volume_term: float,
    min_fit: float,
    young_days: float,
    prior_weight: float,
    likeness_prior: float,
    log4: float,
) -> tuple[list[int], bytes]: ...
