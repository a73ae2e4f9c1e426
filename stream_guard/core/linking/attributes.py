"""Linking attributes: the values that accounts acting together tend to share.

Each request event names a handful of *attribute values* that can be shared across
accounts: its address and address prefix (/24 for IPv4, /48 for IPv6), its autonomous
system, client fingerprint, user agent, payment fingerprint, system-prompt hash, the
*frame* of its prompt template, and its model. A value is a pair ``(kind, value)``.

Template frames make near-identical templates collide without keeping any text: the
prompt is masked (numbers, quoted spans and names become ``#``, see
:func:`~stream_guard.core.signals.template_of`) and its first and last
:data:`FRAME_WORDS` words are hashed separately, so a campaign that wraps different tasks
in one wrapper ("Solve the following problem. Show your full reasoning ...") shares a
*head* or a *tail* signature whatever the task in between. Raw text never leaves this
module; frames are 16-hex-digit hashes.

Values that are not opaque already (addresses, address prefixes, user agents: personal
or free-form data a client controls) are hashed here too, so the linking stages, their
internal topics (``<app_id>-link-profiles``, ``-link-verdicts``) and cluster alerts only
ever see ``h:`` + 16 hex digits (:func:`opaque`; an analyst finds the raw value by
hashing the candidates from the gateway log the same way; with
``STREAM_GUARD_LINK_HASH_KEY`` set the pseudonyms are keyed, so only a holder of the key
can). The gateway's own
fingerprints (client, payment, system-prompt hash), the autonomous-system number and
the model name are kept as they are (they are opaque or public identifiers).

>>> values = event_values({"ip": "203.0.113.7", "asn": 64500, "user_agent": "sdk/1.0",
...                         "payment_fingerprint": "pm_1", "model": "m"})
>>> values == [("ip", opaque("203.0.113.7")), ("ip_prefix", opaque("203.0.113.0/24")), ("asn", "64500"),
...            ("user_agent", opaque("sdk/1.0")), ("payment", "pm_1"), ("model", "m")]
True
>>> opaque("sdk/1.0")
'h:ace311172fe82237'
>>> ip_prefix("2001:db8:85a3::8a2e:370:7334")
'2001:db8:85a3::/48'
>>> a = template_frames("Solve the following problem. Show your full reasoning. A train leaves at 9 and travels 60 km.")
>>> b = template_frames("Solve the following problem. Show your full reasoning. What is 17 times 23, given 4 apples?")
>>> a[0] == b[0], a[1] == b[1]   # same head (the wrapper), different tails (the tasks)
(True, False)
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

import xxhash

from stream_guard.core.signals import template_of

__all__ = [
    "FRAME_WORDS",
    "HASHED_KINDS",
    "KINDS",
    "VALUES_CACHE",
    "event_values",
    "event_values_shared",
    "frames_of",
    "ip_prefix",
    "opaque",
    "template_frames",
]

#: Every kind of linking attribute, in the order :func:`event_values` emits them.
KINDS: tuple[str, ...] = (
    "ip", "ip_prefix", "asn", "client", "user_agent", "payment", "system_prompt", "template", "model",
)
#: Words hashed at each end of a masked prompt to form its head and tail frames.
FRAME_WORDS = 6
_MAX_VALUE = 256  # longer values (e.g. long fingerprints) are hashed
#: Kinds whose values are always hashed (:func:`opaque`): personal or free-form data.
HASHED_KINDS: frozenset[str] = frozenset({"ip", "ip_prefix", "user_agent"})
#: Distinct raw field combinations whose values :func:`event_values_shared` remembers
#: before its cache is reset (and distinct (kind, value) pairs it keeps one tuple of).
VALUES_CACHE = 100_000

# event field -> kind, in emission order (after "ip" and "ip_prefix")
_FIELDS: tuple[tuple[str, str], ...] = (
    ("asn", "asn"),
    ("client", "client_fingerprint"),
    ("user_agent", "user_agent"),
    ("payment", "payment_fingerprint"),
    ("system_prompt", "system_prompt_hash"),
    ("model", "model"),
)
_cache: dict[tuple[Any, ...], tuple[tuple[str, str], ...]] = {}  # raw fields + key -> values
_interned: dict[tuple[str, str], tuple[str, str]] = {}  # one tuple per distinct (kind, value)


def ip_prefix(ip: str) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network of ``ip``; ``None`` when it is not an address."""
    if ":" not in ip:
        parts = ip.split(".")
        if len(parts) == 4:  # each part ASCII digits, at most 255 (checked in order, unrolled: per event)
            a, b, c, d = parts
            if (a.isascii() and a.isdigit() and (x := int(a)) <= 255
                    and b.isascii() and b.isdigit() and (y := int(b)) <= 255
                    and c.isascii() and c.isdigit() and (z := int(c)) <= 255
                    and d.isascii() and d.isdigit() and int(d) <= 255):
                return f"{x}.{y}.{z}.0/24"
        return None
    try:
        addr = ipaddress.IPv6Address(ip)
    except ValueError:
        return None
    if addr.ipv4_mapped is not None:  # ::ffff:a.b.c.d is an IPv4 client
        return ip_prefix(str(addr.ipv4_mapped))
    return str(ipaddress.IPv6Network(f"{addr}/48", strict=False))


