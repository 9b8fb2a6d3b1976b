"""A consumer's own bookkeeping, in its own database: positions, leases, members, parked events."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2
from services.runtime.database import Database


@dataclass(frozen=True, slots=True)
class PositionMove:
    partition: int
    old: int
    new: int
    head: int
    lag_seconds: float


_LOCK_IN_ORDER = sa.text(
    "SELECT partition FROM consumer_positions WHERE consumer = :consumer "
    "AND partition = ANY(CAST(:partitions AS smallint[])) ORDER BY partition FOR UPDATE"
)

_ADVANCE_MANY = sa.text(
    """
    UPDATE consumer_positions p
    SET position = v.new, head = v.head, applied_at = now(), lag_seconds = v.lag, last_error = NULL
    FROM unnest(CAST(:partitions AS smallint[]), CAST(:olds AS bigint[]), CAST(:news AS bigint[]),
                CAST(:heads AS bigint[]), CAST(:lags AS float8[])) AS v(partition, old, new, head, lag)
    WHERE p.consumer = :consumer AND p.partition = v.partition AND p.owner = :member
      AND p.lease_expires_at > now() AND p.position = v.old
    """
)


def _uuid_or_none(text: str) -> uuid.UUID | None:
    """An envelope's tenant or customer id for the parked row (None: empty, or not an id at all)."""
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


class LeaseLost(Exception):
    """Another replica holds the partition now (or our lease lapsed): the batch must not commit."""


