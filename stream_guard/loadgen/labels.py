"""The ground-truth labels file: which accounts belong to which campaign, from when.

Written next to the events (never inside them) as one JSON document::

    {
      "schema_version": 1,
      "run": {"run_id", "scenario", "seed", "start", "end", "events", "complete", "knobs"},
      "campaigns": {NAME: {"kind", "active_from", "pivot_at", "accounts", "events", "params"}},
      "benign_kinds": {KIND: {"accounts", "active_accounts", "events"}},
      "accounts": {ACCOUNT_ID: {"label": "campaign" | "benign", "kind", "campaign",
                                "active_from", "events", "first_ts", "last_ts"}},
      "activity": {"bucket_s", "start", "series": {NAME or "benign:KIND": [count per bucket]}}
    }

Times are RFC 3339. ``events`` / ``first_ts`` / ``last_ts`` are filled when generation
ends (``run.complete`` is then true); an account that sent nothing has ``events`` 0.

The newer designs (see ``designs``) add, without changing the schema version: a
``"variant"`` in the entry of each of their accounts, ``"variants": {VARIANT: accounts}``
in ``benign_kinds`` of their benign kinds, campaign names ``KIND:VARIANT`` (with
``params.variant`` and the variant's parameters); ``run.knobs`` lists their knobs only
when set away from their defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from stream_guard.loadgen.timeutil import parse_iso

__all__ = ["LABELS_SCHEMA_VERSION", "Labels", "read_labels", "write_labels"]

LABELS_SCHEMA_VERSION = 1


def write_labels(path: str | Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` atomically (a reader never sees half a file)."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_bytes(
        orjson.dumps(doc, option=orjson.OPT_INDENT_2 if len(doc.get("accounts", {})) < 2000 else 0)
    )
    os.replace(tmp, p)


@dataclass(frozen=True, slots=True)
class Labels:
    """A parsed labels file, with times as Unix seconds."""

    doc: dict[str, Any]

    @property
    def accounts(self) -> dict[str, dict[str, Any]]:
        """Per-account entries."""
        result: dict[str, dict[str, Any]] = self.doc.get("accounts", {})
        return result

    @property
    def campaigns(self) -> dict[str, dict[str, Any]]:
        """Per-campaign entries."""
        result: dict[str, dict[str, Any]] = self.doc.get("campaigns", {})
        return result

    def campaign_start(self, name: str) -> float:
        """Campaign ``name``'s ``active_from`` (Unix seconds)."""
        return parse_iso(self.campaigns[name]["active_from"])

    def members(self, name: str) -> list[str]:
        """Account ids of campaign ``name``."""
        return [a for a, e in self.accounts.items() if e.get("campaign") == name]

    def benign(self, *, active_only: bool = True) -> dict[str, str]:
        """Benign account id -> kind (only those that sent events, when known)."""
        out: dict[str, str] = {}
        for a, e in self.accounts.items():
            if e.get("label") != "benign":
                continue
            if active_only and e.get("events") == 0:
                continue
            out[a] = str(e.get("kind"))
        return out


def read_labels(path: str | Path) -> Labels:
    """Read a labels file."""
    doc = orjson.loads(Path(path).read_bytes())
    if not isinstance(doc, dict) or "accounts" not in doc:
        raise ValueError(f"{path}: not a stream-guard labels file")
    return Labels(doc)
