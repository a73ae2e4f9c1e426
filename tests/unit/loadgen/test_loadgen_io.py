"""Sinks, calibration, arrivals, the plot and the command line."""

from __future__ import annotations

import argparse
import gzip
import io
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from stream_guard.loadgen.arrivals import DiurnalRenewal
from stream_guard.loadgen.calibration import load_calibration
from stream_guard.loadgen.commands import register
from stream_guard.loadgen.labels import read_labels
from stream_guard.loadgen.plot import matplotlib_available, plot_timeline
from stream_guard.loadgen.scenarios import knob_fields
from stream_guard.loadgen.sinks import FileSink, PartitionBatcher, Progress, RateLimit, open_lines

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "data"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    register(p.add_subparsers(dest="command", required=True))
    return p


def test_file_sink_plain_and_gzip_round_trip(tmp_path: Path) -> None:
    events = [{"event_id": str(i), "n": i} for i in range(5000)]
    for name in ("e.jsonl", "e.jsonl.gz"):
        with FileSink(tmp_path / name, buffer_events=777) as sink:
            for ev in events:
                sink.write(ev)
        assert [orjson.loads(x) for x in open_lines(tmp_path / name)] == events
    with gzip.open(tmp_path / "e.jsonl.gz", "rb") as fh:
        assert fh.read(1) == b"{"


def test_partition_batcher_groups_by_partition_and_size() -> None:
    b = PartitionBatcher(3, 4, lambda key: int(key[1:]) % 3, max_message_bytes=40)
    out = []
    for i in range(12):
        out += list(b.add(f"a{i}".encode(), f'{{"i":{i}}}'.encode(), now=0.0))
    out += list(b.flush_all())
    assert sum(len(orjson.loads(p)) for _k, _p, p in out) == 12
    for key, part, payload in out:
        items = orjson.loads(payload)
        assert int(key[1:]) % 3 == part  # keyed by an account of the same partition
        assert all(x["i"] % 3 == part for x in items)
        assert len(payload) <= 40
    stale = PartitionBatcher(2, 100, lambda key: 0, linger_s=0.5)
    assert list(stale.add(b"k", b"1", now=0.0)) == []
    assert list(stale.flush_stale(now=0.1)) == []
    assert list(stale.flush_stale(now=1.0)) == [(b"k", 0, b"[1]")]


def test_rate_limit_and_progress() -> None:
    assert RateLimit(0).delay(10) == 0.0
    lim = RateLimit(1000.0)
    assert lim.delay(0) == 0.0 and 0.5 < lim.delay(1000) <= 1.0
    buf = io.StringIO()
    p = Progress("loadgen", every_s=0.0, out=buf, span_ms=(0, 1000))
    p.maybe(10, 500)
    p.done(20, 1000)
    text = buf.getvalue()
    assert "10 events" in text and "(50%)" in text and "done: 20 events" in text


def test_calibration_carries_the_derived_figures() -> None:
    cal = load_calibration()
    assert abs(sum(cal.hourly_profile) / 24 - 1.0) < 1e-9
    assert min(cal.hourly_profile) < 0.7 < 1.3 < max(cal.hourly_profile)  # a real diurnal swing
    assert cal.volume_ratio.median == pytest.approx(1.0)
    assert cal.volume_ratio.at(0.95) > 10  # heavy tail
    assert 900 < cal.conv_input.median < 1200 and 100 < cal.conv_output.median < 160
    assert cal.code_input.median > cal.conv_input.median and cal.code_output.median < 20
    assert 0.7 < cal.gamma_share < 0.8
    assert cal.prompt_chars["arena_hard"].median == pytest.approx(136.0)


