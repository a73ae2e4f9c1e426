"""Helpers for the load-generator tests: small scenarios and a contract checker."""

from __future__ import annotations

from typing import Any

import orjson
from stream_guard.loadgen.generator import Generator
from stream_guard.loadgen.scenarios import scenario

# Types per the request-event contract (contracts.md); `ts` may be a string or a number.
REQUIRED: dict[str, tuple[type, ...]] = {
    "event_id": (str,),
    "ts": (str, int, float),
    "account_id": (str,),
    "model": (str,),
    "input_tokens": (int,),
    "output_tokens": (int,),
}
OPTIONAL: dict[str, tuple[type, ...]] = {
    "org_id": (str,),
    "api_key_id": (str,),
    "account_created_at": (str, int, float),
    "ip": (str,),
    "asn": (int,),
    "country": (str,),
    "user_agent": (str,),
    "client_fingerprint": (str,),
    "payment_fingerprint": (str,),
    "endpoint": (str,),
    "max_tokens": (int,),
    "temperature": (int, float),
    "top_p": (int, float),
    "stream": (bool,),
    "tools": (int,),
    "status": (int,),
    "latency_ms": (int, float),
    "stop_reason": (str,),
    "conversation_id": (str,),
    "turn_index": (int,),
    "prompt": (str,),
    "prompt_hash": (str,),
    "system_prompt_hash": (str,),
}


def contract_problems(ev: dict[str, Any]) -> list[str]:
    """Every way ``ev`` breaks the contract's field list and types (empty when valid)."""
    problems = []
    for name, types in REQUIRED.items():
        if name not in ev:
            problems.append(f"missing {name}")
        elif isinstance(ev[name], bool) or not isinstance(ev[name], types):
            problems.append(f"{name}: {type(ev[name]).__name__}")
    for name, value in ev.items():
        if name in REQUIRED:
            continue
        if name not in OPTIONAL:
            problems.append(f"unexpected field {name}")
        elif not isinstance(value, OPTIONAL[name]) or (
            isinstance(value, bool) and bool not in OPTIONAL[name]
        ):
            problems.append(f"{name}: {type(value).__name__}")
    for name in ("input_tokens", "output_tokens", "turn_index", "tools", "max_tokens", "asn"):
        if isinstance(ev.get(name), int) and ev[name] < 0:
            problems.append(f"{name} < 0")
    if not 1 <= len(ev.get("event_id", "")) <= 128 or not 1 <= len(ev.get("account_id", "")) <= 256:
        problems.append("id length")
    if "status" in ev and not 100 <= ev["status"] <= 599:
        problems.append("status range")
    return problems


def small(name: str = "smoke", **knobs: Any) -> Generator:
    """A generator over a small version of preset ``name``."""
    return Generator(scenario(name, **knobs))


def encode_all(gen: Generator) -> bytes:
    return b"\n".join(orjson.dumps(ev) for ev in gen.events())
