"""A consumer of another service's event stream, run inside the consuming service's process.

Each batch of a partition commits its effects and its new position in one transaction of the
consumer's own database, fenced by the partition lease, so an effect happens exactly once however
often an event is delivered. A handler that keeps failing has its event parked (with the error) and
the partition moves on. Replicas share the partitions through leases and take over a dead one's
within a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import grpc
import sqlalchemy as sa
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2, envelope_pb2_grpc
from services.runtime.cancellation import raise_if_cancelled
from services.runtime.database import Database
from services.runtime.events.consumer_store import ConsumerStore, LeaseLost, PositionMove
from services.runtime.events.runs import runs_across
from services.runtime.events.stream import BEHIND_RETENTION
from services.runtime.grpc_errors import parse_status_details

logger = logging.getLogger(__name__)


Handler = Callable[[AsyncConnection, envelope_pb2.EventEnvelope], Awaitable[None]]
BatchHandler = Callable[[AsyncConnection, Sequence[envelope_pb2.EventEnvelope]], Awaitable[None]]
AfterApply = BatchHandler  # the events one transaction applied, before the position moves
DeferredBacklog = Callable[[Database], Awaitable[tuple[int, float]]]  # items waiting, oldest's age in s
# A partition's share of a stream message: (partition, its events, scanned through, head).
PartitionWork = tuple[int, list[envelope_pb2.EventEnvelope], int, int]

LAG_EVENTS = Gauge("patron_consumer_lag_events", "events not yet applied", ["consumer", "partition"])
LAG_SECONDS = Gauge(
    "patron_consumer_lag_seconds", "age of the oldest unapplied event", ["consumer", "partition"]
)
APPLIED = Counter("patron_consumer_events_total", "events applied", ["consumer"])
PARKED = Counter("patron_consumer_parked_total", "events parked after failing", ["consumer"])
# Parked now (not yet retried or discarded), as this replica counted at start and has seen since:
# alert on max by consumer (docs/operations.md).
PARKED_NOW = Gauge(
    "patron_consumer_parked_events", "events parked and not yet retried or discarded", ["consumer"]
)
BEHIND = Gauge(
    "patron_consumer_behind_retention", "1 while events were pruned unread", ["consumer", "partition"]
)

PROGRESS_SAVE_SECONDS = 1.0
STREAM_DEADLINE_SECONDS = 300.0  # every call carries a deadline; a stream simply reconnects after it


@dataclass(frozen=True)
class ConsumerSpec:
    """What a consumer reads and how it reacts: one handler per event type.

    ``batch_handlers`` optionally take a run of consecutive events of one type in one call (a
    multi-row statement instead of one per event); the single-event handler is still what retries
    and parks a failing event, so both must have the same effect.

    ``after_apply`` runs once per transaction after the handlers, with the events they applied and
    before the position moves: work that follows from a whole batch (scoring re-evaluates the
    segments of the customers a batch touched) is done once, and commits with the events.

    ``deferred`` names work the handlers leave to a background round of the service (``work``,
    e.g. scoring's re-scoring) and measures its backlog: ``patron status`` reports it with the
    consumer, and a consumer is caught up when its lag and its backlog are both nil.
    """

    name: str
    producer: str
    handlers: Mapping[str, Handler]
    batch_handlers: Mapping[str, BatchHandler] = field(default_factory=dict)
    max_batch: int = 1000
    max_attempts: int = 5
    retry_backoff_seconds: float = 0.2
    lease_seconds: float = 6.0
    after_apply: AfterApply | None = None
    deferred: tuple[str, DeferredBacklog] | None = None


class _AfterApplyFailed(Exception):
    """``after_apply`` failed in the slow path: its transaction rolled back as a whole."""


def _member_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class ConsumerRunner:
    """Runs one consumer until cancelled."""

    def __init__(
        self,
        spec: ConsumerSpec,
        database: Database,
        tables: tuple[sa.Table, sa.Table, sa.Table],
        channel: grpc.aio.Channel,
        *,
        on_health: Callable[[str, bool], Awaitable[None]] | None = None,
        member_id: str | None = None,
    ) -> None:
        self.spec = spec
        self._database = database
        self._stub = envelope_pb2_grpc.EventStreamStub(channel)
        self.store = ConsumerStore(
            database, tables, spec.name, spec.producer, member_id or _member_id(), spec.lease_seconds
        )
        self._on_health = on_health
        self._owned: set[int] = set()
        self._blocked: set[int] = set()  # behind retention: not read until an operator acts
        self._positions: dict[int, int] = {}  # committed with the effects
        self._scanned: dict[int, int] = {}  # delivered or skipped by type, maybe not saved yet
        self._saved_at: dict[int, float] = {}
        self._changed = asyncio.Event()

    async def run(self) -> None:
        keeper: asyncio.Task[None] | None = None
        try:
            await self._bootstrap()
            keeper = asyncio.create_task(self._keep_leases(), name=f"{self.spec.name}-leases")
            await self._consume()
        finally:
            if keeper is not None:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
            with contextlib.suppress(Exception):
                await self.store.release_all()

    async def _bootstrap(self) -> None:
        """Learn the producer's partitions and create our rows (retrying until it answers)."""
        delay = 0.2
        while True:
            try:
                heads = await self._stub.GetHeads(envelope_pb2.GetHeadsRequest(), timeout=5)
                break
            except grpc.aio.AioRpcError as error:
                logger.warning(
                    "%s: %s unreachable (%s); retrying", self.spec.name, self.spec.producer, error.code()
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        await self.store.ensure_partitions({h.partition: h.pruned_through for h in heads.partitions})
        PARKED_NOW.labels(self.spec.name).set(await self.store.parked_count())

    async def _keep_leases(self) -> None:
        while True:
            try:
                owned = await self.store.balance()
                if owned != self._owned:
                    logger.info("%s owns partitions %s", self.spec.name, sorted(owned))
                    self._owned = owned
                    self._changed.set()
            except Exception as error:  # keep trying; leases lapse safely meanwhile
                raise_if_cancelled(error)
                logger.warning("%s lease round failed: %s", self.spec.name, error)
            await asyncio.sleep(self.spec.lease_seconds / 3)

    async def _consume(self) -> None:
        backoff = 0.1
        while True:
            readable = self._owned - self._blocked
            self._changed.clear()
            if not readable:
                await self._changed.wait()
                continue
            self._positions = await self.store.read_positions(readable)
            request = envelope_pb2.SubscribeRequest(
                consumer=self.spec.name,
                partitions=[
                    envelope_pb2.PartitionPosition(partition=p, after_position=self._positions[p])
                    for p in sorted(readable)
                ],
                types=sorted(self.spec.handlers),
                max_batch=self.spec.max_batch,
            )
            call = self._stub.Subscribe(request, timeout=STREAM_DEADLINE_SECONDS)
            try:
                async for response in call:
                    await self._apply(response)
                    backoff = 0.1
                    if self._changed.is_set():
                        break
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    continue
                if await self._behind_retention(error):
                    continue
                logger.warning(
                    "%s stream failed: %s; reconnecting in %.1f s", self.spec.name, error.code(), backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except LeaseLost as lost:
                logger.info("%s: %s", self.spec.name, lost)
                self._owned = await self.store.balance()
            finally:
                call.cancel()

    async def _behind_retention(self, error: grpc.aio.AioRpcError) -> bool:
        reason, metadata, _ = parse_status_details(error.trailing_metadata())
        if reason != BEHIND_RETENTION:
            return False
        partitions = {int(p) for p in metadata.get("partitions", "").split(",") if p}
        message = f"events of partitions {sorted(partitions)} were pruned before {self.spec.name} read them"
        logger.error("%s: %s; those partitions stop until an operator resets them", self.spec.name, message)
        self._blocked |= partitions
        for partition in partitions:
            BEHIND.labels(self.spec.name, str(partition)).set(1)
        await self.store.record_error(partitions, message, behind_retention=True)
        if self._on_health is not None:
            await self._on_health(f"consumer/{self.spec.name}", False)
        return True

    async def _apply(self, response: envelope_pb2.SubscribeResponse) -> None:
        grouped: dict[int, list[envelope_pb2.EventEnvelope]] = {}
        for envelope in response.events:
            grouped.setdefault(envelope.partition, []).append(envelope)
        now = time.monotonic()
        work: list[PartitionWork] = []
        for progress in response.progress:
            partition = progress.partition
            events = grouped.get(partition, [])
            moved = progress.scanned_through != self._positions.get(partition)
            # Progress past events of other types alone is saved at most once a second: replaying
            # them after a restart costs nothing, a transaction per wake-up does.
            if events or (moved and now - self._saved_at.get(partition, 0.0) >= PROGRESS_SAVE_SECONDS):
                work.append((partition, events, progress.scanned_through, progress.head))
                self._saved_at[partition] = now
        if work and not await self._apply_together(work):
            for partition, events, through, head in work:
                await self._apply_partition(partition, events, through, head)
        for progress in response.progress:
            self._scanned[progress.partition] = progress.scanned_through
            self._report_lag(progress.partition, progress.head, grouped.get(progress.partition, []))

    async def _handle_runs(
        self, connection: AsyncConnection, events: list[envelope_pb2.EventEnvelope]
    ) -> int:
        """Apply a partition's events in order, handing runs of one type to its batch handler."""
        applied = 0
        for event_type, run in itertools.groupby(events, key=lambda envelope: envelope.type):
            batch = list(run)
            batch_handler = self.spec.batch_handlers.get(event_type)
            if batch_handler is not None:
                await batch_handler(connection, batch)
                applied += len(batch)
                continue
            handler = self.spec.handlers.get(event_type)
            if handler is not None:
                for envelope in batch:
                    await handler(connection, envelope)
                applied += len(batch)
        return applied

    async def _handle_across(
        self, connection: AsyncConnection, streams: list[list[envelope_pb2.EventEnvelope]]
    ) -> int:
        """Apply several partitions' events, handing a batch handler the runs of its type from all
        partitions at once (:func:`runs_across`); each run goes as :meth:`_handle_runs` would.

        At a few events per partition per wake-up (steady API traffic spread over 16 partitions)
        this is what makes the batch handlers batch."""
        applied = 0
        for run in runs_across(streams):
            applied += await self._handle_runs(connection, run)
        return applied

    async def _after(self, connection: AsyncConnection, events: list[envelope_pb2.EventEnvelope]) -> None:
        """The spec's ``after_apply`` for the events a transaction applied (none: nothing to do)."""
        if self.spec.after_apply is not None and events:
            await self.spec.after_apply(connection, events)

    async def _apply_together(self, work: list[PartitionWork]) -> bool:
        """The fast path: every partition of a message in one transaction, no savepoints. False
        (and nothing applied) when a handler failed: the caller then goes partition by partition."""
        applied = 0
        moves: list[PositionMove] = []
        try:
            async with self._database.transaction() as connection:
                applied = await self._handle_across(connection, [events for _, events, _, _ in work])
                for partition, events, through, head in work:
                    old = self._positions[partition]
                    new = max(through, old)
                    if new != old:
                        lag = max(time.time() - events[0].sequenced_at.ToSeconds(), 0.0) if events else 0.0
                        moves.append(PositionMove(partition, old, new, head, lag))
                await self._after(connection, [e for _, events, _, _ in work for e in events])
                await self.store.advance_many(connection, moves)
        except LeaseLost:
            raise
        except Exception as error:  # the slow path isolates the failing event
            raise_if_cancelled(error)
            return False
        self._positions.update({move.partition: move.new for move in moves})
        APPLIED.labels(self.spec.name).inc(applied)
        return True

    def _report_lag(self, partition: int, head: int, events: list[envelope_pb2.EventEnvelope]) -> None:
        done = max(self._positions.get(partition, head), self._scanned.get(partition, 0))
        lag = max(head - done, 0)
        LAG_EVENTS.labels(self.spec.name, str(partition)).set(lag)
        seconds = time.time() - events[0].sequenced_at.ToSeconds() if events and lag else 0.0
        LAG_SECONDS.labels(self.spec.name, str(partition)).set(seconds if lag else 0.0)

    async def _apply_partition(
        self, partition: int, events: list[envelope_pb2.EventEnvelope], through: int, head: int
    ) -> None:
        lag_seconds = max(time.time() - events[0].sequenced_at.ToSeconds(), 0.0) if events else 0.0
        pending = events
        while True:
            failed_at = await self._apply_run(partition, pending, through, head, lag_seconds)
            if failed_at is None:
                return
            await self._retry_or_park(partition, pending[failed_at], head)
            pending = pending[failed_at + 1 :]

    async def _apply_run(
        self,
        partition: int,
        events: list[envelope_pb2.EventEnvelope],
        through: int,
        head: int,
        lag_seconds: float,
    ) -> int | None:
        """Apply events in one transaction; on a failing event commit what preceded it and say which."""
        old = self._positions[partition]
        failed_at: int | None = None
        applied = 0
        try:
            async with self._database.transaction() as connection:
                for index, envelope in enumerate(events):
                    handler = self.spec.handlers.get(envelope.type)
                    if handler is None:
                        continue
                    try:
                        async with connection.begin_nested():
                            await handler(connection, envelope)
                        applied += 1
                    except Exception as error:
                        raise_if_cancelled(error)
                        failed_at = index
                        break
                try:
                    await self._after(connection, events[:failed_at] if failed_at is not None else events)
                except Exception as error:
                    raise_if_cancelled(error)
                    raise _AfterApplyFailed from error
                new = events[failed_at].position - 1 if failed_at is not None else max(through, old)
                if new != old:
                    await self.store.advance(connection, partition, old, new, head, lag_seconds)
        except _AfterApplyFailed:
            # Nothing of the run committed: the first event goes alone through retry-or-park (its
            # handler and after_apply together), so a batch's after_apply can never loop forever.
            first = next((i for i, e in enumerate(events) if e.type in self.spec.handlers), None)
            if first is None:
                raise
            return first
        self._positions[partition] = new
        APPLIED.labels(self.spec.name).inc(applied)
        return failed_at

    async def _retry_or_park(self, partition: int, envelope: envelope_pb2.EventEnvelope, head: int) -> None:
        handler = self.spec.handlers[envelope.type]
        error_text = ""
        for attempt in range(1, self.spec.max_attempts + 1):
            try:
                async with self._database.transaction() as connection:
                    await handler(connection, envelope)
                    await self._after(connection, [envelope])
                    await self.store.advance(
                        connection, partition, self._positions[partition], envelope.position, head, 0.0
                    )
                self._positions[partition] = envelope.position
                APPLIED.labels(self.spec.name).inc()
                return
            except LeaseLost:
                raise
            except Exception as error:
                raise_if_cancelled(error)
                error_text = f"{type(error).__name__}: {error}"
                await asyncio.sleep(self.spec.retry_backoff_seconds * attempt)
        async with self._database.transaction() as connection:
            await self.store.park(connection, envelope, error_text, self.spec.max_attempts)
            await self.store.advance(
                connection, partition, self._positions[partition], envelope.position, head, 0.0
            )
        self._positions[partition] = envelope.position
        PARKED.labels(self.spec.name).inc()
        PARKED_NOW.labels(self.spec.name).inc()
        logger.error(
            "%s parked event %s (%s, partition %d, position %d) after %d attempts: %s",
            self.spec.name,
            envelope.event_id,
            envelope.type,
            partition,
            envelope.position,
            self.spec.max_attempts,
            error_text,
        )
