"""The scorer's arithmetic on a small hand-made case, and its readers."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from stream_guard.loadgen.labels import Labels, read_labels, write_labels
from stream_guard.loadgen.scorer import format_report, read_alerts, score

T0 = "2026-03-01T00:00:00+00:00"  # campaign "hydra" starts here
T1 = "2026-03-01T06:00:00+00:00"  # campaign "blunt" starts here


def _labels() -> dict[str, Any]:
    acct = {}
    for i in range(4):  # hydra: h0..h3, h3 never sent anything
        acct[f"h{i}"] = {
            "label": "campaign",
            "campaign": "hydra",
            "kind": "hydra",
            "events": 0 if i == 3 else 10,
        }
    acct["b0"] = {"label": "campaign", "campaign": "blunt", "kind": "blunt", "events": 500}
    acct["p0"] = {"label": "campaign", "campaign": "pivot", "kind": "pivot", "events": 50}
    for i in range(4):
        acct[f"c{i}"] = {"label": "benign", "kind": "chat", "events": 5}
    acct["s0"] = {"label": "benign", "kind": "saas", "events": 900}
    acct["s1"] = {"label": "benign", "kind": "saas", "events": 0}  # silent: not in the FPR denominator
    return {
        "schema_version": 1,
        "run": {"start": T0, "end": "2026-03-02T00:00:00+00:00", "scenario": "hand"},
        "campaigns": {
            "hydra": {"kind": "hydra", "active_from": T0, "pivot_at": None, "accounts": 4, "events": 30},
            "blunt": {"kind": "blunt", "active_from": T1, "pivot_at": None, "accounts": 1, "events": 500},
            "pivot": {
                "kind": "pivot",
                "active_from": T0,
                "pivot_at": "2026-03-01T12:00:00+00:00",
                "accounts": 1,
                "events": 50,
            },
        },
        "accounts": acct,
    }


ALERTS: list[dict[str, Any]] = [
    # cluster alert 30 min after the hydra starts: names h0, h1 and an account unknown to the labels
    {
        "kind": "cluster",
        "subject": "cluster-1",
        "account_ids": ["h0", "h1", "zz"],
        "severity": "high",
        "raised_at": "2026-03-01T00:30:00+00:00",
    },
    # a later one naming h1 again and h2 (recall counts accounts once)
    {
        "kind": "cluster",
        "subject": "cluster-1",
        "account_ids": ["h1", "h2"],
        "severity": "critical",
        "raised_at": "2026-03-01T05:00:00+00:00",
    },
    # blunt flagged 2 h BEFORE its campaign starts: not a detection
    {
        "kind": "account",
        "subject": "b0",
        "account_ids": ["b0"],
        "severity": "medium",
        "raised_at": "2026-03-01T04:00:00+00:00",
    },
    # blunt, by subject only, 1 h 15 m after its start (epoch seconds allowed)
    {"kind": "account", "subject": "b0", "severity": "medium", "raised_at": 1772344800.0 + 4500},
    # pivot: detected 13 h after its start, i.e. 1 h after the pivot
    {
        "kind": "account",
        "subject": "p0",
        "account_ids": ["p0"],
        "severity": "low",
        "raised_at": "2026-03-01T13:00:00+00:00",
    },
    # false positives: two alerts on chat user c1, one on saas s0
    {
        "kind": "account",
        "subject": "c1",
        "account_ids": ["c1"],
        "severity": "low",
        "raised_at": "2026-03-01T02:00:00+00:00",
    },
    {
        "kind": "account",
        "subject": "c1",
        "account_ids": ["c1"],
        "severity": "medium",
        "raised_at": "2026-03-01T03:00:00+00:00",
    },
    {
        "kind": "account",
        "subject": "s0",
        "account_ids": ["s0"],
        "severity": "low",
        "raised_at": "2026-03-01T09:00:00+00:00",
    },
    # no raised_at: ignored
    {"kind": "account", "subject": "h3", "account_ids": ["h3"], "severity": "high"},
]


def test_hand_made_case_exact_numbers() -> None:
    rep = score(ALERTS, Labels(_labels()))
    c = {row["name"]: row for row in rep["campaigns"]}
    assert c["hydra"]["detected"] is True
    assert c["hydra"]["time_to_detect_s"] == 1800.0
    assert c["hydra"]["flagged_accounts"] == 3
    assert c["hydra"]["active_accounts"] == 3
    assert c["hydra"]["recall"] == 1.0  # h0, h1, h2 of the 3 that sent events
    assert c["hydra"]["recall_all"] == 0.75  # of all 4 members
    assert c["hydra"]["alerts"] == 2
    assert c["blunt"]["detected"] is True
    assert c["blunt"]["time_to_detect_s"] == 4500.0
    assert c["blunt"]["alerts_before_start"] == 1
    assert c["blunt"]["recall"] == 1.0
    assert c["pivot"]["time_to_detect_s"] == 13 * 3600.0
    assert c["pivot"]["time_to_detect_after_pivot_s"] == 3600.0
    b = rep["benign"]
    assert b["accounts"] == 5  # c0..c3 and s0 (s1 sent nothing)
    assert b["flagged"] == 2
    assert b["fpr"] == 0.4
    assert b["by_kind"] == {
        "chat": {"accounts": 4, "flagged": 1, "fpr": 0.25},
        "saas": {"accounts": 1, "flagged": 1, "fpr": 1.0},
    }
    a = rep["alerts"]
    assert (a["total"], a["considered"], a["without_raised_at"]) == (9, 8, 1)
    # after their start: 2 hydra + 1 blunt + 1 pivot; the early blunt alert has a bucket of its own
    assert a["naming_campaign_accounts"] == 4
    assert a["naming_benign_only"] == 3
    assert a["naming_campaign_before_start_only"] == 1
    assert a["naming_unknown_only"] == 0
    assert a["precision"] == 0.5
    assert a["unknown_accounts"] == 1
    s = rep["summary"]
    assert (s["campaigns"], s["campaigns_detected"], s["mean_recall"], s["benign_fpr"]) == (3, 3, 1.0, 0.4)


def test_min_severity_filters_alerts() -> None:
    rep = score(ALERTS, Labels(_labels()), min_severity="medium")
    c = {row["name"]: row for row in rep["campaigns"]}
    assert c["pivot"]["detected"] is False and c["pivot"]["time_to_detect_s"] is None
    assert rep["benign"]["flagged"] == 1  # c1 (medium); s0's alert was low
    assert rep["alerts"]["considered"] == 5
    with pytest.raises(ValueError):
        score(ALERTS, Labels(_labels()), min_severity="urgent")


def test_undetected_campaign_and_text_table() -> None:
    rep = score([], Labels(_labels()))
    assert not any(r["detected"] for r in rep["campaigns"])
    assert rep["benign"]["fpr"] == 0.0 and rep["alerts"]["precision"] is None
    text = format_report(score(ALERTS, Labels(_labels())))
    assert "hydra" in text and "30m 00s" in text and "3/3 100.0%" in text
    assert "false-positive rate 40.00%" in text
    assert "chat" in text and "25.00%" in text
    assert "3/3 campaigns detected" in text


def test_alert_and_label_files_round_trip(tmp_path: Path) -> None:
    lines = b"\n".join(orjson.dumps(a) for a in ALERTS) + b"\n"
    (tmp_path / "a.jsonl").write_bytes(lines)
    with gzip.open(tmp_path / "a.jsonl.gz", "wb") as fh:
        fh.write(lines)
    (tmp_path / "a.json").write_bytes(orjson.dumps(ALERTS))
    for name in ("a.jsonl", "a.jsonl.gz", "a.json"):
        assert read_alerts(tmp_path / name) == ALERTS
    write_labels(tmp_path / "l.json", _labels())
    assert read_labels(tmp_path / "l.json").doc == _labels()
    (tmp_path / "bad.jsonl").write_bytes(b"{not json\n")
    with pytest.raises(ValueError):
        read_alerts(tmp_path / "bad.jsonl")


def test_benign_fpr_per_kind_at_each_severity() -> None:
    doc = _labels()
    doc["accounts"]["r0"] = {"label": "benign", "kind": "research_nat", "variant": "sweep", "events": 40}
    doc["accounts"]["r1"] = {"label": "benign", "kind": "research_nat", "variant": "nightly", "events": 40}
    alerts = [*ALERTS, {"kind": "account", "subject": "r0", "severity": "high", "raised_at": T1}]
    rep = score(alerts, Labels(doc))
    b = rep["benign"]
    assert b["by_kind_severity"]["chat"] == {
        "low": {"flagged": 1, "fpr": 0.25},  # c1: low and medium alerts
        "medium": {"flagged": 1, "fpr": 0.25},
        "high": {"flagged": 0, "fpr": 0.0},
        "critical": {"flagged": 0, "fpr": 0.0},
    }
    assert b["by_kind_severity"]["saas"]["low"]["fpr"] == 1.0 and b["by_kind_severity"]["saas"]["medium"]["fpr"] == 0.0
    assert b["by_kind_severity"]["research_nat"]["high"] == {"flagged": 1, "fpr": 0.5}
    assert b["by_variant_severity"] == {
        "research_nat:nightly": {s: {"flagged": 0, "fpr": 0.0} for s in ("low", "medium", "high", "critical")},
        "research_nat:sweep": {s: {"flagged": 1 if s != "critical" else 0, "fpr": 1.0 if s != "critical" else 0.0}
                               for s in ("low", "medium", "high", "critical")},
    }
    assert b["fpr_by_severity"] == {"low": round(3 / 7, 6), "medium": round(2 / 7, 6), "high": round(1 / 7, 6),
                                    "critical": 0.0}
    s = rep["summary"]
    assert (s["benign_fpr_medium"], s["benign_fpr_high"]) == (round(2 / 7, 6), round(1 / 7, 6))
    # the severity tables do not depend on --min-severity; the existing keys do
    high = score(alerts, Labels(doc), min_severity="high")
    assert high["benign"]["by_kind_severity"] == b["by_kind_severity"]
    assert high["benign"]["by_kind"]["chat"]["flagged"] == 0 and b["by_kind"]["chat"]["flagged"] == 1


def test_recall_at_each_severity_and_at_medium() -> None:
    rep = score(ALERTS, Labels(_labels()))
    c = {row["name"]: row for row in rep["campaigns"]}
    assert c["hydra"]["recall_by_severity"] == {"low": 1.0, "medium": 1.0, "high": 1.0, "critical": 0.666667}
    assert c["hydra"]["recall_medium"] == 1.0
    assert c["blunt"]["recall_medium"] == 1.0  # the medium alert after its start (the one before does not count)
    assert c["blunt"]["recall_by_severity"]["high"] == 0.0
    assert c["pivot"]["recall_medium"] == 0.0  # only a low alert
    assert rep["summary"]["mean_recall_medium"] == 0.666667
    assert score(ALERTS, Labels(_labels()), min_severity="critical")["campaigns"][0]["recall_medium"] == 1.0


def test_alerts_per_attack_account_day() -> None:
    doc = _labels()
    rep = score(ALERTS, Labels(doc))  # no per-account times: exposure runs to the run's end
    c = {row["name"]: row for row in rep["campaigns"]}
    assert c["hydra"]["account_days"] == 3.0  # 3 active accounts x 1 day
    assert c["hydra"]["alerts_per_account_day"] == round(2 / 3, 6)
    assert c["blunt"]["account_days"] == 0.75 and c["blunt"]["alerts_per_account_day"] == round(1 / 0.75, 6)
    assert rep["summary"]["alerts_per_account_day"] == round(4 / 4.75, 6)
    # with per-account first/last events: from max(first, active_from) to last, at least an hour
    for i in range(3):
        doc["accounts"][f"h{i}"]["first_ts"] = "2026-02-28T12:00:00+00:00"  # before the start: clipped
        doc["accounts"][f"h{i}"]["last_ts"] = f"2026-03-01T{6 * (i + 1):02d}:00:00+00:00"
    doc["accounts"]["b0"].update(first_ts="2026-03-01T06:00:00+00:00", last_ts="2026-03-01T06:10:00+00:00")
    c = {row["name"]: row for row in score(ALERTS, Labels(doc))["campaigns"]}
    assert c["hydra"]["account_days"] == round((6 + 12 + 18) / 24, 6)
    assert c["hydra"]["alerts_per_account_day"] == round(2 / 1.5, 6)
    assert c["blunt"]["account_days"] == round(1 / 24, 6)  # 10 minutes counts as an hour
    assert score([], Labels({"campaigns": doc["campaigns"], "accounts": {}}))["campaigns"][0]["account_days"] is None


def test_text_report_shows_severity_metrics() -> None:
    doc = _labels()
    doc["accounts"]["r0"] = {"label": "benign", "kind": "research_nat", "variant": "sweep", "events": 40}
    text = format_report(score(ALERTS, Labels(doc)))
    assert "recall@medium" in text and "alerts/acct/day" in text and "0.667" in text
    assert ">= medium" in text and "research_nat:sweep" in text
    assert "At severity >= medium: mean account recall 66.7%" in text


def test_episodes_per_attack_account_day_leave_out_the_escalations_of_an_episode() -> None:
    base = {"kind": "account", "subject": "h0", "account_ids": ["h0"]}
    alerts = [
        {**base, "severity": "low", "raised_at": "2026-03-01T01:00:00+00:00", "evidence": {"episode": "new"}},
        {**base, "severity": "high", "raised_at": "2026-03-01T02:00:00+00:00", "evidence": {"episode": "escalation"}},
        {**base, "severity": "medium", "raised_at": "2026-03-01T20:00:00+00:00", "evidence": {"episode": "new"}},
        {"kind": "cluster", "subject": "cluster-1", "account_ids": ["h1", "h2"], "severity": "high",
         "raised_at": "2026-03-01T03:00:00+00:00"},  # no episode: counts as one
    ]
    rep = score(alerts, Labels(_labels()))
    hydra = next(c for c in rep["campaigns"] if c["name"] == "hydra")
    assert (hydra["alerts"], hydra["episodes"]) == (4, 3)
    assert hydra["episodes_per_account_day"] == round(3 / 3, 6) and hydra["alerts_per_account_day"] == round(4 / 3, 6)
    assert rep["summary"]["episodes_per_account_day"] == round(3 / 4.75, 6)  # every campaign: 4.75 account-days
