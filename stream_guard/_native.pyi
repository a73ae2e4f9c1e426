# Types of the compiled kernel (native/src/lib.rs, built by `pip install` when cargo is there).
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
