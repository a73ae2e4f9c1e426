"""Near-duplicate prompts: an 8-byte b-bit one-permutation MinHash of a prompt's word set.

Exact repeats and template repeats (:mod:`~stream_guard.core.signals`) miss paraphrases
and small edits: a word changed, clauses reordered, a sentence added. Their *word sets*
still overlap heavily (high Jaccard similarity ``J = |A & B| / |A | B|``), and MinHash
estimates ``J`` from a few bytes:

- the prompt's distinct words (the ``[a-z]+`` runs of the lower-cased text that
  :func:`~stream_guard.core.signals.analyze_prompt` reads anyway) minus ``STOP_WORDS``
  (function words: two unrelated questions share "can you ... the ... of ..."), each
  hashed once with ``xxh3_64`` (stable across processes, unlike ``hash()``);
- **one permutation**: the top 3 bits of a hash pick one of ``K = 8`` buckets, and each
  bucket keeps the smallest hash that falls into it (by its remaining 61 bits);
- **densification by rotation**: an empty bucket borrows the minimum of the next
  non-empty bucket to its right (circularly), plus ``distance * 0x9D`` (so a borrowed
  value is not mistaken for an own one);
- **b-bit**: only the low 8 bits of each bucket's minimum are kept. The signature is one
  64-bit int, byte ``j`` for bucket ``j``.

Two signatures agree on a byte with probability ``P = J + (1 - J) / 256`` (the bucket
minima coincide with probability ``J``; otherwise 8 random bits match by chance).
:func:`similarity` counts equal bytes in O(1) (the zero-byte trick on ``a ^ b`` and a
popcount); two prompts are **near duplicates** at ``>= NEAR = 6`` equal bytes of 8. Under
a binomial model (one-permutation buckets are nearly independent once the set has
several words per bucket), per pair of prompts and per prompt compared with 8 others of
the same similarity:

=======================================  ==========  ==========  ===========
Jaccard similarity of the content words  P(byte)     pair        vs 8
=======================================  ==========  ==========  ===========
0 (unrelated)                            0.0039      1e-13       8e-13
0.1                                      0.10        3e-5        2e-4
0.2                                      0.20        1.3e-3      0.011
0.3                                      0.30        0.012       0.09
0.5                                      0.50        0.15        0.72
0.75                                     0.75        0.68        1.00
0.9 (1 word of 20 changed)               0.90        0.96        1.00
=======================================  ==========  ==========  ===========

Measured on 2.0 M random pairs of Python standard-library docstrings (20 to 80 words,
from different files): 25 pairs (1.3e-5) had 6 or more equal bytes; 23 of them were
copy-edited docstrings (content-word Jaccard 0.79 to 1), 2 were not (0.33 and 0.55):
about 1e-6 a pair by chance, 1e-5 a prompt compared with 8. Prompts with fewer than
``MIN_WORDS`` distinct content words are not sketched (:func:`sketch` returns ``None``):
most of their bytes would be borrowed (densified) and short lines overlap by accident.

>>> words = lambda text: set(text.lower().split())
>>> a = sketch(words("Please summarise the attached quarterly report in three short bullet points for the board"))
>>> b = sketch(words("Please summarise the attached quarterly report in four short bullet points for the board"))
>>> c = sketch(words("Which prime numbers lie between ten and fifty and how would you find them quickly"))
>>> similarity(a, a), similarity(a, b) >= NEAR, similarity(a, c) >= NEAR
(8, True, False)
>>> packed = a | c << 64   # a ring of two signatures, lane i = bits 64 i .. 64 i + 63
>>> near_any(b, packed, 2), near_any(b, packed, 0), sketch({"too", "short"})
(True, False, None)
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

import xxhash

__all__ = ["MIN_WORDS", "NEAR", "STOP_WORDS", "K", "near_any", "signature", "similarity", "sketch"]

K = 8  #: buckets, one byte each: the signature is one 64-bit int
NEAR = 6  #: equal bytes (of K) from which two prompts are near duplicates
MIN_WORDS = 6  #: distinct content words a prompt needs to be sketched
#: Function words left out of the sketched set (as ``[a-z]+`` runs: "don't" is "don", "t").
STOP_WORDS: frozenset[str] = frozenset(
    "a an the and or but if then so than of to in on at by for with from into about as is are was were be "
    "been being am do does did have has had i me my we our you your he she it its they them their this that "
    "these those what which who when where why how can could would should will may might must not no "
    "please just also there here too very all any some more most such only other s t ll re ve d m".split()
)

_SHIFT = 64 - 3  # bucket = the top 3 bits of the 64-bit hash
_ROTATE = 0x9D  # densification offset per bucket of distance (odd: distinct for distances 1..7)
_LO7 = 0x7F7F7F7F7F7F7F7F
_HI = 0x8080808080808080
_LANES = 8  # signatures compared at once by near_any (one 512-bit int)
_REP = sum(1 << 64 * i for i in range(_LANES))  # 1 in the low bit of every lane
_LO7_N, _HI_N, _LOW_BYTE_N = _LO7 * _REP, _HI * _REP, 0xFF * _REP
_BYTE_SUM = 0x0101010101010101  # times a lane of 0/1 bytes: their sum in the lane's top byte
_xxh3 = xxhash.xxh3_64_intdigest


def sketch(words: set[str]) -> int | None:
    """The signature of a prompt's word set without its stop words; ``None`` when fewer
    than ``MIN_WORDS`` words are left."""
    content = words - STOP_WORDS
    return signature(content) if len(content) >= MIN_WORDS else None


def signature(words: Iterable[str]) -> int:
    """The 8-byte signature of a set of (distinct) words; 0 for no words."""
    hashes = sorted(map(_xxh3, map(str.encode, words)))
    n = len(hashes)
    mins = [-1] * K
    i = 0
    for b in range(K):  # within a bucket, hash order is the order of the remaining 61 bits
        i = bisect_left(hashes, b << _SHIFT, i)
        if i == n:
            break
        if hashes[i] >> _SHIFT == b:
            mins[b] = hashes[i] & 0xFF
    if -1 in mins:
        if mins.count(-1) == K:
            return 0
        out = mins[:]
        for j in range(K):
            if mins[j] < 0:
                t = 1
                while mins[(j + t) % K] < 0:
                    t += 1
                out[j] = (mins[(j + t) % K] + t * _ROTATE) & 0xFF
        mins = out
    return int.from_bytes(bytes(mins), "little")


def similarity(a: int, b: int) -> int:
    """How many of the 8 bytes of two signatures are equal (0..8), in O(1).

    >>> similarity(0x1122334455667788, 0x11223344556677FF), similarity(0, 0xFF00FF00FF00FF00)
    (7, 4)
    """
    x = a ^ b
    # a byte of x is 0 exactly when the high bit of this byte is set (no borrow across bytes)
    return (~(((x & _LO7) + _LO7) | x | _LO7) & _HI).bit_count()


def near_any(sig: int, packed: int, lanes: int) -> bool:
    """Whether ``sig`` is a near duplicate of any of the first ``lanes`` signatures of
    ``packed`` (up to 8 signatures side by side in one int, lane ``i`` = bits ``64 i`` to
    ``64 i + 63``): :func:`similarity` on every lane at once, a few big-int operations."""
    if lanes <= 0:
        return False
    x = packed ^ sig * _REP
    ones = (~(((x & _LO7_N) + _LO7_N) | x | _LO7_N) & _HI_N) >> 7  # 0x01 in every equal byte
    counts = (ones * _BYTE_SUM >> 56) & _LOW_BYTE_N  # equal bytes per lane, in its low byte (<= 8: no carry)
    counts &= (1 << 64 * min(lanes, _LANES)) - 1
    return ((counts + (K - NEAR) * _REP) & (8 * _REP)) != 0  # count + 2 >= 8 in some lane
