"""stream_guard.report.load: tolerant JSON Lines reading of alerts and verdicts."""

from __future__ import annotations

import gzip
import json

import pytest
from report_helpers import T0, alert, evidence_alert, iso, verdict, write_jsonl
from stream_guard.report import load
from stream_guard.report.load import ReportError, read_alerts, read_verdicts


def test_alerts_are_read_as_typed_records_with_weights_and_episode(tmp_path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [evidence_alert("acct-1", T0, "medium", "new")])
    (a,) = read_alerts(path).records
    assert (a.subject, a.kind, a.severity, a.raised_at, a.episode, a.cluster_id) == (
        "acct-1", "account", "medium", T0, "new", None)
    assert [(r.signal, r.weight) for r in a.reasons] == [("out_in", 1.7239), ("evidence_accumulated", -0.4729)]


def test_bad_lines_are_skipped_and_counted_with_why(tmp_path) -> None:
    missing = alert("acct-2", T0)
    del missing["reasons"]
    bad_time = alert("acct-3", T0)
    bad_time["raised_at"] = "not a time"
    path = write_jsonl(tmp_path / "a.jsonl", [alert("acct-1", T0), "{oops", "[1, 2]", "", missing, bad_time,
                                               '"text"'])
    loaded = read_alerts(path)
    assert [a.subject for a in loaded.records] == ["acct-1"]
    assert loaded.skipped.count == 5  # the blank line is no record, and no error either
    assert loaded.skipped.examples[:2] == ("line 2: not JSON", "line 3: not a JSON object")
    assert loaded.skipped.examples[2].startswith("line 5: not a valid alert")
    assert loaded.skipped.examples[3].startswith("line 6: not a valid alert")


def test_only_the_first_few_problems_are_named(tmp_path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", ["x"] * 12)
    loaded = read_alerts(path)
    assert loaded.skipped.count == 12 and len(loaded.skipped.examples) == load.EXAMPLES_KEPT


def test_gzip_input_is_recognised_by_its_bytes(tmp_path) -> None:
    path = tmp_path / "alerts.data"  # no .gz suffix: the magic bytes decide
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps(alert("acct-1", T0)) + "\n")
    assert [a.subject for a in read_alerts(path).records] == ["acct-1"]


def test_a_truncated_gzip_stream_is_a_counted_problem_not_a_crash(tmp_path) -> None:
    path = tmp_path / "alerts.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps(alert("acct-1", T0)) + "\n").encode() * 50)[:-30])
    loaded = read_alerts(path)
    assert loaded.skipped.count >= 1 and "unreadable" in loaded.skipped.examples[-1]


def test_an_overlong_line_is_skipped_and_the_next_one_read(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(load, "MAX_LINE_BYTES", 64)
    path = write_jsonl(tmp_path / "a.jsonl", ['"' + "x" * 500 + '"', "[1]"])
    skipped = load.Skipped()
    lines = list(load.iter_json_lines(path, skipped))
    assert [(x.number, x.value) for x in lines] == [(2, [1])]
    assert skipped.examples == ("line 1: longer than 64 bytes",)


@pytest.mark.parametrize("make", [lambda p: None, lambda p: p.mkdir()])
def test_a_missing_file_or_a_folder_is_a_report_error(tmp_path, make) -> None:
    path = tmp_path / "alerts.jsonl"
    make(path)
    with pytest.raises(ReportError, match=r"alerts\.jsonl"):
        read_alerts(path)


def test_verdicts_are_read_tolerantly(tmp_path) -> None:
    rows = [
        verdict("acct-1", "benign", expires_at=iso(T0 + 86400), verdict_id="v1", via="cluster-x"),
        {"subject": "acct-2", "verdict": "allow", "at": T0},  # no kind: either kind; epoch seconds
        {"subject": "", "verdict": "malicious", "at": T0},
        {"subject": "acct-3", "verdict": "malicious", "subject_kind": "team", "at": T0},
        {"subject": "acct-4", "verdict": "malicious", "at": "soon"},
        {"subject": "acct-5", "verdict": "malicious", "at": T0, "expires_at": "never"},
    ]
    loaded = read_verdicts(write_jsonl(tmp_path / "v.jsonl", rows))
    first, second = loaded.records
    assert (first.subject, first.subject_kind, first.verdict, first.expires_at, first.via) == (
        "acct-1", "account", "benign", T0 + 86400, "cluster-x")
    assert (second.subject_kind, second.at, second.reason, second.analyst) == (None, T0, "", "")
    assert loaded.skipped.count == 4
    assert [x.split(": ", 1)[1] for x in loaded.skipped.examples] == [
        "not a verdict (needs a non-empty subject and verdict)", "not a verdict (subject_kind 'team')",
        "not a verdict (no valid `at` time)", "not a verdict (invalid `expires_at`)"]
