"""A case: everything the alerts (and optionally the events and verdicts) say about one
account or one cluster, as typed records ready to render.

An **account** case holds the alerts whose subject is the account, and the cluster alerts
that list it as a member (``via`` the cluster); its escalation episodes (account alerts
carry ``evidence.episode``: ``new`` opens an episode, ``escalation`` raises it); and the
clusters it was listed in. A **cluster** case holds the cluster's alerts (the ``cluster``
detector's and the grouped ``cluster_member`` ones) and the one-per-member
``cluster_member`` alerts naming it (``evidence.cluster_id``); its members (every account
listed, with their own alerts); and the attribute kinds that link them (the cluster
detector's ``shared_<kind>`` reasons and ``evidence.shared``). With an events file, the
case also has requests per hour and the linking attribute values its accounts used (for
a cluster: those shared by two or more members).

>>> from stream_guard.report.load import AlertRecord, Loaded, Reason
>>> def alert(subject, at, severity, episode):
...     return AlertRecord(f"id-{at}", "account", subject, (subject,), 1, severity, 0.8, ("evidence_score",),
...                        (Reason("out_in", 7.0, "-", "long answers", 1.7),), at - 3600, at, at,
...                        {"episode": episode})
>>> alerts = Loaded("alerts.jsonl", (alert("acct-1", 7200.0, "high", "escalation"),
...                                  alert("acct-1", 3600.0, "medium", "new"), alert("acct-2", 60.0, "low", "new")))
>>> case = build_case(Subject("acct-1", "account"), AlertIndex(alerts.records), alerts, now=10_000.0)
>>> [a.alert.severity for a in case.alerts], case.max_severity
(['medium', 'high'], 'high')
>>> [(e.severities, e.started, e.last) for e in case.episodes]
[(('medium', 'high'), 3600.0, 7200.0)]
"""

from __future__ import annotations

import difflib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stream_guard.core.vocabulary import ALERT_KINDS, CLUSTER, SEVERITIES, AlertKind
from stream_guard.report.activity import HOUR, AccountActivity, Activity, AttributeValue
from stream_guard.report.load import AlertRecord, Loaded, ReportError, Scalar, Skipped, VerdictRecord

__all__ = [
    "MAX_SHARED_VALUES",
    "AlertIndex",
    "AttributeUse",
    "Case",
    "CaseAlert",
    "Episode",
    "HourCount",
    "InputFile",
    "Related",
    "SharedLink",
    "Subject",
    "VerdictRow",
    "build_case",
    "max_severity",
    "severity_rank",
]

#: Attribute values listed on a page (the most shared first).
MAX_SHARED_VALUES = 30
#: Values of each kind listed for an account case (the most used first).
VALUES_PER_KIND = 3


@dataclass(frozen=True, order=True)
class Subject:
    """What a case is about: an account id or a cluster id."""

    id: str
    kind: AlertKind


@dataclass(frozen=True)
class CaseAlert:
    """An alert of the case; ``via`` names the subject it is on when that is not the
    case's own subject (the cluster listing an account, the member of a cluster)."""

    alert: AlertRecord
    via: str | None = None


@dataclass(frozen=True)
class Episode:
    """One escalation episode of an account: its alerts' severities in order."""

    number: int
    started: float
    last: float
    severities: tuple[str, ...]
    detectors: tuple[str, ...]
    opened_in_file: bool  # False: its first alert (``new``) is not in the file


@dataclass(frozen=True)
class Related:
    """A member of a cluster case, or a cluster an account case was listed in."""

    subject: Subject
    first_listed: float | None  # raised_at of the first case alert listing it
    last_listed: float | None
    alerts: int  # alerts on it (its own)
    max_severity: str | None
    requests: int | None  # from the events file (None: no events file)
    verdict: str | None  # its latest active analyst verdict