@pytest.mark.skipif(not (DATA / "traces").is_dir(), reason="needs ../shared/data")
def test_shipped_calibration_matches_the_derivation_script() -> None:
    script = ROOT / "scripts" / "derive_calibration.py"
    res = subprocess.run(
        [sys.executable, str(script), "--data", str(DATA), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_diurnal_renewal_follows_profile_and_office_hours() -> None:
    import random

    office = [0.0] * 24
    for h in range(9, 18):
        office[h] = 24 / 9
    proc = DiurnalRenewal(random.Random(1), 0, 20 * 86_400_000, daily=30.0, profile=office, gamma_shape=1.0)
    ts = list(iter(proc.next, None))
    assert 500 < len(ts) < 700
    assert all(9 <= (t // 3_600_000) % 24 < 18 for t in ts)
    off = DiurnalRenewal(
        random.Random(2),
        0,
        30 * 86_400_000,
        daily=100.0,
        profile=[1.0] * 24,
        active_day_prob=0.3,
        gamma_shape=0.5,
    )
    days = {t // 86_400_000 for t in iter(off.next, None)}
    assert 3 <= len(days) <= 18


def test_help_documents_every_knob() -> None:
    parser = _parser()
    sub = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    text = sub["loadgen"].format_help()
    for f in knob_fields():
        assert "--" + f.name.replace("_", "-") in text
    for word in (
        "--scenario",
        "--out",
        "--bootstrap",
        "--rate",
        "--labels",
        "--prompts",
        "--privacy",
        "--batch",
    ):
        assert word in text
    assert "--alerts" in sub["score"].format_help()


def test_loadgen_then_score_from_the_command_line(tmp_path: Path) -> None:
    parser = _parser()
    out = tmp_path / "ev.jsonl.gz"
    args = parser.parse_args(
        [
            "loadgen",
            "--scenario",
            "smoke",
            "--duration",
            "90m",
            "--seed",
            "4",
            "--out",
            str(out),
            "--quiet",
            "--privacy",
            "--hydra-accounts",
            "25",
            "--campaign-start",
            "10m",
        ]
    )
    assert args.func(args) == 0
    labels = read_labels(tmp_path / "ev.labels.json")
    assert labels.doc["run"]["complete"] and labels.doc["run"]["seed"] == 4
    events = [orjson.loads(x) for x in open_lines(out)]
    assert events and all("prompt" not in e for e in events)
    assert len(labels.members("hydra")) == 25
    hydra_acct = labels.members("hydra")[0]
    alerts = [
        {
            "kind": "account",
            "subject": hydra_acct,
            "account_ids": [hydra_acct],
            "severity": "high",
            "raised_at": labels.doc["campaigns"]["hydra"]["active_from"],
        }
    ]
    (tmp_path / "alerts.jsonl").write_bytes(b"\n".join(orjson.dumps(a) for a in alerts))
    args = parser.parse_args(
        [
            "score",
            "--alerts",
            str(tmp_path / "alerts.jsonl"),
            "--labels",
            str(tmp_path / "ev.labels.json"),
            "--json",
            str(tmp_path / "rep.json"),
        ]
    )
    assert args.func(args) == 0
    rep = orjson.loads((tmp_path / "rep.json").read_bytes())
    hydra = next(c for c in rep["campaigns"] if c["name"] == "hydra")
    assert hydra["detected"] and hydra["time_to_detect_s"] == 0.0 and hydra["flagged_accounts"] == 1
    bad = parser.parse_args(["loadgen", "--scenario", "smoke", "--quiet"])
    assert bad.func(bad) == 2  # neither --out nor --bootstrap


@pytest.mark.skipif(not matplotlib_available(), reason="matplotlib not installed")
def test_plot_is_a_png(
    tmp_path: Path, smoke_events: tuple[list[dict[str, object]], dict[str, object]]
) -> None:
    from stream_guard.loadgen.labels import Labels

    _events, doc = smoke_events
    labels = Labels(doc)  # type: ignore[arg-type]
    member = labels.members("blunt")[0]
    benign = next(iter(labels.benign()))
    alerts = [
        {
            "kind": "account",
            "subject": member,
            "account_ids": [member],
            "raised_at": labels.doc["campaigns"]["blunt"]["active_from"],
        },
        {
            "kind": "account",
            "subject": benign,
            "account_ids": [benign],
            "raised_at": labels.doc["run"]["start"],
        },
    ]
    path = plot_timeline(alerts, labels, tmp_path / "t.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
