"""Clusters of accounts joined by suspicious shared attribute values, and their alerts.

A :class:`ClusterBook` keeps the values that currently *link* their accounts
(:class:`~stream_guard.core.linking.index.LinkVerdict`, refreshed whenever the value sees
traffic and dropped ``link_ttl_s`` after its last refresh: the decay). At each evaluation
it joins accounts into connected components with union-find over those links, gives each
component a **stable id** (the id of the previous cluster holding most of its members, else
one derived from its earliest link), and scores it:

``score = 0.4 * strongest link + 0.6 * (0.4 likeness + 0.25 youth + 0.2 evenness + 0.15 synchrony)``

over all members (their mean extraction-likeness, share of young accounts, evenness of
their day volumes and synchrony of their active hours; the weights are
``cluster_link_weight`` and ``cluster_evidence_weights``), damped below a likeness of
``link_likeness_gate``. Severity bands: ``cluster_medium_score``, ``cluster_high_score``,
``cluster_critical_score``. A cluster with at least
``cluster_min_accounts`` members and a score of at least ``cluster_min_score`` raises a
``kind: cluster`` alert naming the shared values and the aggregate evidence; it is not
repeated during ``cooldown_s`` unless its severity rises or it grows by
``cluster_growth_factor`` (a hydra replacing banned accounts). Every member of an alerted
cluster is also reported (detector ``cluster_member``) at the cluster's severity, one step
lower for members that do not look like extraction themselves (likeness below
``cluster_member_min_likeness``), once per cooldown and again when its severity rises. By
default the members reported at one evaluation are grouped: one ``kind: cluster`` alert per
cluster and severity lists them (in parts of ``cluster_alert_max_ids``), so a hydra of
24,000 accounts is a few dozen alerts, not one per member per step;
``cluster_member_alerts=each`` gives one ``kind: account`` alert per member instead.

Pivot verdicts (accounts moving fast to a newly released model) are kept as evidence:
they add a reason to clusters whose members pivoted, and an extraction-like account that
pivoted (likeness at least ``pivot_min_likeness``) gets a ``model_pivot`` alert, ``high`` from
``pivot_high_likeness`` with a ``pivot_high_speedup``, else ``medium``.

>>> from stream_guard.settings import Settings
>>> from stream_guard.core.linking.index import LinkVerdict, MemberRow
>>> book = ClusterBook(Settings(), clock=lambda: 0.0)
>>> rows = [MemberRow(f"a{i}", 26.0, 0.9, 2.0, 0xFFFFFF) for i in range(8)]
>>> book.update([LinkVerdict("payment", "pm_x", 900.0, 8, 0.9, True, {}, rows)])
>>> alerts = book.evaluate(900.0)
>>> [(a["kind"], a["detectors"], a["severity"], a["account_count"]) for a in alerts]
[('cluster', ['cluster'], 'critical', 8), ('cluster', ['cluster_member'], 'critical', 8)]
>>> book.evaluate(1800.0)   # cooling down
[]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import xxhash

from stream_guard.core.alerts import Alert, Cooldown, admit, alert_id, build_alert
from stream_guard.core.linking.changes import Tracked, Untracked
from stream_guard.core.linking.index import (
    LinkVerdict,
    MemberRow,
    MemberTable,
    PivotVerdict,
    group_evidence,
    likeness_gate,
    verdict_from_wire,
)
from stream_guard.core.linking.judged import JudgedClusters
from stream_guard.core.rules import Verdict, reason, severity_rank
from stream_guard.core.verdicts import VerdictBook
from stream_guard.core.vocabulary import CLUSTER, CLUSTER_MEMBER, MODEL_PIVOT, SEVERITIES, Severity
from stream_guard.settings import Settings

__all__ = ["Cluster", "ClusterBook", "ClusterCooldown", "Pivoted"]


class ClusterCooldown(NamedTuple):
    """The alert gate of one cluster id (a tuple: checkpoints hold it as a JSON array)."""

    rank: float  # severity rank of its last alert
    until: float  # event time its cooldown ends
    members: float  # its member count at that alert (a float, as checkpoints have always held it)


class Pivoted(NamedTuple):
    """A pivot an account made (evidence kept for ``link_ttl_s``; a JSON array in checkpoints)."""

    model: str
    share: float
    delay_s: float
    requests: float
    likeness: float
    speedup: float
    at: float  # event time of the pivot verdict


@dataclass(slots=True)
class Cluster:
    """One connected component at one evaluation."""

    cluster_id: str
    members: list[str]
    links: list[LinkVerdict]
    score: float
    stats: dict[str, float]


@dataclass(slots=True)
class _Changes:
    """What changed in a :class:`ClusterBook` since its last checkpoint pass (counted once a
    first pass asked for the whole book: see :mod:`~stream_guard.core.linking.changes`)."""

    links: Tracked = field(default_factory=Tracked)  # link keys set, replaced or dropped
    pivots: Tracked = field(default_factory=Tracked)  # accounts whose pivot record changed
    clusters: Tracked = field(default_factory=Tracked)  # accounts whose cluster id changed
    gates: Tracked = field(default_factory=Tracked)  # (detector, account) member gates

    @classmethod
    def untracked(cls) -> _Changes:
        return cls(Untracked(), Untracked(), Untracked(), Untracked())


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, items: Sequence[str]) -> None:
        """Join ``items`` into one set. Items seen for the first time join in bulk (a
        hydra's link lists thousands of them); only the roots of the others are looked up."""
        parent = self.parent
        new = [x for x in items if x not in parent]
        if len(new) == len(items):
            if new:
                parent.update(dict.fromkeys(new, new[0]))
            return
        find = self.find
        old = [x for x in items if x in parent] if new else items
        first = find(old[0])
        for r in {find(x) for x in old}:
            if r != first:
                parent[r] = first
        parent.update(dict.fromkeys(new, first))


class _MemberRows:
    """account -> its member row in the last link (in key order) that lists it; a row is
    read from its link's table when asked for (not one row object per membership)."""

    __slots__ = ("rows_at", "tables")

    def __init__(self) -> None:
        self.tables: dict[str, MemberTable] = {}
        self.rows_at: dict[str, int] = {}

    def add(self, table: MemberTable) -> None:
        accounts = table.accounts
        self.tables.update(dict.fromkeys(accounts, table))
        self.rows_at.update(zip(accounts, range(len(accounts)), strict=True))

    def __getitem__(self, account: str) -> MemberRow:
        return self.tables[account][self.rows_at[account]]


class _Reported(NamedTuple):
    """A cluster member reported at an evaluation: who, at which severity, its row."""

    account: str
    severity: str
    row: MemberRow


def _order(v: LinkVerdict | PivotVerdict) -> tuple[float, str, str]:
    if isinstance(v, PivotVerdict):
        return (v.at, "~pivot", v.model)
    return (v.at, v.kind, v.value)


def _severity(score: float, s: Settings) -> Severity:
    if score >= s.cluster_critical_score:
        return "critical"
    if score >= s.cluster_high_score:
        return "high"
    if score >= s.cluster_medium_score:
        return "medium"
    return "low"


class ClusterBook:
    """Active links -> clusters -> cluster and member alerts (see the module docstring)."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time,
                 verdicts: VerdictBook | None = None) -> None:
        self.s = settings
        self.clock = clock
        # analyst verdicts on clusters (and through them on members): core/linking/judged.py
        book = verdicts if verdicts is not None else VerdictBook(benign_quiet_s=settings.verdict_benign_quiet_s)
        self.judged = JudgedClusters(settings, book, clock=clock)
        self.links: dict[tuple[str, str], LinkVerdict] = {}
        self.linked_since: dict[tuple[str, str], float] = {}
        self.pivoted: dict[str, Pivoted] = {}
        self.account_cluster: dict[str, str] = {}
        self.cluster_gate: dict[str, ClusterCooldown] = {}
        # detector -> account -> cooldown (not account -> detector: a dict per gated account
        # cost ~230 B, and a hydra gates every member)
        self.member_gates: dict[str, dict[str, Cooldown]] = {}
        self.clusters: list[Cluster] = []
        self._pending: list[LinkVerdict | PivotVerdict] = []
        #: what changed since the last export_changes (checkpoint passes of changes)
        self.changed = _Changes.untracked()

    # --- checkpoints -----------------------------------------------------------------------
    def export(self) -> dict[str, Any]:
        """The book's state as JSON-able data (the inverse of :meth:`load`): active links and
        since when, pivots, each account's cluster id, alert cooldowns and pending verdicts.
        The clusters themselves are rebuilt by the next :meth:`evaluate`."""
        return {
            "links": [v.to_wire() for v in self.links.values()],
            "linked_since": [[k, v, t] for (k, v), t in self.linked_since.items()],
            # the records as JSON arrays (orjson writes no NamedTuple), as they have always been
            "pivoted": {a: list(p) for a, p in self.pivoted.items()},
            "account_cluster": self.account_cluster,
            "member_gate": self._gates_by_account(),
            **self._meta(),
            "judged": self.judged.export(),
        }

    def _meta(self) -> dict[str, Any]:
        """What every pass holds whole: the cluster gates (one per alerted cluster) and the
        verdicts not applied yet (at most the boundaries not judged yet)."""
        return {"cluster_gate": {c: list(g) for c, g in self.cluster_gate.items()},
                "pending": [v.to_wire() for v in self._pending]}

    def checkpoint_data(self, *, changes: bool) -> dict[str, Any]:
        """For a checkpoint pass: with ``changes`` what :meth:`export_changes` gives, else the
        whole book (:meth:`export`); either way the changes are counted anew from here."""
        if changes:
            return self.export_changes()
        self.changed = _Changes()
        self.judged.take_changed()  # the whole book holds them
        return self.export()

    def export_changes(self) -> dict[str, Any]:
        """What changed since the last call (or since :meth:`load`): what :meth:`apply_changes`
        needs to bring the book as it was at that call up to now. Links, pivots, cluster ids
        and member gates as they are now (``None``: gone); the cluster gates and the pending
        verdicts whole."""
        if not self.changed.links.tracking:
            raise RuntimeError("cluster book: no whole checkpoint pass yet, its changes are not counted")
        ch, self.changed = self.changed, _Changes()
        links, since = self.links, self.linked_since
        gates = self.member_gates
        return {
            "links": [[k, v, links[(k, v)].to_wire() if (k, v) in links else None, since.get((k, v))]
                      for k, v in sorted(ch.links)],
            "pivoted": {a: list(p) if (p := self.pivoted.get(a)) is not None else None for a in sorted(ch.pivots)},
            "account_cluster": {a: self.account_cluster.get(a) for a in sorted(ch.clusters)},
            "member_gate": [[d, a, list(g) if (g := gates.get(d, {}).get(a)) is not None else None]
                            for d, a in sorted(ch.gates)],
            **self._meta(),
            # the analyst verdicts on clusters, whole, only when they changed (they rarely do)
            **({"judged": self.judged.export()} if self.judged.take_changed() else {}),
        }

    def load(self, data: dict[str, Any]) -> None:
        """Replace this book's state by exported data."""
        links = [verdict_from_wire(v) for v in data["links"]]
        self.links = {(v.kind, v.value): v for v in links if isinstance(v, LinkVerdict)}
        self.linked_since = {(k, v): t for k, v, t in data["linked_since"]}
        self.pivoted = {a: Pivoted._make(p) for a, p in data["pivoted"].items()}
        self.account_cluster = dict(data["account_cluster"])
        self.member_gates = {}
        for a, gates in data["member_gate"].items():
            for d, g in gates.items():
                self.member_gates.setdefault(d, {})[a] = Cooldown._make(g)
        self._load_meta(data)
        self.clusters = []
        self.changed = _Changes()

    def apply_changes(self, data: dict[str, Any]) -> None:
        """Bring the book up to date with :meth:`export_changes`' data (after :meth:`load` of
        the whole book it was exported from, and the changes before it, in order)."""
        for kind, value, wire, since in data["links"]:
            key = (kind, value)
            v = verdict_from_wire(wire) if wire is not None else None
            if isinstance(v, LinkVerdict):
                self.links[key] = v
            else:
                self.links.pop(key, None)
            if since is None:
                self.linked_since.pop(key, None)
            else:
                self.linked_since[key] = since
        for a, p in data["pivoted"].items():
            if p is None:
                self.pivoted.pop(a, None)
            else:
                self.pivoted[a] = Pivoted._make(p)
        for a, cid in data["account_cluster"].items():
            if cid is None:
                self.account_cluster.pop(a, None)
            else:
                self.account_cluster[a] = cid
        for d, a, g in data["member_gate"]:
            if g is None:
                self.member_gates.get(d, {}).pop(a, None)
            else:
                self.member_gates.setdefault(d, {})[a] = Cooldown._make(g)
        self._load_meta(data)
        self.changed = _Changes()

    def _load_meta(self, data: dict[str, Any]) -> None:
        self.cluster_gate = {c: ClusterCooldown._make(g) for c, g in data["cluster_gate"].items()}
        self._pending = [verdict_from_wire(v) for v in data["pending"]]
        self.judged.load(data.get("judged"))  # absent in checkpoints from before analyst verdicts

    # --- input ---------------------------------------------------------------------------
    def update(self, verdicts: Iterable[LinkVerdict | PivotVerdict]) -> None:
        """Take link and pivot verdicts; each is applied by the first :meth:`evaluate` at or
        after its boundary (verdicts of later boundaries may arrive early)."""
        self._pending.extend(verdicts)

    def next_pending(self) -> float | None:
        """The earliest boundary among verdicts not yet applied (``None``: none)."""
        return min((v.at for v in self._pending), default=None)

    def holding(self) -> bool:
        """Whether judging a boundary could still change anything without new verdicts
        (links, pivots or alert gates held; see :func:`~stream_guard.core.linking.pipeline.boundaries`)."""
        return bool(self.links or self.pivoted or self.cluster_gate or any(self.member_gates.values()))

    def _apply(self, at: float) -> list[Alert]:
        ready = [v for v in self._pending if v.at <= at]
        if not ready:
            return []
        self._pending = [v for v in self._pending if v.at > at]
        alerts: list[Alert] = []
        for v in sorted(ready, key=_order):
            if isinstance(v, PivotVerdict):
                alerts += self._pivot(v)
                continue
            key = (v.kind, v.value)
            self.changed.links.add(key)
            if v.linked:
                self.links[key] = v
                self.linked_since.setdefault(key, v.at)
            else:
                self.links.pop(key, None)
                self.linked_since.pop(key, None)
        return alerts

    # --- evaluation ----------------------------------------------------------------------
    def evaluate(self, at: float) -> list[Alert]:
        """Apply the verdicts up to ``at``, rebuild clusters from the links active at ``at``
        and raise their alerts (``model_pivot`` alerts of extraction-like movers first)."""
        pivot_alerts = self._apply(at)
        horizon = at - self.s.link_ttl_s
        for key in [k for k, v in self.links.items() if v.at < horizon]:
            del self.links[key]
            self.linked_since.pop(key, None)
            self.changed.links.add(key)
        for account in [a for a, p in self.pivoted.items() if p.at < horizon]:
            del self.pivoted[account]
            self.changed.pivots.add(account)
        uf = _UnionFind()
        info = _MemberRows()
        for key in sorted(self.links):
            table = self.links[key].table
            uf.union(table.accounts)
            info.add(table)
        groups: dict[str, list[str]] = {}
        for account in sorted(uf.parent):
            groups.setdefault(uf.find(account), []).append(account)
        links_of: dict[str, list[LinkVerdict]] = {}
        for key in sorted(self.links):
            v = self.links[key]
            if v.members:
                links_of.setdefault(uf.find(v.table.accounts[0]), []).append(v)
        clusters: list[Cluster] = []
        taken: set[str] = set()
        known: set[str] | None = None  # ids in use before this evaluation (built once, if a cluster is new)
        for root, members in sorted(groups.items(), key=lambda item: (-len(item[1]), item[1][0])):
            links = links_of.get(root, [])
            cid = self._voted_id(members, taken)
            if cid is None:
                if known is None:
                    known = set(self.account_cluster.values()) | set(self.cluster_gate)
                cid = self._new_id(members, links, taken, known)
            taken.add(cid)
            score, stats = self._score(members, links, info)
            clusters.append(Cluster(cid, members, links, score, stats))
        self._set_account_clusters({a: c.cluster_id for c in clusters for a in c.members})
        self.clusters = clusters
        alerts: list[Alert] = []
        judged = self.judged
        for c in clusters:
            alerts += judged.apply(c.cluster_id, c.members, at)
            if judged.silenced(c.cluster_id, at):
                continue  # allow-listed or judged benign: tracked, no alerts
            if len(c.members) >= self.s.cluster_min_accounts and c.score >= self.s.cluster_min_score:
                alerts += self._alert(c, at, info)
        live = {c.cluster_id for c in clusters}
        for cid in [c for c, g in self.cluster_gate.items() if c not in live and g.until <= at]:
            del self.cluster_gate[cid]
        self._drop_member_gates(at)
        return pivot_alerts + alerts

    def _set_account_clusters(self, new: dict[str, str]) -> None:
        """Replace each account's cluster id, counting the accounts whose id changed."""
        old = self.account_cluster
        changed = self.changed.clusters
        if changed.tracking:
            changed.update(a for a, cid in new.items() if old.get(a) != cid)
            changed.update(a for a in old if a not in new)
        self.account_cluster = new

    def _gates_by_account(self) -> dict[str, dict[str, list[float]]]:
        """The member gates as checkpoints hold them: account -> detector -> [rank, until]."""
        out: dict[str, dict[str, list[float]]] = {}
        for d, gates in self.member_gates.items():
            for a, g in gates.items():
                out.setdefault(a, {})[d] = list(g)
        return out

    def _drop_member_gates(self, at: float) -> None:
        """Forget the gates of accounts outside every cluster whose gates have all ended."""
        ended: dict[str, bool] = {}  # account -> all its gates ended (and it is in no cluster)
        for gates in self.member_gates.values():
            for a, g in gates.items():
                if ended.get(a, True):
                    ended[a] = g.until <= at and a not in self.account_cluster
        for d, gates in self.member_gates.items():
            for a in [a for a in gates if ended[a]]:
                del gates[a]
                self.changed.gates.add((d, a))

    def _voted_id(self, members: list[str], taken: set[str]) -> str | None:
        """The id of the previous cluster holding most of ``members`` (not taken yet this
        evaluation; ties to the smaller id), or ``None``: a new cluster."""
        votes: dict[str, int] = {}
        for a in members:
            cid = self.account_cluster.get(a)
            if cid is not None and cid not in taken:
                votes[cid] = votes.get(cid, 0) + 1
        if votes:
            return min(votes, key=lambda c: (-votes[c], c))
        return None

    def _new_id(self, members: list[str], links: list[LinkVerdict], taken: set[str], known: set[str]) -> str:
        """A new cluster's id: named after its earliest link, skipping ids in use (``taken``
        this evaluation, ``known`` before it: a value that named a live cluster may later link
        another group). (``known`` is not copied per call: with many new clusters at once,
        a union per call was quadratic in the accounts clustered.)"""
        ordered = sorted(links, key=lambda v: (self.linked_since.get((v.kind, v.value), v.at), v.kind, v.value))
        for seed in [f"{v.kind}\x1f{v.value}" for v in ordered] + members:
            cid = "cluster-" + xxhash.xxh3_64_hexdigest(seed.encode())
            if cid not in taken and cid not in known:
                return cid
        return "cluster-" + xxhash.xxh3_64_hexdigest("\x1f".join(members).encode())

    def _score(
        self, members: list[str], links: list[LinkVerdict], info: _MemberRows
    ) -> tuple[float, dict[str, float]]:
        rows = [info[a] for a in members]
        s = self.s
        ev = group_evidence(rows, s)
        strength = max((v.score for v in links), default=0.0)
        pivoted = sum(1 for a in members if a in self.pivoted) / len(rows)
        w_likeness, w_young, w_even, w_sync = s.cluster_evidence
        aggregate = (w_likeness * ev["likeness"] + w_young * ev["young_share"] + w_even * ev["evenness"]
                     + w_sync * ev["synchrony"])
        gate = likeness_gate(ev["likeness"], s)  # structure alone does not make a campaign
        w_link = s.cluster_link_weight
        score = round(min(w_link * strength + (1.0 - w_link) * aggregate, 1.0) * gate, 4)
        stats = {
            "accounts": float(len(rows)), "links": float(len(links)), "strongest_link": round(strength, 4),
            "likeness_mean": ev["likeness"], "young_share": ev["young_share"], "evenness": ev["evenness"],
            "synchrony": ev["synchrony"], "day_requests": ev["day_requests"], "pivot_share": round(pivoted, 4),
        }
        return score, stats

    # --- alerts --------------------------------------------------------------------------
    def _alert(self, c: Cluster, at: float, info: _MemberRows) -> list[Alert]:
        s = self.s
        severity = _severity(c.score, s)
        rank = severity_rank(severity)
        n = len(c.members)
        gate = self.cluster_gate.get(c.cluster_id)
        grown = (gate is not None and n >= gate.members * s.cluster_growth_factor
                 and n - gate.members >= s.cluster_min_accounts)
        if gate is not None and at < gate.until and rank <= gate.rank and not grown:
            # the cluster alert is cooling down; members that joined since are still reported
            return self._member_alerts(c, severity, at, info)
        previous = int(gate.members) if gate is not None else 0
        self.cluster_gate[c.cluster_id] = ClusterCooldown(float(rank), at + s.cooldown_s, float(n))
        st = c.stats
        reasons = [reason("cluster_accounts", n, s.cluster_min_accounts,
                          f"{n} accounts linked by {len(c.links)} shared attribute values")]
        if grown:
            reasons.append(reason("cluster_growth", n - previous, f"x{s.cluster_growth_factor}",
                                  f"grew from {previous} accounts since its last alert"))
        by_kind: dict[str, list[LinkVerdict]] = {}
        for v in sorted(c.links, key=lambda v: (-v.score, v.kind, v.value)):
            by_kind.setdefault(v.kind, []).append(v)
        for kind, values in by_kind.items():  # the strongest value of each kind, strongest kind first
            v, vs = values[0], values[0].stats
            more = f"; {len(values) - 1} more {kind} values link members" if len(values) > 1 else ""
            reasons.append(reason(
                f"shared_{kind}", v.accounts, s.link_min_accounts,
                f"{kind} {v.value} shared by {v.accounts} accounts (link score {v.score:.2f} >= "
                f"{s.link_min_score}; likeness {vs.get('likeness', 0):.2f}, young {vs.get('young_share', 0):.0%}, "
                f"evenness {vs.get('evenness', 0):.2f}, synchrony {vs.get('synchrony', 0):.2f}){more}",
            ))
        reasons += [
            reason("likeness_mean", st["likeness_mean"], "-", "members' mean extraction-likeness (0..1)"),
            reason("young_share", st["young_share"], f"< {s.young_account_days:g} days", "share of young accounts"),
            reason("evenness", st["evenness"], "-", "1 - CV of members' day requests (load balancing -> 1)"),
            reason("synchrony", st["synchrony"], "-", "members' active hours vs the majority (Jaccard)"),
        ]
        if st["pivot_share"] > 0:
            reasons.append(reason("pivot_share", st["pivot_share"], s.pivot_min_share,
                                  "share of members that moved to a newly released model fast"))
        kinds: dict[str, int] = {}
        for v in c.links:
            kinds[v.kind] = kinds.get(v.kind, 0) + 1
        evidence: dict[str, Any] = dict(st)
        evidence["shared"] = dict(sorted(kinds.items()))
        verdict = Verdict(CLUSTER, c.score, severity, reasons)
        alert = build_alert(
            kind="cluster", subject=c.cluster_id, account_ids=c.members[: s.cluster_alert_max_ids],
            verdicts=[verdict], score=c.score, severity=severity, window_start=at - s.link_ttl_s,
            window_end=at, raised_at=at, evidence=evidence, emitted_at=self.clock(),
        )
        alert["account_count"] = n
        return [alert, *self._member_alerts(c, severity, at, info)]

    def _member_alerts(self, c: Cluster, severity: Severity, at: float, info: _MemberRows) -> list[Alert]:
        """The alerts on the members of cluster ``c`` at ``severity`` not yet reported at it:
        one per member, or grouped per severity (the ``cluster_member_alerts`` setting)."""
        gates = self.member_gates.setdefault(CLUSTER_MEMBER, {})
        rank = severity_rank(severity)
        admitted: list[_Reported] = []
        verdicts = self.judged.verdicts
        for account in c.members:
            if verdicts.silenced(account, at) is not None:
                continue  # this member is allow-listed or judged benign
            g = gates.get(account)
            if g is not None and at < g.until and rank <= g.rank:
                continue  # cooling down at this severity or above: so at the one its likeness may lower
            reported = self._admit_member(account, severity, at, info[account])
            if reported is not None:
                admitted.append(reported)
        if self.s.cluster_member_alerts == "grouped":
            return self._grouped(c, at, admitted)
        return [self._member_alert(c, at, m) for m in admitted]

    def _admit_member(self, account: str, severity: str, at: float, row: MemberRow) -> _Reported | None:
        """Whether member ``account`` is reported now, and at which severity (one step lower
        when its own likeness is low); records it in the member gates if so."""
        s = self.s
        if row.likeness < s.cluster_member_min_likeness and severity != "low":
            severity = SEVERITIES[severity_rank(severity) - 1]
        # (admit keys its gate dict by whatever it is given: here the account)
        if not admit(self.member_gates.setdefault(CLUSTER_MEMBER, {}), account, severity, at=at,
                     cooldown_s=s.cooldown_s):
            return None
        self.changed.gates.add((CLUSTER_MEMBER, account))
        return _Reported(account, severity, row)

    def _member_alert(self, c: Cluster, at: float, m: _Reported) -> Alert:
        """One ``account`` alert on member ``m`` of cluster ``c``."""
        s = self.s
        reasons = [
            reason("cluster", len(c.members), s.cluster_min_accounts,
                   f"member of cluster {c.cluster_id} (score {c.score:.2f}) of {len(c.members)} accounts"),
            reason("likeness", m.row.likeness, "-", "this account's own extraction-likeness (0..1)"),
        ]
        verdict = Verdict(CLUSTER_MEMBER, c.score, m.severity, reasons)
        return build_alert(
            kind="account", subject=m.account, account_ids=[m.account], verdicts=[verdict], score=c.score,
            severity=m.severity, window_start=at - s.link_ttl_s, window_end=at, raised_at=at,
            evidence={"cluster_id": c.cluster_id, "cluster_accounts": len(c.members),
                      "day_requests": m.row.day_requests, "likeness": m.row.likeness,
                      "account_age_days": m.row.age_days},
            emitted_at=self.clock(),
        )

    def _grouped(self, c: Cluster, at: float, members: list[_Reported]) -> list[Alert]:
        """Members ``members`` of cluster ``c`` as one ``cluster`` alert per severity (highest
        first), listing them in parts of ``cluster_alert_max_ids`` accounts."""
        s = self.s
        by_severity: dict[str, list[_Reported]] = {}
        for m in members:
            by_severity.setdefault(m.severity, []).append(m)
        size = max(1, s.cluster_alert_max_ids)
        out: list[Alert] = []
        for severity in sorted(by_severity, key=severity_rank, reverse=True):
            group = by_severity[severity]
            parts = [group[i:i + size] for i in range(0, len(group), size)]
            for number, part in enumerate(parts, 1):
                likeness = [m.row.likeness for m in part]
                more = f"; part {number} of {len(parts)}" if len(parts) > 1 else ""
                reasons = [
                    reason("cluster", len(c.members), s.cluster_min_accounts,
                           f"{len(group)} members of cluster {c.cluster_id} (score {c.score:.2f}, "
                           f"{len(c.members)} accounts) reported at {severity}{more}"),
                    reason("likeness", min(likeness), "-", "the lowest own extraction-likeness (0..1) among them"),
                ]
                alert = build_alert(
                    kind="cluster", subject=c.cluster_id, account_ids=[m.account for m in part],
                    verdicts=[Verdict(CLUSTER_MEMBER, c.score, severity, reasons)], score=c.score,
                    severity=severity, window_start=at - s.link_ttl_s, window_end=at, raised_at=at,
                    evidence={"cluster_id": c.cluster_id, "cluster_accounts": len(c.members),
                              "members_reported": len(group), "part": number, "parts": len(parts),
                              "likeness_mean": round(sum(likeness) / len(likeness), 4)},
                    emitted_at=self.clock(),
                )
                if number > 1:  # one id per part
                    alert["alert_id"] = alert_id(f"{c.cluster_id}#{number}", CLUSTER_MEMBER, at - s.link_ttl_s,
                                                 at, severity)
                out.append(alert)
        return out

    def _pivot(self, v: PivotVerdict) -> list[Alert]:
        alerts: list[Alert] = []
        s = self.s
        for account, share, delay, requests, likeness, speedup in v.movers:
            self.pivoted[account] = Pivoted(v.model, share, delay, requests, likeness, speedup, v.at)
            self.changed.pivots.add(account)
            if likeness < s.pivot_min_likeness:
                continue  # a fast benign adopter: evidence only
            if self.judged.verdicts.silenced(account, v.at) is not None:
                continue  # allow-listed or judged benign: evidence only
            severity = "high" if likeness >= s.pivot_high_likeness and speedup >= s.pivot_high_speedup else "medium"
            if not admit(self.member_gates.setdefault(MODEL_PIVOT, {}), account, severity, at=v.at,
                         cooldown_s=s.cooldown_s):
                continue
            self.changed.gates.add((MODEL_PIVOT, account))
            score = round(min(0.5 + 0.5 * likeness * share, 1.0), 4)
            reasons = [
                reason("pivot_share", share, s.pivot_min_share,
                       f"share of its requests sent to {v.model} (first seen in the stream at "
                       f"{v.released_at:.0f}) once it started using it"),
                reason("pivot_delay_s", delay, s.pivot_window_s,
                       "seconds from the model's first appearance to its first use"),
                reason("pivot_speedup", speedup, "-", "day requests now / day requests at its first use"),
                reason("likeness", likeness, s.pivot_min_likeness, "this account's own extraction-likeness (0..1)"),
            ]
            alerts.append(build_alert(
                kind="account", subject=account, account_ids=[account],
                verdicts=[Verdict(MODEL_PIVOT, score, severity, reasons)], score=score, severity=severity,
                window_start=v.released_at, window_end=v.at, raised_at=v.at,
                evidence={"model": v.model, "requests_on_model": requests, "share": share,
                          "delay_s": delay, "speedup": speedup},
                emitted_at=self.clock(),
            ))
        return alerts
