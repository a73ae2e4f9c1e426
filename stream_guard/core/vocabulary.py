"""The words alerts and metrics share: severities and detector names, defined once.

Severities are ordered; a detector name is what an alert's ``detectors`` list holds and
what the ``detector`` label of ``stream_guard_alerts_total`` carries.

>>> SEVERITIES.index("high") > SEVERITIES.index("medium")
True
>>> VOLUME_RULE in PER_ACCOUNT_DETECTORS, CLUSTER in CROSS_ACCOUNT_DETECTORS["cluster"]
(True, True)
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "ALERT_KINDS",
    "CLUSTER",
    "CLUSTER_MEMBER",
    "CLUSTER_VERDICT",
    "CROSS_ACCOUNT_DETECTORS",
    "EVIDENCE_SCORE",
    "MIXTURE_RULE",
    "MODEL_PIVOT",
    "PATTERN_RULE",
    "PER_ACCOUNT_DETECTORS",
    "POPULATION_MODEL",
    "SEVERITIES",
    "SUPERVISED_MODEL",
    "VERDICTS",
    "VOLUME_RULE",
    "AlertKind",
    "Severity",
    "VerdictKind",
]

#: The alert severities, lowest first (the alert contract's ``severity`` enum).
Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: Final[tuple[Severity, ...]] = ("low", "medium", "high", "critical")

#: What an alert is about (the alert contract's ``kind`` enum): one account, or a cluster of them.
AlertKind = Literal["account", "cluster"]
ALERT_KINDS: Final[tuple[AlertKind, ...]] = ("account", "cluster")

# per-account detectors (core/evidence.py, core/rules.py, core/models.py, core/supervised.py)
EVIDENCE_SCORE: Final = "evidence_score"
VOLUME_RULE: Final = "volume_rule"
PATTERN_RULE: Final = "pattern_rule"
POPULATION_MODEL: Final = "population_model"
SUPERVISED_MODEL: Final = "supervised_model"
#: Detectors judging one account from its own traffic, in the order their names combine.
PER_ACCOUNT_DETECTORS: Final[tuple[str, ...]] = (
    EVIDENCE_SCORE, PATTERN_RULE, POPULATION_MODEL, SUPERVISED_MODEL, VOLUME_RULE,
)

# cross-account detectors (core/linking/)
MIXTURE_RULE: Final = "mixture_rule"
CLUSTER_MEMBER: Final = "cluster_member"
MODEL_PIVOT: Final = "model_pivot"
CLUSTER: Final = "cluster"
#: an account that joined a cluster an analyst judged malicious (core/linking/judged.py)
CLUSTER_VERDICT: Final = "cluster_verdict"
#: Cross-account detectors by the alert ``kind`` they raise (``cluster_member``: one alert per
#: member, or grouped per cluster, see the ``cluster_member_alerts`` setting).
CROSS_ACCOUNT_DETECTORS: Final[dict[AlertKind, tuple[str, ...]]] = {
    "account": (CLUSTER_MEMBER, CLUSTER_VERDICT, MIXTURE_RULE, MODEL_PIVOT),
    "cluster": (CLUSTER, CLUSTER_MEMBER),
}

#: What an analyst's verdict says (the verdict contract's ``verdict`` enum, core/verdicts.py).
VerdictKind = Literal["malicious", "benign", "allow"]
VERDICTS: Final[tuple[VerdictKind, ...]] = ("malicious", "benign", "allow")
