"""The request activity of a case's accounts, from an events file (optional input).

One pass over a request-events file (JSON Lines, ``.gz`` allowed; a line holds one event
or a JSON array of them, as ``stream-guard replay`` reads it) keeps, for the accounts
asked for only: requests per hour of event time, first and last event, and how often each
*linking attribute value* was used (IP address, address prefix, ASN, client and payment
fingerprints, user agent, system-prompt hash: the values the cross-account stages link
accounts by, in the same pseudonymised form, :func:`stream_guard.core.linking.event_values`,
so they match the values named in cluster alerts). Nothing else of an event is kept: in
particular never its ``prompt``.

>>> import json, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "events.jsonl"
>>> rows = [{"account_id": "a", "ts": "2026-03-02T09:10:00Z", "payment_fingerprint": "pm_1", "prompt": "secret"},
...         [{"account_id": "a", "ts": 1772442900}, {"account_id": "b", "ts": 1772442900}], "oops"]
>>> _ = path.write_text("\\n".join(json.dumps(r) for r in rows) + "\\n")
>>> act = scan_events(path, {"a"}, kinds={"payment"})
>>> a = act.accounts["a"]
>>> a.requests, sorted(a.hours.items()), [(v.kind, v.value, n) for v, n in a.values.items()]
(2, [(492345, 2)], [('payment', 'pm_1', 1)])
>>> act.events, act.skipped.count
(3, 1)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stream_guard.contracts import parse_time
from stream_guard.core.linking.attributes import event_values
from stream_guard.report.load import Skipped, iter_json_lines

__all__ = ["HOUR", "AccountActivity", "Activity", "AttributeValue", "scan_events"]

#: Seconds in an hour: the timeline's activity unit (hour index = ts // HOUR).
HOUR = 3600


@dataclass(frozen=True, order=True)
class AttributeValue:
    """One linking attribute value: its kind (``ip``, ``payment``, ...) and value."""

    kind: str
    value: str


@dataclass
class AccountActivity:
    """What the events file says about one account."""

    requests: int = 0
    first_ts: float = float("inf")
    last_ts: float = float("-inf")
    hours: Counter[int] = field(default_factory=Counter)  # hour index -> requests
    values: Counter[AttributeValue] = field(default_factory=Counter)  # value -> requests using it

    def add(self, ts: float, values: list[AttributeValue]) -> None:
        self.requests += 1
        self.first_ts = min(self.first_ts, ts)
        self.last_ts = max(self.last_ts, ts)
        self.hours[int(ts // HOUR)] += 1
        self.values.update(values)


@dataclass(frozen=True)
class Activity:
    """The activity of the accounts asked for, and what the file held in all."""

    path: str
    accounts: dict[str, AccountActivity]
    events: int  # events read (every account)
    skipped: Skipped


def scan_events(path: Path, accounts: Collection[str], *, kinds: Collection[str],
                hash_key: bytes = b"") -> Activity:
    """One pass over the events file, keeping the activity of ``accounts`` (attribute
    values of ``kinds`` only; ``hash_key`` keys the pseudonyms like the
    ``link_hash_key`` setting). An array element or line that is not an event object with
    an ``account_id`` (and, for the accounts kept, a valid ``ts``) is skipped and counted."""
    wanted = set(accounts)
    kept: dict[str, AccountActivity] = {}
    skipped = Skipped()
    events = 0
    for line in iter_json_lines(path, skipped):
        batch: list[Any] = line.value if isinstance(line.value, list) else [line.value]
        for event in batch:
            account = event.get("account_id") if isinstance(event, dict) else None
            if not isinstance(account, str):
                skipped.add(line.number, "not a request event (no account_id)")
                continue
            events += 1
            if account not in wanted:
                continue
            ts = parse_time(event.get("ts"))
            if ts is None:
                skipped.add(line.number, f"event of {account[:64]!r} without a valid ts")
                continue
            values = [AttributeValue(k, v) for k, v in event_values(event, hash_key) if k in kinds]
            kept.setdefault(account, AccountActivity()).add(ts, values)
    return Activity(str(path), kept, events, skipped)
