"""Network and client identity: countries, ASNs, IP addresses, user agents, fingerprints.

Catalogues are small and synthetic but shaped like the real thing: consumer ISPs per
country, cloud and hosting ASNs, popular SDK user agents shared by many accounts (so a
fingerprint alone never identifies an account), and rare custom tooling.

>>> import random
>>> rng = random.Random(1)
>>> c = pick_country(rng)
>>> ip = residential_ip(rng, c)
>>> ip.count(".") == 3 or ":" in ip
True
>>> isinstance(asn_of(ip), int)
True
>>> ipv4(rng, (10,)).startswith("10.")
True
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from stream_guard.loadgen.ids import short_hex

__all__ = [
    "AGENT_CLIENTS",
    "COUNTRIES",
    "HOSTING_ASNS",
    "SDK_CLIENTS",
    "Client",
    "Country",
    "asn_of",
    "country_by_code",
    "custom_client",
    "endpoint_for",
    "hosting_ip",
    "ipv4",
    "pick_client",
    "pick_country",
    "residential_addr",
    "residential_ip",
]


@dataclass(frozen=True, slots=True)
class Country:
    """A country, its UTC offset (hours) and its consumer ISPs (ASN, first octets)."""

    code: str
    utc_offset_h: float
    weight: float
    isps: tuple[tuple[int, tuple[int, int]], ...]
    v6_prefix: str


COUNTRIES: tuple[Country, ...] = (
    Country("US", -6.0, 30, ((7922, (73, 24)), (7018, (99, 107)), (701, (71, 108))), "2601:1c0"),
    Country("IN", 5.5, 10, ((55836, (49, 157)), (24560, (122, 171))), "2409:40c2"),
    Country("DE", 1.0, 6, ((3320, (79, 91)), (3209, (88, 92))), "2003:e8"),
    Country("GB", 0.0, 6, ((2856, (81, 86)), (5089, (82, 94))), "2a00:23c6"),
    Country("BR", -3.0, 5, ((26599, (177, 179)), (28573, (189, 201))), "2804:14c"),
    Country("FR", 1.0, 4, ((3215, (90, 86)), (12322, (82, 88))), "2a01:cb00"),
    Country("JP", 9.0, 4, ((4713, (126, 153)), (2516, (106, 111))), "240b:10"),
    Country("CA", -5.0, 4, ((577, (70, 76)), (812, (99, 174))), "2607:fea8"),
    Country("KR", 9.0, 3, ((4766, (121, 211)), (9318, (58, 110))), "2001:2d8"),
    Country("AU", 10.0, 3, ((1221, (101, 110)), (4804, (60, 220))), "2001:8003"),
    Country("NL", 1.0, 2, ((1136, (84, 86)), (33915, (83, 77))), "2a02:a440"),
    Country("SG", 8.0, 2, ((9506, (116, 118)), (4773, (111, 220))), "2406:3003"),
    Country("PL", 1.0, 2, ((5617, (83, 89)), (12741, (31, 178))), "2a02:a310"),
    Country("ES", 1.0, 2, ((3352, (80, 81)), (12479, (88, 95))), "2a0c:5a80"),
    Country("MX", -6.0, 2, ((8151, (187, 189)), (28548, (201, 177))), "2806:2f0"),
    Country("VN", 7.0, 2, ((7552, (171, 27)), (45899, (113, 14))), "2402:800"),
)

# (asn, provider-ish name, first octets used for its addresses)
HOSTING_ASNS: tuple[tuple[int, str, tuple[int, int]], ...] = (
    (16509, "aws", (3, 52)),
    (14618, "aws-us-east", (44, 54)),
    (396982, "gcp", (34, 35)),
    (8075, "azure", (20, 40)),
    (14061, "digitalocean", (159, 167)),
    (24940, "hetzner", (65, 88)),
    (16276, "ovh", (51, 54)),
    (63949, "akamai-linode", (172, 139)),
    (20473, "vultr", (45, 149)),
    (9009, "m247-vpn", (89, 185)),
)

_ASN_BY_OCTET: dict[int, int] = {}
for _c in COUNTRIES:
    for _asn, _octs in _c.isps:
        for _o in _octs:
            _ASN_BY_OCTET.setdefault(_o, _asn)
for _asn, _n, _octs in HOSTING_ASNS:
    for _o in _octs:
        _ASN_BY_OCTET.setdefault(_o, _asn)

_COUNTRY_WEIGHTS = [c.weight for c in COUNTRIES]


def pick_country(rng: random.Random) -> Country:
    """A country by rough API-usage share."""
    return rng.choices(COUNTRIES, _COUNTRY_WEIGHTS)[0]


def country_by_code(code: str) -> Country:
    """The catalogue entry for ``code`` (``US`` when unknown)."""
    for c in COUNTRIES:
        if c.code == code:
            return c
    return COUNTRIES[0]


def ipv4(rng: random.Random, first_octets: Sequence[int]) -> str:
    """An IPv4 address with its first octet one of ``first_octets``, the rest random."""
    return f"{rng.choice(first_octets)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def residential_ip(rng: random.Random, country: Country, v6_share: float = 0.12) -> str:
    """A consumer address in ``country`` (IPv6 for about ``v6_share`` of draws)."""
    if rng.random() < v6_share:
        groups = ":".join(f"{rng.getrandbits(16):x}" for _ in range(6))
        return f"{country.v6_prefix}:{groups}"
    _asn, octs = rng.choice(country.isps)
    return ipv4(rng, octs)


def residential_addr(rng: random.Random, country: Country) -> tuple[str, int]:
    """A consumer address in ``country`` and its ASN."""
    ip = residential_ip(rng, country)
    return ip, asn_of(ip)


def hosting_ip(rng: random.Random, provider: int | None = None) -> tuple[str, int]:
    """A cloud / hosting address and its ASN (``provider`` indexes HOSTING_ASNS)."""
    asn, _name, octs = HOSTING_ASNS[provider if provider is not None else rng.randrange(len(HOSTING_ASNS))]
    return ipv4(rng, octs), asn


def asn_of(ip: str) -> int:
    """The ASN the catalogue assigns to ``ip`` (by first octet; IPv6 by its prefix)."""
    if ":" in ip:
        for c in COUNTRIES:
            if ip.startswith(c.v6_prefix):
                return c.isps[0][0]
        return 0
    return _ASN_BY_OCTET.get(int(ip.split(".", 1)[0]), 0)


@dataclass(frozen=True, slots=True)
class Client:
    """A client stack: user agent and the TLS/header fingerprint it produces."""

    user_agent: str
    fingerprint: str


def _ja4(ua: str) -> str:
    h = short_hex("ja4", ua, size=12)
    return f"t13d{1510 + int(h[:2], 16) % 12}h2_{h[:12]}_{h[12:24]}"


_SDK_UAS: tuple[tuple[str, float], ...] = (
    ("anthropic-python/0.49.0", 14),
    ("anthropic-python/0.45.2", 6),
    ("anthropic-typescript/0.39.0", 8),
    ("openai-python/1.66.3", 12),
    ("openai-node/4.87.3", 7),
    ("python-httpx/0.28.1", 6),
    ("python-requests/2.32.3", 7),
    ("langchain-anthropic/0.3.10", 5),
    ("litellm/1.63.2", 4),
    ("curl/8.5.0", 2),
    ("Go-http-client/2.0", 3),
    ("okhttp/4.12.0", 2),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/133.0", 8),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/133.0", 9),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_3 like Mac OS X) Mobile/15E148", 4),
)

SDK_CLIENTS: tuple[Client, ...] = tuple(Client(ua, _ja4(ua)) for ua, _w in _SDK_UAS)
_SDK_WEIGHTS = [w for _ua, w in _SDK_UAS]

AGENT_CLIENTS: tuple[Client, ...] = tuple(
    Client(ua, _ja4(ua))
    for ua in ("codeagent-cli/1.4.2 (node)", "ide-assistant/0.48.1", "patchbot/2.1.0 (python)")
)


def pick_client(rng: random.Random) -> Client:
    """A popular SDK or browser client, weighted by popularity (shared by many accounts)."""
    return rng.choices(SDK_CLIENTS, _SDK_WEIGHTS)[0]


def custom_client(tag: str, user_agent: str = "python-requests/2.31.0") -> Client:
    """A rare client stack: a common user agent over an uncommon TLS/header fingerprint."""
    return Client(user_agent, _ja4(f"custom:{tag}"))


def endpoint_for(rng: random.Random, client: Client) -> str:
    """The endpoint an ordinary account with ``client`` calls (OpenAI clients mostly the
    OpenAI-compatible one)."""
    return "/v1/chat/completions" if "openai" in client.user_agent and rng.random() < 0.9 else "/v1/messages"
