"""Parked events, for an operator: list them, retry one (the consumer's handler, run again), discard one.

A consumer parks an event whose handler failed every attempt and moves on (``consumer.py``). Such an
event is never applied by itself, so it is a problem until an operator acts (``patron status``
lists it; ``patron parked list|retry|discard`` acts). A retry runs the handler in one transaction
with the row's removal, so the event's effect and its leaving the parked table commit together; a
failing retry leaves it parked with the new error. The consumer's position is not involved: the
partition moved on when the event was parked, so a retried event is applied out of its stream order
(the handlers are written to be idempotent and order-tolerant: facts by id, sums recomputed).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from patron.events.v1 import envelope_pb2
from services.runtime.cancellation import raise_if_cancelled
from services.runtime.database import Database, after_commit
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.events.consumer import PARKED_NOW, ConsumerSpec

logger = logging.getLogger(__name__)

DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 1_000
MAX_NOTE_LENGTH = 200
PRUNE_BATCH = 1_000
PRUNE_EVERY_SECONDS = 3_600.0


class ParkedEvents:
    """The parked events of one service's consumers, and what an operator may do with them."""

    def __init__(self, database: Database, parked: sa.Table, specs: Mapping[str, ConsumerSpec]) -> None:
        self._database = database
        self._parked = parked
        self._specs = specs

    async def list(self, consumer: str, limit: int) -> tuple[list[sa.Row[Any]], int]:
        """The oldest parked events (of ``consumer``, or of all when empty) and how many there are."""
        if not 0 <= limit <= MAX_LIST_LIMIT:
            raise InvalidArgument.single("limit", f"must be from 1 to {MAX_LIST_LIMIT}")
        k = self._parked
        where = [k.c.consumer == consumer] if consumer else []
        async with self._database.read() as connection:
            rows = (
                await connection.execute(
                    sa.select(k).where(*where).order_by(k.c.id).limit(limit or DEFAULT_LIST_LIMIT)
                )
            ).all()
            total = (
                await connection.execute(sa.select(sa.func.count()).select_from(k).where(*where))
            ).scalar_one()
        return list(rows), int(total)

    async def retry(self, parked_id: int) -> str | None:
        """Run the handler again; None when applied (and removed), else the new error (still parked)."""
        k = self._parked
        async with self._database.transaction() as connection:
            row = (
                await connection.execute(sa.select(k).where(k.c.id == parked_id).with_for_update())
            ).first()
            if row is None:
                raise NotFound(f"parked event {parked_id} not found")
            spec = self._specs.get(row.consumer)
            handler = spec.handlers.get(row.type) if spec is not None else None
            if handler is None:
                raise NotFound(f"this service runs no handler of {row.type} for consumer {row.consumer}")
            envelope = envelope_pb2.EventEnvelope.FromString(row.envelope)
            try:
                async with connection.begin_nested():
                    await handler(connection, envelope)
            except Exception as error:
                raise_if_cancelled(error)
                text = f"{type(error).__name__}: {error}"
                await connection.execute(
                    sa.update(k)
                    .where(k.c.id == parked_id)
                    .values(error=text[:4000], attempts=k.c.attempts + 1)
                )
                logger.warning("parked event %d (%s) failed again on retry: %s", parked_id, row.type, text)
                return text
            await connection.execute(sa.delete(k).where(k.c.id == parked_id))
        PARKED_NOW.labels(row.consumer).dec()
        logger.info(
            "parked event %d (%s %s, %s partition %d position %d) retried and applied",
            parked_id,
            row.type,
            row.event_id,
            row.consumer,
            row.partition,
            row.position,
        )
        return None

    async def discard(self, parked_id: int, by: str, reason: str) -> None:
        """Remove the event for good, logging who and why (the log is the record)."""
        errors = []
        for field, value in (("by", by), ("reason", reason)):
            if not value.strip() or len(value) > MAX_NOTE_LENGTH or not value.isprintable():
                errors.append(field)
        if errors:
            raise InvalidArgument.single(errors[0], f"must be 1 to {MAX_NOTE_LENGTH} printable characters")
        k = self._parked
        async with self._database.transaction() as connection:
            row = (await connection.execute(sa.delete(k).where(k.c.id == parked_id).returning(k))).first()
        if row is None:
            raise NotFound(f"parked event {parked_id} not found")
        PARKED_NOW.labels(row.consumer).dec()
        logger.warning(
            "parked event %d (%s %s, %s partition %d position %d, error %r) discarded by %s: %s",
            parked_id,
            row.type,
            row.event_id,
            row.consumer,
            row.partition,
            row.position,
            row.error[:200],
            by.strip(),
            reason.strip(),
        )

    async def prune(self, retention: timedelta) -> int:
        """Delete the events parked longer ago than ``retention`` (a parked event keeps its envelope,
        with whatever the event carried, for as long as nobody acts on it); returns how many. Each
        batch is its own short statement; replicas pruning at once skip each other's rows."""
        k = self._parked
        doomed = (
            sa.select(k.c.id)
            .where(k.c.parked_at < sa.func.now() - retention)
            .order_by(k.c.id)
            .limit(PRUNE_BATCH)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        total = 0
        while True:
            async with self._database.transaction() as connection:
                rows = (
                    await connection.execute(
                        sa.delete(k).where(k.c.id.in_(doomed)).returning(k.c.id, k.c.consumer, k.c.type)
                    )
                ).all()
                gone = Counter(row.consumer for row in rows)

                def forget(gone: Counter[str] = gone) -> None:
                    for consumer, count in gone.items():
                        PARKED_NOW.labels(consumer).dec(count)

                after_commit(connection, "parked-prune", forget)
            for row in rows[:20]:
                logger.warning(
                    "parked event %d (%s, %s) pruned: parked longer than %s",
                    row.id,
                    row.type,
                    row.consumer,
                    retention,
                )
            total += len(rows)
            if len(rows) < PRUNE_BATCH:
                break
        if total:
            logger.warning("pruned %d parked events older than %s", total, retention)
        return total

    async def prune_forever(self, retention: timedelta, every_seconds: float = PRUNE_EVERY_SECONDS) -> None:
        """:meth:`prune` now and every ``every_seconds`` until cancelled (a failed round is retried at
        the next)."""
        while True:
            try:
                await self.prune(retention)
            except Exception as error:
                raise_if_cancelled(error)
                logger.warning("pruning parked events failed: %s", error)
            await asyncio.sleep(every_seconds)
