"""Deterministic seeds, opaque identifiers and prompt hashes.

Everything here is a pure function of its inputs, stable across processes and
platforms (BLAKE2b / SHA-256, never Python's salted ``hash()``).

>>> derive_seed(7, "chat", 3) == derive_seed(7, "chat", 3) != derive_seed(8, "chat", 3)
True
>>> opaque_id("acct", 7, "hydra", 12)[:5], len(opaque_id("acct", 7, "hydra", 12))
('acct_', 21)
>>> prompt_hash("hello")[:16]
'2cf24dba5fb0a30e'
"""

from __future__ import annotations

import hashlib
import random

__all__ = ["derive_seed", "opaque_id", "prompt_hash", "rng_for", "short_hex"]


def _digest(parts: tuple[object, ...], size: int) -> bytes:
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=size).digest()


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from any parts (the run seed first, then names and indices)."""
    return int.from_bytes(_digest(parts, 8), "big")


def rng_for(*parts: object) -> random.Random:
    """A private ``random.Random`` seeded from ``parts`` (one per account or component)."""
    return random.Random(derive_seed(*parts))


def short_hex(*parts: object, size: int = 8) -> str:
    """``2 * size`` hex characters derived from ``parts``."""
    return _digest(parts, size).hex()


def opaque_id(prefix: str, *parts: object) -> str:
    """An identifier like ``acct_3f9a...`` that reveals nothing about what made it."""
    return f"{prefix}_{short_hex(*parts)}"


def prompt_hash(text: str) -> str:
    """What a privacy-minded gateway sends instead of the text: SHA-256 hex of UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
