"""Fixtures of the load-generator tests."""

from __future__ import annotations

from typing import Any

import pytest
from stream_guard.loadgen.generator import Generator
from stream_guard.loadgen.scenarios import scenario


@pytest.fixture(scope="session")
def smoke_events() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Events and labels of the smoke scenario (6 h, every campaign), generated once."""
    gen = Generator(scenario("smoke"))
    events = list(gen.events())
    return events, gen.labels_doc()


DESIGNS_SMALL: dict[str, Any] = {
    "duration": "2d",
    "seed": 5,
    "benign_accounts": 124,
    "benign_mix": "chat=40,event_cohort=40,research_nat=40,heavy_user=4",
    "event_cohort_size": 10,
    "research_nat_size": 10,
    "research_nat_items": 60,
    "mimicry_accounts": 5,
    "adaptive_hydra_accounts": 40,
    "agentic_distiller_accounts": 1,
    "hashed_reseller_rate": 1500.0,
    "heavy_user_rate": 1200.0,
}


@pytest.fixture(scope="session")
def designs_events() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Events and labels of a small ``designs`` run (2 days, every newer design and variant)."""
    gen = Generator(scenario("designs", **DESIGNS_SMALL))
    events = list(gen.events())
    return events, gen.labels_doc()
