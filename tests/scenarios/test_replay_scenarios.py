"""Scenario tests through `replay`: extractors are flagged with the right reasons, the hard
benign accounts (SaaS integrators, agentic coding tools, batch jobs, evaluation runs that ask
for answers) are not. Traffic comes from the load generator (`stream_guard.loadgen`), which
was written separately from the detector and calibrated on public traces.

With the graded evidence (the default) `low` is a watch level, so "not flagged" means no
alert at `medium` or above; the v1 rules (``per_account_evaluators=volume,pattern,population``)
are checked on the same traffic with their own detectors and "no alert at all"."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from stream_guard.loadgen.generator import Generator
from stream_guard.loadgen.scenarios import scenario
from stream_guard.replay import replay
from stream_guard.settings import Settings

V1 = Settings(per_account_evaluators="volume,pattern,population", alert_episodes=False)
SERIOUS = ("medium", "high", "critical")


def run(tmp: Path, settings: Settings | None = None, **knobs: Any) -> dict[str, Any]:
    gen = Generator(scenario("standard", **knobs))
    path = tmp / "events.jsonl"
    prompts: dict[str, list[str]] = defaultdict(list)
    with path.open("wb") as fh:
        for key, line in gen.lines():
            fh.write(line + b"\n")
            if b'"prompt":' in line:
                prompts[key.decode()].append(line.decode())
    labels = gen.labels_doc()["accounts"]
    report = replay(path, settings or Settings())
    alerts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for alert in report.alerts:
        for account in alert["account_ids"]:
            alerts[account].append(alert)
    return {"labels": labels, "alerts": alerts, "prompts": prompts}


def of_kind(result: dict[str, Any], kind: str) -> list[str]:
    return [a for a, info in result["labels"].items() if info["kind"] == kind and info.get("events", 1) > 0]


def signals(alerts: list[dict[str, Any]]) -> set[str]:
    return {r["signal"] for a in alerts for r in a["reasons"]}


MIXED = {"seed": 11, "duration": "2d", "benign_accounts": 150,
         "benign_mix": "saas=0.25,coding_agent=0.35,eval_run=0.2,batch=0.1,chat=0.1",
         "campaigns": "blunt,slow_cot", "slow_accounts": 2}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run(tmp_path_factory.mktemp("mixed"), **MIXED)


@pytest.fixture(scope="module")
def mixed_v1(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run(tmp_path_factory.mktemp("mixed-v1"), V1, **MIXED)


def serious(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in alerts if a["severity"] in SERIOUS]


def test_the_blunt_extractor_is_flagged_within_minutes_with_weighed_reasons(mixed: dict[str, Any]) -> None:
    (blunt,) = of_kind(mixed, "blunt")
    alerts = mixed["alerts"][blunt]
    assert serious(alerts) and all("evidence_score" in a["detectors"] for a in alerts)
    assert {"long_outputs", "evidence"} <= signals(alerts)
    assert all("weight" in r for a in alerts for r in a["reasons"] if r["signal"] != "population_anomaly"
               and "population_model" not in a["detectors"])


def test_slow_cot_extractors_are_flagged(mixed: dict[str, Any]) -> None:
    slow = of_kind(mixed, "slow_cot")
    assert len(slow) == 2
    for account in slow:
        assert serious(mixed["alerts"][account]), f"{account} (~30 requests/day) not flagged at medium or above"


def high(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in alerts if a["severity"] in ("high", "critical")]


@pytest.mark.parametrize("kind", ["saas", "coding_agent", "batch", "chat"])
def test_hard_benign_accounts_are_not_flagged(mixed: dict[str, Any], kind: str) -> None:
    """None at high (the level issue 12 sets the false-positive target at); at medium, a young
    integrator working around the clock can be a review item: at most 1 in 20."""
    accounts = of_kind(mixed, kind)
    assert accounts
    assert [a for a in accounts if high(mixed["alerts"].get(a, []))] == []
    reviewed = [a for a in accounts if serious(mixed["alerts"].get(a, []))]
    assert len(reviewed) <= 0.05 * len(accounts), reviewed


def test_evaluation_runs_that_ask_for_answers_are_not_flagged(mixed: dict[str, Any]) -> None:
    runs = of_kind(mixed, "eval_run")
    assert runs
    asks_reasoning = re.compile(r"step by step|reasoning|think|explain", re.IGNORECASE)
    answer_only = [a for a in runs if not any(asks_reasoning.search(p) for p in mixed["prompts"][a])]
    assert answer_only, "the scenario should hold evaluation runs without chain-of-thought prompts"
    assert [a for a in answer_only if serious(mixed["alerts"].get(a, []))] == []
    # no evaluation run at high: an instant reading is at most medium, and a few hours of a
    # burst do not sum to high (docs/detection.md, section 5.0)
    assert [a for a in runs if high(mixed["alerts"].get(a, []))] == []


# --- the v1 rules on the same traffic -------------------------------------------------------------

def test_v1_the_blunt_extractor_is_flagged_by_volume_with_content_reasons(mixed_v1: dict[str, Any]) -> None:
    (blunt,) = of_kind(mixed_v1, "blunt")
    alerts = mixed_v1["alerts"][blunt]
    assert any("volume_rule" in a["detectors"] for a in alerts)
    assert {"cot_share_long", "mean_output_tokens_long"} <= signals(alerts)
    assert max(a["severity"] for a in alerts) in {"high", "critical", "medium"}


def test_v1_slow_cot_extractors_are_flagged_by_their_day_pattern(mixed_v1: dict[str, Any]) -> None:
    slow = of_kind(mixed_v1, "slow_cot")
    assert len(slow) == 2
    for account in slow:
        alerts = mixed_v1["alerts"][account]
        assert alerts, f"{account} (~30 requests/day) not flagged"
        assert all("pattern_rule" in a["detectors"] for a in alerts)
        assert {"cot_share_day", "first_turn_share_day", "distinct_ratio_day"} <= signals(alerts)


@pytest.mark.parametrize("kind", ["saas", "coding_agent", "batch", "chat"])
def test_v1_hard_benign_accounts_are_not_flagged(mixed_v1: dict[str, Any], kind: str) -> None:
    accounts = of_kind(mixed_v1, kind)
    assert accounts and [a for a in accounts if mixed_v1["alerts"].get(a)] == []


def test_hash_only_traffic_still_flags_the_blunt_extractor_and_not_integrators(tmp_path: Path) -> None:
    result = run(tmp_path, seed=5, duration="1d", benign_accounts=40, privacy=1.0,
                 benign_mix="saas=0.5,coding_agent=0.5", campaigns="blunt")
    (blunt,) = of_kind(result, "blunt")
    alerts = result["alerts"][blunt]
    assert serious(alerts) and {"out_in", "no_text"} & signals(alerts)
    benign = of_kind(result, "saas") + of_kind(result, "coding_agent")
    assert [a for a in benign if high(result["alerts"].get(a, []))] == []
    assert len([a for a in benign if serious(result["alerts"].get(a, []))]) <= 0.05 * len(benign)