@dataclass(frozen=True)
class SharedLink:
    """An attribute kind linking a cluster's members, as its latest cluster alert says."""

    kind: str
    values: int | None  # distinct values of this kind that link members (``evidence.shared``)
    accounts: Scalar  # accounts sharing the strongest value
    detail: str  # the alert's text on the strongest value


@dataclass(frozen=True)
class AttributeUse:
    """A linking attribute value in the events of the case's accounts."""

    value: AttributeValue
    accounts: int
    requests: int


@dataclass(frozen=True)
class HourCount:
    """Requests (and distinct active accounts) in one hour of event time."""

    start: float
    requests: int
    accounts: int


@dataclass(frozen=True)
class VerdictRow:
    """An analyst verdict shown on the page: on the subject, or on a related subject (a
    member of the cluster, a cluster the account was listed in)."""

    record: VerdictRecord
    active: bool  # not expired at the time the page was made
    on_related: bool


@dataclass(frozen=True)
class InputFile:
    """One input of the page: its role, path, records used and lines skipped."""

    role: str
    path: str
    records: int
    skipped: Skipped


@dataclass(frozen=True)
class Case:
    """One account's or cluster's case, ready to render."""

    subject: Subject
    alerts: tuple[CaseAlert, ...]  # by raised_at
    episodes: tuple[Episode, ...]
    account_count: int
    related: tuple[Related, ...]
    shared_links: tuple[SharedLink, ...]
    attributes: tuple[AttributeUse, ...] | None  # None: no events file
    hours: tuple[HourCount, ...] | None  # None: no events file
    verdicts: tuple[VerdictRow, ...] | None  # None: no verdicts file
    inputs: tuple[InputFile, ...]
    generated_at: float

    @property
    def max_severity(self) -> str:
        return max_severity(a.alert.severity for a in self.alerts) or SEVERITIES[0]

    @property
    def detectors(self) -> tuple[str, ...]:
        return tuple(sorted({d for a in self.alerts for d in a.alert.detectors}))


def severity_rank(severity: str | None) -> int:
    """0 for ``low`` up to 3 for ``critical``; -1 for none.

    >>> severity_rank("high"), severity_rank(None)
    (2, -1)
    """
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def max_severity(severities: Iterable[str]) -> str | None:
    """The highest of ``severities`` (``None`` if there is none).

    >>> max_severity(["low", "high", "medium"]), max_severity([])
    ('high', None)
    """
    rank = max(map(severity_rank, severities), default=-1)
    return SEVERITIES[rank] if rank >= 0 else None