def opaque(value: Any, key: bytes = b"") -> str:
    """The linking form of a value that must not travel raw: ``h:`` + 16 hex digits, a
    pseudonym that is stable across workers, replay and restarts.

    Without ``key`` it is xxh3-64 of the text: not secret (a small value space such as IPv4
    can be enumerated). With ``key`` (``STREAM_GUARD_LINK_HASH_KEY``) it is keyed BLAKE2b, which
    only a holder of the key can recompute.

    >>> opaque("10.0.0.1") == opaque("10.0.0.1"), opaque("10.0.0.1", b"k1") == opaque("10.0.0.1", b"k2")
    (True, False)
    >>> len(opaque("10.0.0.1", b"k1"))
    18
    """
    data = str(value).encode("utf-8", "surrogatepass")
    if key:
        return "h:" + hashlib.blake2b(data, digest_size=8, key=key[:64]).hexdigest()
    return "h:" + xxhash.xxh3_64_hexdigest(data)


def _short(value: Any, key: bytes) -> str:
    text = str(value)
    return text if len(text) <= _MAX_VALUE else opaque(text, key)


def event_values(event: dict[str, Any], key: bytes = b"") -> list[tuple[str, str]]:
    """The linking attribute values of one event, except template frames (see
    :func:`template_frames`, which costs a text pass and is sampled by the caller);
    ``key`` keys the pseudonyms of :func:`opaque`. A new list at every call (see
    :func:`event_values_shared` for the cached, shared form)."""
    return list(event_values_shared(event, key))


def event_values_shared(event: dict[str, Any], key: bytes = b"") -> tuple[tuple[str, str], ...]:
    """:func:`event_values` as a tuple that may be shared with earlier and later calls.

    Events with the same linking fields (an account sends the same address, user agent
    and fingerprints request after request) get the same tuple back, computed once: a
    cache keyed by the raw field values and ``key`` holds up to :data:`VALUES_CACHE`
    entries and is emptied when full; each distinct (kind, value) pair is one tuple
    object. Only the objects' identity depends on the cache, never the values. Cached are
    events whose fields are text (``asn`` an ``int``) or missing: as dict keys ``1``,
    ``1.0`` and ``True`` are one key, but their text differs.

    >>> ev = {"ip": "203.0.113.7", "asn": 64500, "model": "m"}
    >>> event_values_shared(ev) is event_values_shared(dict(ev)), list(event_values_shared(ev)) == event_values(ev)
    (True, True)
    >>> event_values_shared({"asn": 64500}), event_values_shared({"asn": 64500.0})
    ((('asn', '64500'),), (('asn', '64500.0'),))
    """
    get = event.get
    asn = get("asn")
    if asn is not None and type(asn) is not int:
        asn = (type(asn), asn)  # never equal to a cached key (an int or None there)
    raw = (get("ip"), asn, get("client_fingerprint"), get("user_agent"), get("payment_fingerprint"),
           get("system_prompt_hash"), get("model"), key)
    try:
        out = _cache.get(raw)
    except TypeError:  # an unhashable field value (not from a decoded event)
        return _compute(event, key)
    if out is not None:
        return out
    values = _compute(event, key)
    if type(raw[1]) is tuple:
        return values
    for i in (0, 2, 3, 4, 5, 6):
        value = raw[i]
        if value is not None and type(value) is not str:
            return values  # a number or another object where text is expected: not cached
    interned = _interned
    if len(interned) >= VALUES_CACHE:
        interned.clear()
    values = tuple([interned.setdefault(kv, kv) for kv in values])
    if len(_cache) >= VALUES_CACHE:
        _cache.clear()
    _cache[raw] = values
    return values


def _compute(event: dict[str, Any], key: bytes) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    ip = event.get("ip")
    if ip:
        out.append(("ip", opaque(ip, key)))
        prefix = ip_prefix(ip) if isinstance(ip, str) else None
        if prefix is not None:
            out.append(("ip_prefix", opaque(prefix, key)))
    for kind, field in _FIELDS:
        value = event.get(field)
        if value is not None and value != "":
            out.append((kind, opaque(value, key) if kind in HASHED_KINDS else _short(value, key)))
    return tuple(out)


def template_frames(prompt: str) -> tuple[str, str]:
    """Head and tail signatures of the masked prompt (a short prompt is all head and tail)."""
    return frames_of(template_of(prompt))


def frames_of(masked: str) -> tuple[str, str]:
    """:func:`template_frames` of an already masked prompt (``PromptSignals.masked``)."""
    words = masked.split()
    head = " ".join(words[:FRAME_WORDS])
    tail = " ".join(words[-FRAME_WORDS:])
    return (
        "h:" + xxhash.xxh3_64_hexdigest(head.encode()),
        "t:" + xxhash.xxh3_64_hexdigest(tail.encode()),
    )
