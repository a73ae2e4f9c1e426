"""stream_guard.report.activity: one pass over an events file for the case's accounts."""

from __future__ import annotations

from report_helpers import HOUR, PROMPT, T0, event, write_jsonl
from stream_guard.core.linking.attributes import opaque
from stream_guard.report.activity import AttributeValue, scan_events

KINDS = {"ip", "payment", "client"}


def test_hours_first_last_and_attribute_values_of_the_accounts_asked_for(tmp_path) -> None:
    rows = [event("a", T0 + 60, ip="203.0.113.7", payment_fingerprint="pm_1"),
            [event("a", T0 + HOUR + 5, ip="203.0.113.7", client_fingerprint="c1"), event("b", T0)],
            event("a", T0 + 120, model="another")]
    act = scan_events(write_jsonl(tmp_path / "e.jsonl", rows), {"a", "nobody"}, kinds=KINDS)
    assert set(act.accounts) == {"a"} and act.events == 4 and act.skipped.count == 0
    a = act.accounts["a"]
    hour = int(T0 // HOUR)
    assert (a.requests, a.first_ts, a.last_ts, dict(a.hours)) == (3, T0 + 60, T0 + HOUR + 5, {hour: 2, hour + 1: 1})
    assert a.values == {AttributeValue("ip", opaque("203.0.113.7")): 2, AttributeValue("payment", "pm_1"): 1,
                        AttributeValue("client", "c1"): 1}


def test_addresses_are_pseudonyms_keyed_like_the_linking_stages(tmp_path) -> None:
    path = write_jsonl(tmp_path / "e.jsonl", [event("a", T0, ip="203.0.113.7")])
    (value,) = scan_events(path, {"a"}, kinds={"ip"}, hash_key=b"k").accounts["a"].values
    assert value == AttributeValue("ip", opaque("203.0.113.7", b"k")) and "203.0.113" not in value.value


def test_events_without_account_or_time_are_counted(tmp_path) -> None:
    rows = [event("a", T0), {"ts": T0}, [1, "x"], dict(event("a", T0), ts="later"), dict(event("b", T0), ts="?")]
    act = scan_events(write_jsonl(tmp_path / "e.jsonl", rows, extra_lines=["{"]), {"a"}, kinds=KINDS)
    assert act.accounts["a"].requests == 1
    # no account (1 line, 2 array items), a's bad ts, the broken line; b's bad ts is not looked at
    assert act.skipped.count == 5
    assert "without a valid ts" in act.skipped.examples[3]


def test_nothing_of_a_prompt_is_kept(tmp_path) -> None:
    path = write_jsonl(tmp_path / "e.jsonl", [event("a", T0, prompt=PROMPT, user_agent="sdk/1")])
    act = scan_events(path, {"a"}, kinds={"ip", "user_agent", "payment", "client", "system_prompt", "asn"})
    assert PROMPT not in repr(act) and "solve" not in repr(act)
