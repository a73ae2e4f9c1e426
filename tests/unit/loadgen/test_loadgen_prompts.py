"""Prompt sources: built-in generator, corpora loading, determinism."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

from stream_guard.loadgen.generator import Generator
from stream_guard.loadgen.prompts import PromptLibrary, TaskSource, load_corpora
from stream_guard.loadgen.scenarios import scenario


def test_builtin_sources_are_varied_and_deterministic() -> None:
    lib = PromptLibrary.builtin()
    rng = random.Random(3)
    chats = [lib.chat.draw(rng) for _ in range(2000)]
    assert len(set(chats)) > 1500 and all(chats)
    assert [lib.chat.draw(random.Random(9)) for _ in range(3)] == [
        lib.chat.draw(random.Random(9)) for _ in range(3)
    ]
    tasks = [lib.tasks.task(i) for i in range(3000)]
    assert len(set(tasks)) > 2500
    assert any("Write a Python function" in t for t in tasks)
    assert any("multiple choice" in t for t in tasks)
    assert any("How many" in t for t in tasks)
    other = lib.tasks.with_salt(99)
    assert [other.task(i) for i in range(20)] != tasks[:20]
    assert lib.agent.tool_result(rng).startswith("Tool result")
    assert all(lib.saas[d].draw(rng) for d in lib.saas)


def test_chat_lengths_roughly_follow_arena_hard() -> None:
    lib = PromptLibrary.builtin()
    rng = random.Random(1)
    lengths = sorted(len(lib.chat.draw(rng)) for _ in range(4000))
    median = lengths[len(lengths) // 2]
    assert 60 <= median <= 300  # Arena-Hard median is 136 characters
    assert lengths[int(0.95 * len(lengths))] > 400  # long pasted contexts in the tail


def test_corpora_are_sorted_by_fields(tmp_path: Path) -> None:
    (tmp_path / "arena").mkdir()
    (tmp_path / "arena" / "q.jsonl").write_text(
        json.dumps({"uid": "1", "category": "x", "cluster": "y", "prompt": "Tell me about tea."}) + "\n"
    )
    (tmp_path / "gsm.jsonl").write_text(json.dumps({"question": "2+2?", "answer": "4"}) + "\n\n")
    with gzip.open(tmp_path / "he.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({"task_id": "H/0", "prompt": "def f():\n", "entry_point": "f"}) + "\n")
    (tmp_path / "mbpp.jsonl").write_text(
        json.dumps({"text": "Write a function.", "test_list": ["assert f(1) == 1"], "task_id": 1}) + "\n"
    )
    (tmp_path / "ignored.txt").write_text("not a corpus")
    c = load_corpora(tmp_path)
    assert c.chat == ("Tell me about tea.",)
    assert c.math == ("2+2?",)
    assert c.code[0] == "def f():\n" and c.code[1].endswith("assert f(1) == 1")
    assert len(c.files) == 4
    assert set(c.tasks) == {"2+2?", "def f():\n", c.code[1]}
    src = TaskSource(c.tasks)
    assert src.size == 3 and src.task(0) == src.task(3)


def test_generator_uses_corpora_and_builtin_cot_templates(tmp_path: Path) -> None:
    (tmp_path / "gsm.jsonl").write_text(
        "".join(json.dumps({"question": f"Corpus problem {i}?", "answer": "1"}) + "\n" for i in range(50))
    )
    lib = PromptLibrary.builtin(load_corpora(tmp_path))
    gen = Generator(scenario("smoke", duration="2h", campaigns="blunt", blunt_start="0"), prompts=lib)
    events = list(gen.events())
    kind = {a: e["kind"] for a, e in gen.labels_doc()["accounts"].items()}
    blunt = [e["prompt"] for e in events if kind[e["account_id"]] == "blunt" and "prompt" in e]
    assert blunt and all("Corpus problem" in p for p in blunt)
    phrases = ("step by step", "step-by-step", "reasoning", "chain of thought")
    assert all(any(ph in p for ph in phrases) for p in blunt)
