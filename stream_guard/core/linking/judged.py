"""Analyst verdicts on clusters: reaching their members, and escalating replacement accounts.

A cluster verdict names a cluster by the id its alerts carry (ids are stable across
evaluations: :mod:`~stream_guard.core.linking.clusters`). At each cluster evaluation from
the verdict's ``at`` on, :class:`JudgedClusters`:

* gives every member the cluster's verdict (a member verdict with ``via`` = the cluster id,
  :meth:`~stream_guard.core.verdicts.AnalystVerdict.for_member`), once per member: an
  ``allow`` or ``benign`` silences them, a ``malicious`` one trains the supervised model;
  the member verdicts it gives are also queued (:meth:`take_given`) for the worker to
  publish on the verdicts topic, where the detectors holding those accounts read them;
* names the clusters an ``allow`` or ``benign`` verdict silences (no cluster alerts);
* raises an alert (detector ``cluster_verdict``, severity ``verdict_joined_severity``) on each
  account that joins a cluster judged ``malicious`` after its members were first given the
  verdict: a campaign replacing banned accounts is met at once.

>>> from stream_guard.core.verdicts import AnalystVerdict, VerdictBook
>>> from stream_guard.settings import Settings
>>> book = VerdictBook()
>>> _ = book.add(AnalystVerdict("v1", "c-1", "cluster", "malicious", 100.0, float("inf"), "confirmed", "ana"))
>>> judged = JudgedClusters(Settings(), book, clock=lambda: 0.0)
>>> judged.apply("c-1", ["a", "b"], 900.0), book.label_at("a", 900.0)   # members get the verdict
([], True)
>>> [(x["subject"], x["detectors"], x["severity"]) for x in judged.apply("c-1", ["a", "b", "new"], 1800.0)]
[('new', ['cluster_verdict'], 'high')]
>>> [v.subject for v in judged.take_given()]
['a', 'b', 'new']
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from stream_guard.core.alerts import Alert, build_alert
from stream_guard.core.rules import Verdict, reason
from stream_guard.core.verdicts import AnalystVerdict, VerdictBook, verdict_from_json
from stream_guard.core.vocabulary import CLUSTER_VERDICT
from stream_guard.settings import Settings

__all__ = ["JudgedClusters"]


class JudgedClusters:
    """The cluster verdicts of a :class:`~stream_guard.core.verdicts.VerdictBook` applied to
    the clusters of each evaluation (see the module docstring)."""

    def __init__(self, settings: Settings, verdicts: VerdictBook, *, clock: Callable[[], float] = time.time) -> None:
        self.s = settings
        self.verdicts = verdicts
        self.clock = clock
        #: cluster verdict id -> {member: event time it was given the verdict}
        self.given: dict[str, dict[str, float]] = {}
        self._queued: list[AnalystVerdict] = []  # member verdicts given since take_given
        self.changed = False  # verdicts or members given since take_changed (checkpoints)

    def add(self, verdict: AnalystVerdict) -> bool:
        """Take a verdict forwarded to the cluster stage; whether it was new."""
        new = self.verdicts.add(verdict)
        self.changed = self.changed or new
        return new

    def take_changed(self) -> bool:
        """Whether anything changed since the last call (then: a checkpoint holds it whole)."""
        out, self.changed = self.changed, False
        return out

    def apply(self, cluster_id: str, members: list[str], at: float) -> list[Alert]:
        """Give ``members`` of ``cluster_id`` its verdict in force at ``at``; returns the
        alerts on accounts that joined it after it was judged malicious."""
        v = self.verdicts.in_force(cluster_id, at, "cluster")
        if v is None:
            return []
        given = self.given.get(v.verdict_id)
        first = given is None
        if given is None:
            given = self.given[v.verdict_id] = {}
        new = [m for m in members if m not in given]
        if new:
            self.changed = True
        for m in new:
            given[m] = at
            member = v.for_member(m, at)
            if self.verdicts.add(member):
                self._queued.append(member)
        if first or v.verdict != "malicious":
            return []
        return [self._joined(v, m, len(members), at) for m in new]

    def silenced(self, cluster_id: str, at: float) -> bool:
        """Whether an ``allow`` or ``benign`` verdict keeps ``cluster_id`` from alerting at ``at``."""
        return self.verdicts.silenced(cluster_id, at, "cluster") is not None

    def take_given(self) -> list[AnalystVerdict]:
        """The member verdicts given since the last call (for the verdicts topic)."""
        out, self._queued = self._queued, []
        return out

    def _joined(self, v: AnalystVerdict, account: str, size: int, at: float) -> Alert:
        severity = self.s.verdict_joined_severity
        reasons = [reason("joined_judged_cluster", size, "-",
                          f"joined cluster {v.subject} after an analyst judged it malicious "
                          f"({v.analyst}: {v.reason})")]
        return build_alert(
            kind="account", subject=account, account_ids=[account],
            verdicts=[Verdict(CLUSTER_VERDICT, 1.0, severity, reasons)], score=1.0, severity=severity,
            window_start=v.at, window_end=at, raised_at=at,
            evidence={"cluster_id": v.subject, "cluster_accounts": size, "verdict_id": v.verdict_id},
            emitted_at=self.clock(),
        )

    # --- checkpoints (inside the cluster book's) -------------------------------------------
    def export(self) -> dict[str, Any]:
        """The cluster verdicts and whom each was given to, as JSON-able data."""
        clusters = [v.to_json() for v in self.verdicts if v.subject_kind == "cluster"]
        return {"verdicts": clusters, "given": self.given}

    def load(self, data: dict[str, Any] | None) -> None:
        """Restore :meth:`export` output (``None``: a checkpoint from before verdicts)."""
        if not data:
            return
        for doc in data["verdicts"]:
            self.verdicts.add(verdict_from_json(doc))
        self.given = {vid: dict(members) for vid, members in data["given"].items()}
        by_id = {v.verdict_id: v for v in self.verdicts if v.subject_kind == "cluster"}
        for vid, members in self.given.items():
            v = by_id.get(vid)
            if v is not None:
                self.verdicts.extend(v.for_member(m, at) for m, at in members.items())
