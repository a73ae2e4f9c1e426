"""stream_guard.stream.catchup: a stage marked ``retry`` survives a failed re-read (the broker
gone right after a restore) and tries again; any other stage fails the worker. Without a
broker: the re-read is replaced by one that fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from stream_guard.settings import Settings
from stream_guard.stream import catchup
from stream_guard.stream.catchup import CatchUps, InputRecord


async def _unreachable(*_: Any, **__: Any) -> AsyncIterator[InputRecord]:
    raise ConnectionError("broker gone")
    yield InputRecord(0, None, None, 0)  # (an async generator)


async def _handle(partition: int, rec: InputRecord) -> None:
    raise AssertionError("nothing to handle")


@pytest.mark.parametrize("retry", [True, False])
def test_a_failed_reread_is_retried_only_where_the_stage_allows_it(monkeypatch: pytest.MonkeyPatch,
                                                                   retry: bool) -> None:
    monkeypatch.setattr(catchup, "read_range", _unreachable)
    failures: list[BaseException] = []
    resume = {0: 0}
    ups = CatchUps(Settings(), failures.append, idle_s=0.0)
    ups.stage("analyst", "t", lambda: resume, _handle, retry=retry)
    ups.restored("analyst", 0)

    async def run() -> None:
        ups.start_idle()
        for _ in range(5):
            await asyncio.sleep(0)

    asyncio.run(run())
    if retry:
        assert failures == [] and resume == {0: 0}  # kept: start_idle tries again
    else:
        assert [type(f) for f in failures] == [ConnectionError]
