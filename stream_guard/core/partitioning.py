"""Which partition an account's events land on: Kafka's default partitioner for keyed records.

``replay`` uses it to split accounts over as many detectors as the input topic has
partitions, so that each detector's population models learn from the same accounts as
the live worker's detector of that partition.

>>> partition_for("acct-1", 4), partition_for("acct-1", 1)
(2, 0)
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2

__all__ = ["partition_for"]


def partition_for(account_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for the key ``account_id``."""
    h: int = murmur2(account_id.encode())  # aiokafka is untyped: murmur2 gives an int
    return (h & 0x7FFFFFFF) % partitions
