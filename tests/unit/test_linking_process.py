"""The cross-account stages in a second process (stream_guard.linking_process): a replay gives
the same alerts in the same order as in process, the steps come back in order whatever the
backlog, and a failing or killed child is an error, never missing alerts."""

from __future__ import annotations

import os
import re
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from stream_guard.core.flow import InProcessLinking
from stream_guard.core.linking.profile import AccountProfile
from stream_guard.linking_process import LinkingProcess, LinkingProcessError, LinkingSummary
from stream_guard.loadgen.generator import Generator
from stream_guard.loadgen.scenarios import scenario
from stream_guard.replay import replay
from stream_guard.settings import Settings

S = Settings()


def without_wall_clock(alerts: list[Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in a.items() if k != "emitted_at"} for a in alerts]


@pytest.fixture(scope="module")
def hydra_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six hours of a 300-account hydra among benign accounts: clusters, member alerts, links."""
    gen = Generator(scenario("hydra", seed=5, duration="6h", benign_accounts=60, hydra_accounts=300, hydra_rate=60.0))
    path = tmp_path_factory.mktemp("hydra") / "hydra.jsonl"
    path.write_bytes(b"\n".join(line for _, line in gen.lines()) + b"\n")
    return path


def test_a_replay_gives_the_same_alerts_in_the_same_order_with_a_linking_process(hydra_file: Path) -> None:
    alone = replay(hydra_file, S, partitions=4)
    piped = replay(hydra_file, S, partitions=4, linking_process=True)
    kinds = {a["kind"] for a in alone.alerts}
    assert "cluster" in kinds and len(alone.alerts) > 50, "the traffic must raise cross-account alerts"
    assert without_wall_clock(piped.alerts) == without_wall_clock(alone.alerts)
    assert piped.linking is None and alone.linking is not None
    assert piped.linking_summary is not None and alone.linking_summary is not None
    assert piped.linking_summary.peak_rss_bytes > 0 and alone.linking_summary.peak_rss_bytes == 0  # its own process
    assert alone.linking is not None
    assert replace(piped.linking_summary, peak_rss_bytes=0) == alone.linking_summary
    assert alone.linking_summary == LinkingSummary.of(alone.linking, S)
    assert alone.linking_summary.clusters >= 1


def test_without_flush_too(hydra_file: Path) -> None:
    alone = replay(hydra_file, S, partitions=2, flush=False)
    piped = replay(hydra_file, S, partitions=2, flush=False, linking_process=True)
    assert without_wall_clock(piped.alerts) == without_wall_clock(alone.alerts)


def test_the_cli_writes_the_same_lines_with_one_or_two_jobs(hydra_file: Path, tmp_path: Path) -> None:
    from stream_guard.cli import main

    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"alerts.{jobs}.jsonl"
        assert main(["replay", str(hydra_file), "--out", str(out), "--jobs", jobs]) == 0
        outs.append(without_wall_clock([orjson.loads(line) for line in out.read_bytes().splitlines()]))
    assert outs[0] == outs[1] and outs[0]


def test_the_cli_names_each_process_peak_memory(hydra_file: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from stream_guard.cli import main

    assert main(["replay", str(hydra_file), "--out", str(tmp_path / "a.jsonl"), "--jobs", "2"]) == 0
    assert re.search(r"peak RSS [\d,]+ MB this process \+ [\d,]+ MB the cross-account process = [\d,]+ MB",
                     capsys.readouterr().err)
    assert main(["replay", str(hydra_file), "--out", str(tmp_path / "a.jsonl"), "--jobs", "3"]) == 0
    assert re.search(r"peak RSS [\d,]+ MB this process \+ [\d,]+ MB the input process \+ [\d,]+ MB the "
                     r"cross-account process = [\d,]+ MB", capsys.readouterr().err)


def profiles_at(at: float, n: int = 8) -> list[AccountProfile]:
    return [AccountProfile(f"a{i}", at, 3, [("payment", "pm_x", 3)], 26.0, 0.9, 2.0, 0xFFFFFF) for i in range(n)]


def test_steps_come_back_in_order_and_the_backlog_is_bounded() -> None:
    link, alone = LinkingProcess(S, max_steps=2), InProcessLinking(S)
    expected, got = [], []
    for k in range(12):
        at = 900.0 * (k + 1)
        expected.append(without_wall_clock(alone.deliver(profiles_at(at, 6 + k), at)))
        assert link.deliver(profiles_at(at, 6 + k), at) == []
        got += [without_wall_clock(a) for a in link.results()]
        assert link.in_flight <= 2
    got += [without_wall_clock(a) for a in link.results(wait_all=True)]
    assert got == expected and any(expected)
    assert replace(link.close(), peak_rss_bytes=0) == LinkingSummary.of(alone.pipeline, S)


def test_a_failure_in_the_child_is_an_error_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: InProcessLinking, profiles: list[AccountProfile], through: float) -> list[Any]:
        raise ValueError("broken on purpose")

    monkeypatch.setattr(InProcessLinking, "deliver", broken)  # the forked child has it too
    link = LinkingProcess(S)
    link.deliver(profiles_at(900.0), 900.0)
    with pytest.raises(LinkingProcessError, match="ValueError: broken on purpose"):
        list(link.results(wait_all=True))


def test_a_killed_child_is_an_error_not_missing_alerts() -> None:
    link = LinkingProcess(S)
    pid = link._child.proc.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    link._child.proc.join(timeout=10)
    link.deliver(profiles_at(900.0), 900.0)
    with pytest.raises(LinkingProcessError, match="ended unexpectedly"):
        list(link.results(wait_all=True))


def test_closing_with_steps_not_taken_is_refused() -> None:
    link = LinkingProcess(S)
    link.deliver(profiles_at(900.0), 900.0)
    with pytest.raises(LinkingProcessError, match="not taken"):
        link.close()
    link.terminate()


def test_the_cli_names_a_failed_helper_process_in_one_line(hydra_file: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from stream_guard.cli import main

    def broken(self: InProcessLinking, profiles: list[AccountProfile], through: float) -> list[Any]:
        raise ValueError("broken on purpose")

    monkeypatch.setattr(InProcessLinking, "deliver", broken)  # the forked child has it too
    assert main(["replay", str(hydra_file), "--out", str(tmp_path / "a.jsonl"), "--jobs", "3"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("stream-guard replay: error: the cross-account process failed: ValueError: "
                       "broken on purpose")
