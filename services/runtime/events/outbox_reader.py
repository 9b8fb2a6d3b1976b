"""Reading the producer's outbox for its event streams: partition heads and positioned events."""

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

_EVENTS = sa.text(
    """
    SELECT r.partition, e.position, e.sequenced_at, e.envelope
    FROM unnest(CAST(:partitions AS smallint[]), CAST(:afters AS bigint[]), CAST(:untils AS bigint[]))
         AS r(partition, after, until)
    CROSS JOIN LATERAL (
        SELECT p.position, p.sequenced_at, o.envelope
        FROM outbox_positions p JOIN outbox o ON o.id = p.outbox_id
        WHERE p.partition = r.partition AND p.position > r.after AND p.position <= r.until
          AND (cardinality(CAST(:types AS text[])) = 0 OR o.type = ANY(CAST(:types AS text[])))
        ORDER BY p.position LIMIT :per_partition
    ) e
    ORDER BY r.partition, e.position
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

    async def events_after(
        self,
        afters: Mapping[int, int],
        untils: Mapping[int, int],
        types: Sequence[str],
        per_partition: int,
    ) -> list[SequencedRow]:
        """Up to ``per_partition`` events of each partition after its position, up to ``untils``."""
        partitions = sorted(afters)
        params = {
            "partitions": partitions,
            "afters": [afters[p] for p in partitions],
            "untils": [untils[p] for p in partitions],
            "types": list(types),
            "per_partition": per_partition,
        }
        async with self._database.read() as connection:
            rows = (await connection.execute(_EVENTS, params)).all()
        return [SequencedRow(*row) for row in rows]
