"""Reading the producer's outbox for its event streams: partition heads and positioned events.

A stream's step reads both at once (:meth:`OutboxReader.step`): one statement is one snapshot, so
the heads it reads and the events up to them agree, and no pruning can fall between the two. Read
as three transactions (the heads, the events, the heads again to catch a prune in between) a step
cost nine round trips, for every consumer of every producer each time something was sequenced."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from services.runtime.database import Database

_HEADS = sa.text(
    "SELECT partition, last_position, pruned_through, last_sequenced_at FROM outbox_heads "
    "WHERE partition = ANY(CAST(:partitions AS smallint[])) ORDER BY partition"
)

# The heads (kind 0) and then each partition's next events (kind 1), as rows of one shape. A partition
# whose consumer is behind the retention reads no events: the caller refuses the consumer.
_STEP = sa.text(
    """
    WITH h AS (
        SELECT partition, last_position, pruned_through, last_sequenced_at FROM outbox_heads
        WHERE partition = ANY(CAST(:partitions AS smallint[]))
    ), r AS (
        SELECT u.partition, u.after, h.last_position AS head
        FROM unnest(CAST(:partitions AS smallint[]), CAST(:afters AS bigint[])) AS u(partition, after)
        JOIN h ON h.partition = u.partition
        WHERE u.after >= h.pruned_through
    )
    SELECT 0 AS kind, h.partition, h.last_position AS position, h.pruned_through,
           h.last_sequenced_at AS at, NULL::bytea AS envelope
    FROM h
    UNION ALL
    SELECT 1, r.partition, e.position, NULL::bigint, e.sequenced_at, e.envelope
    FROM r CROSS JOIN LATERAL (
        SELECT o.position, o.sequenced_at, o.envelope FROM outbox o
        WHERE o.partition = r.partition AND o.position > r.after AND o.position <= r.head
          AND (cardinality(CAST(:types AS text[])) = 0 OR o.type = ANY(CAST(:types AS text[])))
        ORDER BY o.position LIMIT :per_partition
    ) e
    ORDER BY kind, partition, position
    """
)


@dataclass(frozen=True, slots=True)
class PartitionHead:
    partition: int
    last_position: int
    pruned_through: int
    last_sequenced_at: datetime | None


@dataclass(frozen=True, slots=True)
class SequencedRow:
    partition: int
    position: int
    sequenced_at: datetime
    envelope: bytes


class OutboxReader:
    """The queries behind ``EventStream``; each read is its own short transaction."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def heads(self, partitions: Sequence[int]) -> dict[int, PartitionHead]:
        async with self._database.read() as connection:
            rows = (await connection.execute(_HEADS, {"partitions": list(partitions)})).all()
        return {row.partition: PartitionHead(*row) for row in rows}

    async def step(
        self, afters: Mapping[int, int], types: Sequence[str], per_partition: int
    ) -> tuple[dict[int, PartitionHead], list[SequencedRow]]:
        """The heads of the partitions of ``afters`` and up to ``per_partition`` events of each after
        its position, up to its head, from one snapshot; no events for a partition whose position
        is older than its retained events (``pruned_through``)."""
        partitions = sorted(afters)
        params = {
            "partitions": partitions,
            "afters": [afters[p] for p in partitions],
            "types": list(types),
            "per_partition": per_partition,
        }
        async with self._database.read() as connection:
            rows = (await connection.execute(_STEP, params)).all()
        heads: dict[int, PartitionHead] = {}
        events: list[SequencedRow] = []
        for kind, partition, position, pruned_through, at, envelope in rows:
            if kind == 0:
                heads[partition] = PartitionHead(partition, position, pruned_through, at)
            else:
                events.append(SequencedRow(partition, position, at, envelope))
        return heads, events
