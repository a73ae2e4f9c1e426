"""A small, deterministic scenario for the integration tests: benign accounts plus one
blunt extraction account, on a fixed event-time span in the past."""

from __future__ import annotations

import random
from typing import Any

import orjson

START = 1772323200.0  # 2026-03-01T00:00:00Z
EXTRACTOR = "acct-extractor-1"

TOPICS = ["a recipe for dinner", "my cover letter", "a python error", "a trip to Lisbon",
          "a birthday poem", "the meaning of a word", "a SQL query", "gift ideas"]
TASKS = ["Solve: a train leaves at {a} km/h and another at {b} km/h.",
         "Write a function that returns the {a}th prime and tests for it.",
         "Question {a}: which of A) {b} B) {a} C) {c} is correct?"]


def benign_events(n_accounts: int, start: float, span_s: float, per_hour: float, seed: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    events = []
    for a in range(n_accounts):
        account = f"acct-benign-{a:03d}"
        t = start + rnd.uniform(0, 600)
        while t < start + span_s:
            events.append({
                "event_id": f"{account}-{len(events)}",
                "ts": round(t, 3),
                "account_id": account,
                "model": "model-a",
                "input_tokens": rnd.randint(20, 400),
                "output_tokens": rnd.randint(50, 900),
                "prompt": f"Can you help me with {rnd.choice(TOPICS)}? ({rnd.randint(1, 30)})",
                "status": 200,
                "stop_reason": "end_turn",
                "turn_index": rnd.choice([0, 0, 1, 2]),
            })
            t += rnd.expovariate(per_hour / 3600.0)
    return events


def extractor_events(account: str, start: float, span_s: float, every_s: float, seed: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    events = []
    t = start
    while t < start + span_s:
        a, b, c = rnd.randint(2, 999), rnd.randint(2, 999), rnd.randint(2, 999)
        events.append({
            "event_id": f"{account}-{len(events)}",
            "ts": round(t, 3),
            "account_id": account,
            "model": "model-a",
            "input_tokens": rnd.randint(60, 200),
            "output_tokens": rnd.randint(700, 1000),
            "max_tokens": 1000,
            "prompt": rnd.choice(TASKS).format(a=a, b=b, c=c) + " Think step by step and show your full reasoning.",
            "status": 200,
            "stop_reason": "end_turn",
            "turn_index": 0,
        })
        t += every_s * rnd.uniform(0.9, 1.1)
    return events


def to_messages(events: list[dict[str, Any]], batch: int) -> list[tuple[bytes, bytes]]:
    """Kafka (key, value) pairs keyed by account, per-account order kept; ``batch`` > 1
    packs consecutive events of one account into JSON arrays."""
    by_account: dict[str, list[dict[str, Any]]] = {}
    for ev in sorted(events, key=lambda e: e["ts"]):
        by_account.setdefault(ev["account_id"], []).append(ev)
    messages = []
    for account, evs in by_account.items():
        for i in range(0, len(evs), batch):
            chunk = evs[i:i + batch]
            value = orjson.dumps(chunk if batch > 1 else chunk[0])
            messages.append((account.encode(), value))
    return messages


HYDRA_WRAPPER = "Solve the following problem. Show your full reasoning before giving the final answer.\n\n"


def hydra_events(n_accounts: int, start: float, span_s: float, every_s: float, seed: int) -> list[dict[str, Any]]:
    """A small hydra: young accounts created in one batch, one request each per round at a
    fixed phase (load-balanced), sharing a few proxy IPs, payment instruments (5 accounts
    each), a custom client fingerprint and one CoT wrapper around distinct tasks."""
    rnd = random.Random(seed)
    events = []
    for a in range(n_accounts):
        account = f"acct-hydra-{a:03d}"
        t = start + (a + 0.5) / n_accounts * every_s
        while t < start + span_s:
            x, y, z = rnd.randint(2, 999), rnd.randint(2, 999), rnd.randint(2, 999)
            events.append({
                "event_id": f"{account}-{len(events)}",
                "ts": round(t + rnd.uniform(-20, 20), 3),
                "account_id": account,
                "account_created_at": start - 2 * 86400 + a * 17,
                "model": "model-a",
                "input_tokens": rnd.randint(60, 200),
                "output_tokens": rnd.randint(1500, 3000),
                "max_tokens": 4096,
                "prompt": HYDRA_WRAPPER + rnd.choice(TASKS).format(a=x, b=y, c=z),
                "ip": f"45.77.{a % 3}.{10 + a % 3}",
                "asn": 20473,
                "user_agent": "python-httpx/0.27.0",
                "client_fingerprint": "t13d1516h2_hydra0000000_000000000000",
                "payment_fingerprint": f"pm_hydra_{a // 5}",
                "status": 200,
                "stop_reason": "end_turn",
                "turn_index": 0,
            })
            t += every_s
    return events


def nat_events(n_accounts: int, start: float, span_s: float, per_hour: float, seed: int) -> list[dict[str, Any]]:
    """A corporate NAT: old accounts of one company behind one address, one card, one proxy
    fingerprint, each using the API at its own (heavy-tailed) pace for ordinary chat."""
    events = benign_events(n_accounts, start, span_s, per_hour, seed)
    rnd = random.Random(seed + 1)
    pace = {f"acct-benign-{a:03d}": rnd.lognormvariate(0, 1.2) for a in range(n_accounts)}
    kept = []
    for ev in events:
        if rnd.random() > min(pace[ev["account_id"]] / 3.0, 1.0):
            continue  # thin accounts to their own pace
        ev = dict(ev, account_id=ev["account_id"].replace("benign", "corp"),
                  event_id=ev["event_id"].replace("benign", "corp"))
        ev.update({"account_created_at": start - 400 * 86400, "ip": "198.51.100.7", "asn": 64501,
                   "client_fingerprint": "t13d1715h2_corpproxy0000_000000000000",
                   "payment_fingerprint": "pm_corp_card", "user_agent": "openai-python/1.66.3"})
        kept.append(ev)
    return kept