class AlertIndex:
    """The alerts of a file indexed once by what a case looks them up by."""

    def __init__(self, alerts: Sequence[AlertRecord]) -> None:
        self.by_subject: dict[Subject, list[AlertRecord]] = defaultdict(list)
        self.listing: dict[str, list[AlertRecord]] = defaultdict(list)  # account -> cluster alerts listing it
        self.members: dict[str, list[AlertRecord]] = defaultdict(list)  # cluster -> member alerts naming it
        for alert in alerts:
            self.by_subject[Subject(alert.subject, "cluster" if alert.kind == "cluster" else "account")].append(alert)
            if alert.kind == "cluster":
                for account in alert.account_ids:
                    self.listing[account].append(alert)
            elif alert.cluster_id is not None:
                self.members[alert.cluster_id].append(alert)

    @property
    def subjects(self) -> list[Subject]:
        """Every subject with alerts of its own, sorted."""
        return sorted(self.by_subject)

    def case_alerts(self, subject: Subject) -> list[CaseAlert]:
        """The alerts of ``subject``'s case, by raised_at (then file order)."""
        own = [CaseAlert(a) for a in self.by_subject.get(subject, [])]
        if subject.kind == "account":
            other = [CaseAlert(a, a.subject) for a in self.listing.get(subject.id, [])]
        else:
            other = [CaseAlert(a, a.subject) for a in self.members.get(subject.id, [])]
        return sorted(own + other, key=lambda c: c.alert.raised_at)

    def accounts(self, subject: Subject) -> set[str]:
        """The accounts whose events belong to the case (the account; a cluster's members)."""
        if subject.kind == "account":
            return {subject.id}
        return {acc for c in self.case_alerts(subject) for acc in c.alert.account_ids}

    def no_alert_message(self, subject: Subject, path: str) -> str:
        """Why ``subject`` has no case: what the file holds, and the closest ids."""
        known = [s.id for s in self.by_subject if s.kind == subject.kind] + (
            list(self.listing) if subject.kind == "account" else [])
        close = difflib.get_close_matches(subject.id, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        kinds = Counter(s.kind for s in self.by_subject)
        alerts = sum(map(len, self.by_subject.values()))
        return (f"no alert on {subject.kind} {subject.id!r} in {path} (it holds {alerts:,} alerts on "
                f"{kinds['account']:,} accounts and {kinds['cluster']:,} clusters){hint}")


def _episodes(alerts: Sequence[CaseAlert]) -> tuple[Episode, ...]:
    out: list[Episode] = []
    current: list[AlertRecord] = []
    opened = False

    def close() -> None:
        if current:
            out.append(Episode(len(out) + 1, current[0].raised_at, current[-1].raised_at,
                               tuple(a.severity for a in current),
                               tuple(sorted({d for a in current for d in a.detectors})), opened))

    for alert in (c.alert for c in alerts if c.via is None and c.alert.episode is not None):
        if alert.episode == "new" or not current:
            close()
            current, opened = [alert], alert.episode == "new"
        else:
            current.append(alert)
    close()
    return tuple(out)


def _verdicts(verdicts: Loaded[VerdictRecord], subject: Subject, related: set[Subject],
              now: float) -> tuple[VerdictRow, ...]:
    """The verdicts on ``subject`` and on the ``related`` subjects (a cluster's members, the
    clusters an account was listed in), oldest first."""
    rows = []
    for v in sorted(verdicts.records, key=lambda v: v.at):
        on = {Subject(v.subject, k) for k in ALERT_KINDS if v.subject_kind in (None, k)}
        if subject in on or on & related:
            rows.append(VerdictRow(v, v.expires_at is None or v.expires_at > now, subject not in on))
    return tuple(rows)


def _related_subjects(subject: Subject, alerts: Sequence[CaseAlert]) -> set[Subject]:
    if subject.kind == "cluster":
        return {Subject(acc, "account") for c in alerts for acc in c.alert.account_ids}
    return {Subject(c.via, "cluster") for c in alerts if c.via is not None}


def _latest_verdicts(rows: Sequence[VerdictRow] | None) -> dict[str, str]:
    """Subject -> its latest active verdict."""
    return {r.record.subject: r.record.verdict for r in rows or () if r.active}


def _related(index: AlertIndex, subject: Subject, alerts: Sequence[CaseAlert], activity: Activity | None,
             verdicts: dict[str, str]) -> tuple[Related, ...]:
    listed: dict[Subject, list[float]] = defaultdict(list)
    for c in alerts:
        if subject.kind == "account" and c.via is not None:
            listed[Subject(c.via, "cluster")].append(c.alert.raised_at)
        elif subject.kind == "cluster":
            for account in c.alert.account_ids:
                listed[Subject(account, "account")].append(c.alert.raised_at)
    out = []
    for other, times in listed.items():
        own = index.by_subject.get(other, [])
        act = activity.accounts.get(other.id) if activity is not None and other.kind == "account" else None
        requests = None if activity is None or other.kind == "cluster" else (act.requests if act else 0)
        out.append(Related(other, min(times), max(times), len(own), max_severity(a.severity for a in own),
                           requests, verdicts.get(other.id)))
    return tuple(sorted(out, key=lambda r: (-severity_rank(r.max_severity), r.first_listed or 0.0, r.subject.id)))


def _shared_links(alerts: Sequence[CaseAlert]) -> tuple[SharedLink, ...]:
    cluster_alerts = [c.alert for c in alerts if c.via is None and CLUSTER in c.alert.detectors]
    if not cluster_alerts:
        return ()
    latest = cluster_alerts[-1]
    counts = latest.evidence.get("shared")
    counts = counts if isinstance(counts, dict) else {}
    links = []
    for r in latest.reasons:
        if r.signal.startswith("shared_"):
            kind = r.signal.removeprefix("shared_")
            n = counts.get(kind)
            links.append(SharedLink(kind, n if isinstance(n, int) else None, r.value, r.detail))
    return tuple(links)


def _attributes(subject: Subject, activity: Activity, accounts: set[str]) -> tuple[AttributeUse, ...]:
    users: Counter[AttributeValue] = Counter()
    requests: Counter[AttributeValue] = Counter()
    for account in accounts:
        act = activity.accounts.get(account)
        if act is not None:
            users.update(act.values.keys())
            requests.update(act.values)
    uses = [AttributeUse(v, users[v], requests[v]) for v in users]
    if subject.kind == "cluster":
        shared = [u for u in uses if u.accounts >= 2]
        return tuple(sorted(shared, key=lambda u: (-u.accounts, -u.requests, u.value))[:MAX_SHARED_VALUES])
    by_kind: dict[str, list[AttributeUse]] = defaultdict(list)
    for u in sorted(uses, key=lambda u: (u.value.kind, -u.requests, u.value.value)):
        by_kind[u.value.kind].append(u)
    return tuple(u for kind in sorted(by_kind) for u in by_kind[kind][:VALUES_PER_KIND])


def _hours(activity: Activity, accounts: set[str]) -> tuple[HourCount, ...]:
    per: list[AccountActivity] = [a for acc, a in activity.accounts.items() if acc in accounts]
    requests: Counter[int] = Counter()
    active: Counter[int] = Counter()
    for a in per:
        requests.update(a.hours)
        active.update(a.hours.keys())
    return tuple(HourCount(float(h * HOUR), requests[h], active[h]) for h in sorted(requests))


def build_case(subject: Subject, index: AlertIndex, alerts: Loaded[AlertRecord], *,
               activity: Activity | None = None, verdicts: Loaded[VerdictRecord] | None = None,
               now: float) -> Case:
    """The case of ``subject`` from the indexed alerts (``alerts`` the file they came
    from), with the events' ``activity`` and the analysts' ``verdicts`` when given;
    ``now`` (Unix seconds) decides which verdicts have expired. A subject without any alert
    is a :class:`ReportError` naming close matches."""
    case_alerts = index.case_alerts(subject)
    if not case_alerts:
        raise ReportError(index.no_alert_message(subject, alerts.path))
    accounts = index.accounts(subject)
    related = _related_subjects(subject, case_alerts)
    verdict_rows = _verdicts(verdicts, subject, related, now) if verdicts is not None else None
    listed = max((c.alert.account_count for c in case_alerts if c.via is None), default=0)
    inputs = [InputFile("alerts", alerts.path, len(alerts.records), alerts.skipped)]
    if activity is not None:
        inputs.append(InputFile("events", activity.path, activity.events, activity.skipped))
    if verdicts is not None:
        inputs.append(InputFile("verdicts", verdicts.path, len(verdicts.records), verdicts.skipped))
    return Case(
        subject=subject, alerts=tuple(case_alerts), episodes=_episodes(case_alerts),
        account_count=max(listed, len(accounts)) if subject.kind == "cluster" else 1,
        related=_related(index, subject, case_alerts, activity, _latest_verdicts(verdict_rows)),
        shared_links=_shared_links(case_alerts),
        attributes=_attributes(subject, activity, accounts) if activity is not None else None,
        hours=_hours(activity, accounts) if activity is not None else None,
        verdicts=verdict_rows, inputs=tuple(inputs), generated_at=now,
    )