class ConsumerStore:
    """Positions and leases of one consumer. Leases decide who reads; the fenced position update
    decides whose effects commit, so even two replicas that both think they own a partition cannot
    apply an event twice."""

    def __init__(
        self,
        database: Database,
        tables: tuple[sa.Table, sa.Table, sa.Table],
        consumer: str,
        producer: str,
        member_id: str,
        lease_seconds: float,
    ) -> None:
        self._database = database
        self.positions, self.members, self.parked = tables
        self.consumer = consumer
        self.producer = producer
        self.member_id = member_id
        self.lease_seconds = lease_seconds

    def _lease_end(self) -> sa.ColumnElement[Any]:
        return sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, self.lease_seconds)

    async def ensure_partitions(self, starts: dict[int, int]) -> None:
        """Create missing partition rows; a new consumer starts at the oldest retained event."""
        rows = [
            {"consumer": self.consumer, "partition": p, "producer": self.producer, "position": start}
            for p, start in starts.items()
        ]
        async with self._database.transaction() as connection:
            await connection.execute(pg.insert(self.positions).on_conflict_do_nothing(), rows)

    async def balance(self) -> set[int]:
        """Heartbeat, then hold a fair share of the partitions: renew, release extras, claim free ones."""
        p = self.positions
        async with self._database.transaction() as connection:
            await connection.execute(
                pg.insert(self.members)
                .values(consumer=self.consumer, member_id=self.member_id, heartbeat_at=sa.func.now())
                .on_conflict_do_update(
                    index_elements=[self.members.c.consumer, self.members.c.member_id],
                    set_={"heartbeat_at": sa.func.now()},
                )
            )
            stale = sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, self.lease_seconds)
            alive = (
                await connection.execute(
                    sa.select(sa.func.count())
                    .select_from(self.members)
                    .where(self.members.c.consumer == self.consumer, self.members.c.heartbeat_at > stale)
                )
            ).scalar_one()
            await connection.execute(
                sa.delete(self.members).where(
                    self.members.c.consumer == self.consumer,
                    self.members.c.heartbeat_at < sa.func.now() - sa.text("interval '1 hour'"),
                )
            )
            total = (
                await connection.execute(
                    sa.select(sa.func.count()).select_from(p).where(p.c.consumer == self.consumer)
                )
            ).scalar_one()
            fair = math.ceil(total / max(alive, 1))
            # Rows are locked in partition order here and in advance_many, so the two cannot deadlock.
            held = (
                sa.select(p.c.partition)
                .where(p.c.consumer == self.consumer, p.c.owner == self.member_id)
                .order_by(p.c.partition)
                .with_for_update()
            )
            mine = set(
                (
                    await connection.execute(
                        sa.update(p)
                        .where(p.c.consumer == self.consumer, p.c.partition.in_(held.scalar_subquery()))
                        .values(lease_expires_at=self._lease_end())
                        .returning(p.c.partition)
                    )
                ).scalars()
            )
            if len(mine) > fair:
                extras = sorted(mine)[fair:]
                await connection.execute(
                    sa.update(p)
                    .where(
                        p.c.consumer == self.consumer, p.c.partition.in_(extras), p.c.owner == self.member_id
                    )
                    .values(owner=None, lease_expires_at=None)
                )
                mine -= set(extras)
            elif len(mine) < fair:
                free = (
                    sa.select(p.c.partition)
                    .where(
                        p.c.consumer == self.consumer,
                        sa.or_(p.c.owner.is_(None), p.c.lease_expires_at < sa.func.now()),
                    )
                    .order_by(p.c.partition)
                    .limit(fair - len(mine))
                    .with_for_update(skip_locked=True)
                )
                claimed = (
                    await connection.execute(
                        sa.update(p)
                        .where(p.c.consumer == self.consumer, p.c.partition.in_(free.scalar_subquery()))
                        .values(owner=self.member_id, lease_expires_at=self._lease_end())
                        .returning(p.c.partition)
                    )
                ).scalars()
                mine |= set(claimed)
        return mine

    async def read_positions(self, partitions: Iterable[int]) -> dict[int, int]:
        p = self.positions
        async with self._database.read() as connection:
            rows = await connection.execute(
                sa.select(p.c.partition, p.c.position).where(
                    p.c.consumer == self.consumer, p.c.partition.in_(list(partitions))
                )
            )
            return {row.partition: row.position for row in rows}

    async def advance(
        self, connection: AsyncConnection, partition: int, old: int, new: int, head: int, lag_seconds: float
    ) -> None:
        """Move the position inside the effects' transaction; raise LeaseLost unless we still own it."""
        p = self.positions
        result = await connection.execute(
            sa.update(p)
            .where(
                p.c.consumer == self.consumer,
                p.c.partition == partition,
                p.c.owner == self.member_id,
                p.c.lease_expires_at > sa.func.now(),
                p.c.position == old,
            )
            .values(
                position=new, head=head, applied_at=sa.func.now(), lag_seconds=lag_seconds, last_error=None
            )
        )
        if result.rowcount != 1:
            raise LeaseLost(f"{self.consumer} no longer owns partition {partition}")

    async def advance_many(self, connection: AsyncConnection, moves: Sequence[PositionMove]) -> None:
        """Move several partitions' positions in one statement, fenced like :meth:`advance`."""
        if not moves:
            return
        ordered = sorted(moves, key=lambda move: move.partition)
        partitions = [move.partition for move in ordered]
        await connection.execute(_LOCK_IN_ORDER, {"consumer": self.consumer, "partitions": partitions})
        result = await connection.execute(
            _ADVANCE_MANY,
            {
                "consumer": self.consumer,
                "member": self.member_id,
                "partitions": partitions,
                "olds": [move.old for move in ordered],
                "news": [move.new for move in ordered],
                "heads": [move.head for move in ordered],
                "lags": [move.lag_seconds for move in ordered],
            },
        )
        if result.rowcount != len(ordered):
            raise LeaseLost(f"{self.consumer} no longer owns one of partitions {partitions}")

    async def park(
        self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope, error: str, attempts: int
    ) -> None:
        await connection.execute(
            sa.insert(self.parked).values(
                consumer=self.consumer,
                producer=self.producer,
                partition=envelope.partition,
                position=envelope.position,
                event_id=envelope.event_id,
                type=envelope.type,
                tenant_id=_uuid_or_none(envelope.tenant_id),
                customer_id=_uuid_or_none(envelope.customer_id),
                envelope=envelope.SerializeToString(),
                error=error[:4000],
                attempts=attempts,
            )
        )

    async def parked_count(self) -> int:
        """How many events this consumer has parked (and nobody retried or discarded yet)."""
        k = self.parked
        async with self._database.read() as connection:
            count = await connection.execute(
                sa.select(sa.func.count()).select_from(k).where(k.c.consumer == self.consumer)
            )
            return int(count.scalar_one())

    async def record_error(self, partitions: Iterable[int], message: str, *, behind_retention: bool) -> None:
        p = self.positions
        async with self._database.transaction() as connection:
            await connection.execute(
                sa.update(p)
                .where(p.c.consumer == self.consumer, p.c.partition.in_(list(partitions)))
                .values(last_error=message[:4000], behind_retention=behind_retention)
            )

    async def release_all(self) -> None:
        p = self.positions
        async with self._database.transaction() as connection:
            await connection.execute(
                sa.update(p)
                .where(p.c.consumer == self.consumer, p.c.owner == self.member_id)
                .values(owner=None, lease_expires_at=None)
            )
            await connection.execute(
                sa.delete(self.members).where(
                    self.members.c.consumer == self.consumer, self.members.c.member_id == self.member_id
                )
            )


async def consumer_status_rows(
    database: Database, positions: sa.Table, parked: sa.Table
) -> list[sa.Row[Any]]:
    """Every consumer partition of this service with its parked-event count (for ``patron status``)."""
    p, k = positions, parked
    parked_counts = (
        sa.select(k.c.consumer, k.c.partition, sa.func.count().label("parked"))
        .group_by(k.c.consumer, k.c.partition)
        .subquery()
    )
    query = (
        sa.select(p, sa.func.coalesce(parked_counts.c.parked, 0).label("parked"))
        .outerjoin(
            parked_counts,
            sa.and_(parked_counts.c.consumer == p.c.consumer, parked_counts.c.partition == p.c.partition),
        )
        .order_by(p.c.consumer, p.c.partition)
    )
    async with database.read() as connection:
        return list((await connection.execute(query)).all())
