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
