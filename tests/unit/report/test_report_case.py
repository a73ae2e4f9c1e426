"""stream_guard.report.case: which alerts, episodes, members, attributes and verdicts a case holds."""

from __future__ import annotations

import pytest
from report_helpers import (
    CLUSTER_ID,
    HOUR,
    MEMBERS,
    T0,
    cluster_alert,
    evidence_alert,
    member_alert,
    scenario,
    write_jsonl,
)
from stream_guard.report.activity import AttributeValue, scan_events
from stream_guard.report.case import AlertIndex, Case, Subject, build_case
from stream_guard.report.load import ReportError, read_alerts, read_verdicts

NOW = T0 + 24 * HOUR


def case_of(paths, subject: Subject, *, events: bool = True, verdicts: bool = True, now: float = NOW) -> Case:
    alerts = read_alerts(paths["alerts"])
    index = AlertIndex(alerts.records)
    activity = scan_events(paths["events"], index.accounts(subject), kinds={"ip", "payment"}) if events else None
    return build_case(subject, index, alerts, activity=activity,
                      verdicts=read_verdicts(paths["verdicts"]) if verdicts else None, now=now)


@pytest.fixture
def paths(tmp_path):
    return scenario(tmp_path)


def test_account_case_episode_and_alerts_in_time_order(paths) -> None:
    case = case_of(paths, Subject("acct-1", "account"))
    assert [c.alert.severity for c in case.alerts] == ["low", "medium"] and case.max_severity == "medium"
    (episode,) = case.episodes
    assert (episode.severities, episode.started, episode.last, episode.opened_in_file) == (
        ("low", "medium"), T0 + HOUR, T0 + 2 * HOUR, True)
    assert case.related == () and case.shared_links == () and case.account_count == 1
    assert case.hours is not None and sum(h.requests for h in case.hours) == 90 and len(case.hours) == 2
    ip, payment = case.attributes or ()
    assert (payment.value, payment.requests) == (AttributeValue("payment", "pm_9"), 90) and ip.value.kind == "ip"


def test_episodes_split_on_new_and_an_escalation_first_is_marked(tmp_path) -> None:
    rows = [evidence_alert("a", T0 + h * HOUR, sev, ep) for h, sev, ep in
            [(1, "medium", "escalation"), (2, "high", "escalation"), (5, "low", "new"), (6, "medium", "escalation")]]
    paths = {"alerts": write_jsonl(tmp_path / "a.jsonl", rows)}
    alerts = read_alerts(paths["alerts"])
    case = build_case(Subject("a", "account"), AlertIndex(alerts.records), alerts, now=NOW)
    assert [(e.number, e.severities, e.opened_in_file) for e in case.episodes] == [
        (1, ("medium", "high"), False), (2, ("low", "medium"), True)]
    assert case.hours is None and case.attributes is None and case.verdicts is None


def test_account_case_includes_the_cluster_alerts_listing_it(paths) -> None:
    case = case_of(paths, Subject(MEMBERS[0], "account"))
    assert [(c.alert.detectors, c.via) for c in case.alerts] == [
        (("cluster",), CLUSTER_ID), (("cluster_member",), CLUSTER_ID), (("evidence_score",), None),
        (("cluster",), CLUSTER_ID)]
    (cluster,) = case.related
    assert (cluster.subject, cluster.alerts, cluster.max_severity, cluster.first_listed, cluster.last_listed) == (
        Subject(CLUSTER_ID, "cluster"), 3, "high", T0 + 3 * HOUR, T0 + 4 * HOUR)
    assert cluster.verdict == "malicious"


def test_cluster_case_members_shared_links_and_values(paths) -> None:
    case = case_of(paths, Subject(CLUSTER_ID, "cluster"))
    assert len(case.alerts) == 3 and all(c.via is None for c in case.alerts) and case.episodes == ()
    assert case.account_count == 5 and {r.subject.id for r in case.related} == set(MEMBERS)
    first = case.related[0]  # the member with an alert of its own comes first
    assert (first.subject.id, first.alerts, first.max_severity, first.requests) == (MEMBERS[0], 1, "high", 10)
    assert [(s.kind, s.values, s.accounts) for s in case.shared_links] == [("payment", 1, 5), ("ip", 2, 4)]
    shared = {(u.value.kind, u.value.value): u.accounts for u in case.attributes or ()}
    assert shared[("payment", "pm_1")] == 5 and len(shared) == 3  # pm_1 and the two addresses
    assert case.hours is not None and sum(h.requests for h in case.hours) == 50
    assert max(h.accounts for h in case.hours) == 5


def test_cluster_case_takes_one_per_member_alerts_naming_it(tmp_path) -> None:
    rows = [cluster_alert("cl-1", T0, ["a", "b", "c"]), member_alert("a", "cl-1", T0), member_alert("z", "cl-2", T0)]
    alerts = read_alerts(write_jsonl(tmp_path / "a.jsonl", rows))
    index = AlertIndex(alerts.records)
    case = build_case(Subject("cl-1", "cluster"), index, alerts, now=NOW)
    assert [(c.alert.subject, c.via) for c in case.alerts] == [("cl-1", None), ("a", "a")]
    assert index.accounts(Subject("cl-1", "cluster")) == {"a", "b", "c"}


def test_verdicts_on_the_subject_and_members_with_expiry(paths) -> None:
    cluster = case_of(paths, Subject(CLUSTER_ID, "cluster"))
    assert [(v.record.subject, v.record.verdict, v.on_related, v.active) for v in cluster.verdicts or ()] == [
        (MEMBERS[1], "benign", True, True), (CLUSTER_ID, "malicious", False, True)]
    assert {r.subject.id: r.verdict for r in cluster.related}[MEMBERS[1]] == "benign"
    assert case_of(paths, Subject("acct-1", "account")).verdicts == ()


def test_an_expired_verdict_is_shown_as_expired(tmp_path) -> None:
    paths = scenario(tmp_path)
    write_jsonl(paths["verdicts"], [{"subject": "acct-1", "verdict": "allow", "at": T0, "expires_at": T0 + HOUR}])
    (row,) = case_of(paths, Subject("acct-1", "account")).verdicts or ()
    assert not row.active
    (row,) = case_of(paths, Subject("acct-1", "account"), now=T0).verdicts or ()
    assert row.active


def test_a_verdict_on_the_other_kind_is_not_this_subjects(tmp_path) -> None:
    paths = scenario(tmp_path)
    write_jsonl(paths["verdicts"], [{"subject": "acct-1", "subject_kind": "cluster", "verdict": "benign", "at": T0}])
    assert case_of(paths, Subject("acct-1", "account")).verdicts == ()


def test_no_alert_is_an_error_naming_close_ids(paths) -> None:
    with pytest.raises(ReportError, match=r"no alert on account 'acct-11'.*did you mean acct-1"):
        case_of(paths, Subject("acct-11", "account"))
    with pytest.raises(ReportError, match="no alert on cluster 'acct-1'"):
        case_of(paths, Subject("acct-1", "cluster"))


def test_inputs_record_the_skipped_lines(paths) -> None:
    case = case_of(paths, Subject("acct-1", "account"))
    assert [(f.role, f.records, f.skipped.count) for f in case.inputs] == [
        ("alerts", 6, 2), ("events", 141, 0), ("verdicts", 3, 1)]
