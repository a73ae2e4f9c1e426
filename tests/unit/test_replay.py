"""`stream-guard replay` in bounded memory: the reorder buffer, late events, event-time
sanity relative to the stream's own time, bad lines, and one-line errors."""

from __future__ import annotations

import gzip
import pathlib
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from stream_guard.cli import main
from stream_guard.loadgen.generator import Generator
from stream_guard.loadgen.scenarios import scenario
from stream_guard.replay import REORDER_EVENTS, ReorderBuffer, ReplayReport, replay
from stream_guard.settings import Settings

T0 = 1772323200.0  # 2026-03-01T00:00:00Z
NOW = T0 + 30 * 86400  # the wall clock of these replays
CANARY = "CANARY-prompt-7f3a"


def event(i: int, ts: float, account: str = "acct-a", **extra: Any) -> dict[str, Any]:
    return {"event_id": f"e{i}", "ts": ts, "account_id": account, "model": "m",
            "input_tokens": 10, "output_tokens": 20, "prompt": f"{CANARY} {i}", **extra}


def write(path: Path, items: list[Any]) -> Path:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in items))
    return path


def comparable(alerts: list[dict[str, Any]]) -> list[bytes]:
    return sorted(orjson.dumps({k: v for k, v in a.items() if k != "emitted_at"}, option=orjson.OPT_SORT_KEYS)
                  for a in alerts)


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small generated day (benign accounts plus a blunt extractor), sorted, and the alerts
    of replaying it."""
    tmp = tmp_path_factory.mktemp("traffic")
    gen = Generator(scenario("standard", seed=4, duration="1d", benign_accounts=20, campaigns="blunt"))
    lines = [line for _, line in gen.lines()]
    path = tmp / "sorted.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = replay(path, Settings())
    assert report.alerts, "the scenario should raise alerts, or the comparisons below prove nothing"
    return {"tmp": tmp, "lines": lines, "path": path, "report": report}


def test_slightly_unordered_and_shuffled_files_give_the_alerts_of_the_sorted_file(traffic: dict[str, Any]) -> None:
    lines, rnd = traffic["lines"], random.Random(3)
    slight = sorted(range(len(lines)), key=lambda i: i + rnd.uniform(0, 40))  # each line moved by < 40 places
    shuffled = lines[:]
    rnd.shuffle(shuffled)
    for name, order in (("slight", [lines[i] for i in slight]), ("shuffled", shuffled)):
        path = traffic["tmp"] / f"{name}.jsonl.gz"
        path.write_bytes(gzip.compress(b"\n".join(order) + b"\n"))
        report = replay(path, Settings())
        assert report.late == 0 and report.events == len(lines), name
        assert comparable(report.alerts) == comparable(traffic["report"].alerts), name


def test_the_reorder_buffer_never_holds_more_than_its_limit(traffic: dict[str, Any]) -> None:
    lines = traffic["lines"]
    assert len(lines) > 4_000
    report = replay(traffic["path"], Settings(), reorder_events=500)
    assert report.reorder_peak == 500
    assert report.late == 0 and comparable(report.alerts) == comparable(traffic["report"].alerts)
    buf = ReorderBuffer(window_s=1e9, max_events=100)
    out = [ts for i in range(10_000) for ts, _ in buf.push(float(10_000 - i), i)]  # worst case: reversed
    assert len(buf) == 100 and buf.peak == 100 and len(out) == 9_900


def test_events_later_than_the_buffer_can_wait_are_processed_as_late_and_counted(tmp_path: Path) -> None:
    items = [event(i, T0 + i) for i in range(2_000)] + [event(9_999, T0 + 100.5)]  # ~1,900 s late
    report = replay(write(tmp_path / "late.jsonl", items), Settings(), reorder_window_s=60.0, now=NOW)
    assert report.late == 1 and report.events == 2_001 and report.bad_lines == 0


def test_keep_alerts_false_streams_alerts_to_the_callback_only(traffic: dict[str, Any]) -> None:
    seen: list[dict[str, Any]] = []
    report = replay(traffic["path"], Settings(), keep_alerts=False, on_alert=seen.append)
    assert report.alerts == [] and report.alert_count == len(seen) == len(traffic["report"].alerts)
    assert sum(report.severities.values()) == report.alert_count


def test_cli_writes_the_alerts_it_streams(traffic: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    out = traffic["tmp"] / "alerts.jsonl"
    assert main(["replay", str(traffic["path"]), "--out", str(out)]) == 0
    written = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert comparable(written) == comparable(traffic["report"].alerts)
    assert f"{len(written)} alerts" in capsys.readouterr().err


# --- event-time sanity, relative to the stream's own time --------------------------------------


def run(tmp_path: Path, items: list[Any], **kw: Any) -> tuple[ReplayReport, list[Any]]:
    bad: list[Any] = []
    report = replay(write(tmp_path / "events.jsonl", items), Settings(), now=NOW, on_bad_line=bad.append, **kw)
    return report, bad


def test_a_garbage_first_event_at_ts_1_does_not_become_the_streams_time(tmp_path: Path) -> None:
    report, bad = run(tmp_path, [event(0, 1)] + [event(i, T0 + i) for i in range(1, 1_500)])
    assert report.events == 1_499 and report.late == 0
    assert [(b.line, b.reason) for b in bad] == [(1, "out_of_range_time")]


@pytest.mark.parametrize("ts", [1e12, "3000-01-01T00:00:00Z", NOW + 7200])
def test_events_beyond_the_wall_clock_are_rejected_even_first(tmp_path: Path, ts: Any) -> None:
    report, bad = run(tmp_path, [event(0, ts)] + [event(i, T0 + i) for i in range(1, 50)])
    assert report.events == 49
    assert [(b.line, b.reason) for b in bad] == [(1, "out_of_range_time")]
    assert "wall clock" in bad[0].detail


def test_one_event_far_ahead_of_the_stream_does_not_make_the_rest_late(tmp_path: Path) -> None:
    items = [event(i, T0 + i) for i in range(1_500)]
    items.insert(1_200, event(99_999, T0 + 10 * 86400))  # before the wall clock, days ahead of the stream
    report, bad = run(tmp_path, items)
    assert report.events == 1_500 and report.late == 0
    assert [(b.line, b.reason) for b in bad] == [(1_201, "out_of_range_time")]
    assert "stream's time" in bad[0].detail


def test_a_real_gap_in_the_traffic_is_followed(tmp_path: Path) -> None:
    items = [event(i, T0 + i) for i in range(1_500)] + [event(i, T0 + 5 * 3600 + i) for i in range(1_500, 1_800)]
    report, bad = run(tmp_path, items)
    assert report.events == 1_800 and bad == []


def test_events_too_far_behind_the_stream_are_rejected(tmp_path: Path) -> None:
    items = [event(i, T0 + 3 * 86400 + i) for i in range(1_100)] + [event(5_000, T0)]
    report, bad = run(tmp_path, items)
    assert report.events == 1_100 and [(b.line, b.reason) for b in bad] == [(1_101, "out_of_range_time")]
    assert report.dead_letters == {"out_of_range_time": 1}


# --- bad lines, progress, one-line errors ---------------------------------------------------------


def test_bad_lines_are_named_by_number_rate_limited_and_written_to_the_dead_letter_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [event(i, T0 + i) for i in range(30)]
    bad_lines = [b'{"event_id": "x", "ts": '] * 22 + [orjson.dumps(dict(event(100, T0), input_tokens="many"))]
    bad_lines += [b"\xff\xfe not utf-8", orjson.dumps([event(101, T0 + 1), {"event_id": "y"}])]
    path = write(tmp_path / "bad.jsonl", good[:10] + bad_lines + good[10:])
    dead = tmp_path / "dead.jsonl"
    assert main(["replay", str(path), "--out", str(tmp_path / "a.jsonl"), "--dead-letters", str(dead)]) == 0
    err = capsys.readouterr().err
    assert "line 11: invalid_json" in err and "line 30: invalid_json" in err and "line 31:" not in err
    assert "... and 5 more bad lines" in err
    assert CANARY not in err  # prompts are never printed, only where and why
    records = [orjson.loads(x) for x in dead.read_bytes().splitlines()]
    assert [r["line"] for r in records] == list(range(11, 36))
    assert records[22]["reason"] == "schema_violation" and CANARY in records[22]["original"]
    assert records[23]["original"] is None and records[23]["original_base64"]
    assert records[24]["index"] == 1 and orjson.loads(records[24]["original"]) == {"event_id": "y"}


def test_progress_is_reported_without_knowing_the_total(tmp_path: Path) -> None:
    seen: list[int] = []
    replay(write(tmp_path / "p.jsonl", [event(i, T0 + i) for i in range(3_000)]), Settings(), now=NOW,
           progress=lambda r: seen.append(r.lines), progress_every_s=0.0)
    assert seen == [1024, 2048]


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x]
    assert len(lines) == 1, err
    assert lines[0].startswith("stream-guard replay: error: ")
    return lines[0]


def test_a_missing_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl: no such file" in _one_error_line(capsys)


def test_a_directory_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path)]) == 2
    assert "is a directory" in _one_error_line(capsys)


def test_an_unreadable_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "locked.jsonl", [event(0, T0)])
    real_open = pathlib.Path.open

    def denied(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == path:  # chmod 000 does not stop root, which runs these tests in CI
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", denied)
    assert main(["replay", str(path)]) == 2
    assert "cannot read it (Permission denied)" in _one_error_line(capsys)


@pytest.mark.parametrize("where", ["missing-dir/alerts.jsonl", "."])
def test_an_unwritable_out_is_one_line_and_exit_2_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    path = write(tmp_path / "e.jsonl", [event(0, T0)])
    assert main(["replay", str(path), "--out", str(tmp_path / where)]) == 2
    assert "--out" in _one_error_line(capsys)


def test_a_corrupt_gzip_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "e.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(orjson.dumps(event(i, T0 + i)) + b"\n" for i in range(5_000)))[:3_000])
    assert main(["replay", str(path), "--out", str(tmp_path / "a.jsonl")]) == 2
    assert "unreadable after line" in _one_error_line(capsys)


def test_unknown_stream_guard_variables_are_reported_at_start_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAM_GUARD_BROKR", "localhost:9092")
    assert main(["settings"]) == 0
    err = capsys.readouterr().err
    assert "warning: unknown environment variable STREAM_GUARD_BROKR (did you mean STREAM_GUARD_BROKER?)" in err


def test_the_help_states_the_reorder_buffer_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    assert f"default {REORDER_EVENTS:,}" in " ".join(capsys.readouterr().out.split())


def test_out_may_not_overwrite_the_events_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "e.jsonl", [event(0, T0)])
    assert main(["replay", str(path), "--out", str(path)]) == 2
    assert "is the events file itself" in _one_error_line(capsys)
    assert path.read_bytes()  # untouched
