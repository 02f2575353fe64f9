"""Which partition a key belongs to: Kafka's default (murmur2) partitioner.

Account state lives in the partition Java clients, aiokafka and faust pick
for the account id; a message found elsewhere (another partitioner, no key)
is re-keyed before it may touch state.
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_for(key: bytes, partitions: int) -> int:
    digest: int = murmur2(key)
    return (digest & 0x7FFFFFFF) % partitions
