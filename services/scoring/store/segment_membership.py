"""Live segment membership: who is in each saved segment, kept exact as facts arrive and time passes.

Membership (``segment_members``) changes only here, by one operation: evaluate a segment for a set
of customers (or the whole tenant) at a moment, compare with the stored members, insert the new
ones, delete the gone ones, and append one ``segment.entered`` / ``segment.exited`` per change to
scoring's outbox — all in the caller's transaction, so a change is stored and announced together,
exactly once. The same operation rebuilds the customers' rows of the due-time index
(``segment_due``, see ``segment_due_sql``). Its callers:

- the consumers, after applying a batch of events, for the customers the batch touched
  (``refresh_customers``, cause ``event``);
- the due worker, for the rows whose due moment has come (``apply_due``, cause ``time``);
- a saved segment's creation or new version, and the nightly scoring run (``reevaluate_segment``,
  ``reevaluate_tenant``; causes ``saved`` and ``run``).

Concurrency. Two evaluations of the same customer must not interleave (each could act on facts the
other's snapshot lacks), so evaluations of given customers take a transaction-level advisory lock
per customer (in a sorted order: no deadlock among them) under a shared lock of the tenant's
membership, and a whole-tenant evaluation takes that tenant lock exclusively. Each statement then
starts after the previous holder committed, and reads its facts.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import scoring_events_pb2
from services.runtime.events.outbox import NewEvent, Outbox
from services.scoring.domain.segments.parse import parse_condition
from services.scoring.domain.segments.reads import EVERYTHING, facts_read
from services.scoring.domain.segments.tree import Condition
from services.scoring.store.segment_preview import PREVIEW_SETTINGS
from services.scoring.store.segment_statements import build_statements, scoped_statements
from services.scoring.store.segment_tables import segment_due, segments
from services.scoring.store.segment_tables import segment_members as members
from services.scoring.store.segment_zones import known_zones, tenant_zone
from services.scoring.store.tables import customers

ENTERED = "segment.entered"
EXITED = "segment.exited"
_UUIDS = pg.ARRAY(pg.UUID(as_uuid=True))


@dataclass(frozen=True, slots=True)
class LiveSegment:
    """A saved segment as membership evaluates it: id, current version, parsed condition."""

    segment_id: uuid.UUID
    version: int
    condition: Condition


@dataclass(frozen=True, slots=True)
class Changes:
    """Who entered and who exited one segment in one evaluation."""

    entered: tuple[uuid.UUID, ...] = ()
    exited: tuple[uuid.UUID, ...] = ()


def _lock_key(*parts: bytes) -> int:
    """A signed 64-bit advisory lock key for the parts (a collision only makes two callers wait)."""
    digest = hashlib.blake2b(b"segments\x00" + b"\x00".join(parts), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _lock_tenant(connection: AsyncConnection, tenant_id: uuid.UUID, exclusive: bool) -> None:
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await connection.execute(sa.text(f"SELECT {function}(:key)"), {"key": _lock_key(tenant_id.bytes)})


WHOLE_TENANT_TIMEOUT = "600s"
"""A whole-tenant evaluation may outlive the service's 10 s statement limit: on a million customers a
segment of a quarter of them, or a birthday segment's million due rows, takes 10-30 s."""


async def _plan_for_the_tenant(connection: AsyncConnection) -> None:
    """A whole-tenant evaluation plans as a preview does (``PREVIEW_SETTINGS``: no JIT, hashes in
    memory) and may take longer than a call, for the rest of its transaction."""
    settings = [*PREVIEW_SETTINGS, ("statement_timeout", WHOLE_TENANT_TIMEOUT)]
    await connection.execute(sa.select(*(sa.func.set_config(name, value, True) for name, value in settings)))


async def _lock_customers(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_ids: Iterable[uuid.UUID]
) -> None:
    """The shared tenant lock, then one lock per customer in key order (two lockers of overlapping
    sets acquire in the same order, so they cannot deadlock)."""
    await _lock_tenant(connection, tenant_id, exclusive=False)
    keys = sorted({_lock_key(tenant_id.bytes, customer.bytes) for customer in customer_ids})
    if keys:
        await connection.execute(
            sa.text("SELECT count(pg_advisory_xact_lock(key)) FROM unnest(CAST(:keys AS bigint[])) AS key"),
            {"keys": keys},
        )


_PARSED: dict[tuple[uuid.UUID, int], Condition] = {}
_PARSED_LIMIT = 10_000


def _parsed(segment_id: uuid.UUID, version: int, document: Any) -> Condition:
    """The parsed condition of a segment version (stored canonical, so parsing cannot fail)."""
    key = (segment_id, version)
    condition = _PARSED.get(key)
    if condition is None:
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()
        condition = _PARSED[key] = parse_condition(document)
    return condition


async def live_segments(
    connection: AsyncConnection, tenant_id: uuid.UUID, only: Sequence[uuid.UUID] | None = None
) -> list[LiveSegment]:
    """The tenant's saved segments that are not deleted (``only``: those of them)."""
    statement = sa.select(segments.c.segment_id, segments.c.version, segments.c.condition).where(
        segments.c.tenant_id == tenant_id, segments.c.deleted_at.is_(None)
    )
    if only is not None:
        statement = statement.where(segments.c.segment_id == sa.any_(sa.literal(list(only), _UUIDS)))
    rows = (await connection.execute(statement.order_by(segments.c.segment_id))).all()
    return [
        LiveSegment(row.segment_id, row.version, _parsed(row.segment_id, row.version, row.condition))
        for row in rows
    ]


async def evaluate_members(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    segment: LiveSegment,
    now: datetime,
    customer_ids: Sequence[uuid.UUID] | None,
    zone: str | None = None,
    zones: frozenset[str] | None = None,
) -> Changes:
    """Compare the segment's answer at ``now`` with its stored members (of ``customer_ids``, or the
    whole tenant) and apply the difference; rebuild those customers' due rows. No events.
    ``zone``/``zones``: the tenant's and the known zones, when the caller already read them."""
    zone = zone or await tenant_zone(connection, tenant_id)
    zones = zones or await known_zones(connection)
    if customer_ids is None:
        statements = build_statements(
            tenant_id, segment.segment_id, segment.version, segment.condition, now, zone, zones, False
        )
    else:
        statements = scoped_statements(
            tenant_id, segment.segment_id, segment.version, segment.condition, now, zone, zones
        )
    rows = (await connection.execute(statements.diff, statements.diff_parameters(now, customer_ids))).all()
    # Due rows: only a segment with time-dependent leaves has any (a full evaluation also clears
    # those of a version that had them).
    if customer_ids is None or statements.due_insert is not None:
        scope = statements.due_parameters(now, customer_ids)
        await connection.execute(
            statements.due_delete, {k: v for k, v in scope.items() if k == "segment_scope"}
        )
        if statements.due_insert is not None:
            await connection.execute(statements.due_insert, scope)
    return Changes(
        entered=tuple(row.customer_id for row in rows if row.entered),
        exited=tuple(row.customer_id for row in rows if not row.entered),
    )


async def announce(
    connection: AsyncConnection,
    outbox: Outbox,
    tenant_id: uuid.UUID,
    segment: LiveSegment,
    changes: Changes,
    now: datetime,
    cause: str,
) -> None:
    """Append one event per change to the outbox, in the transaction that made the change."""
    events: list[NewEvent] = []
    segment_id = str(segment.segment_id)
    for customer_id in changes.entered:
        entered = scoring_events_pb2.SegmentEntered(
            segment_id=segment_id, version=segment.version, cause=cause
        )
        entered.entered_at.FromDatetime(now)
        events.append(NewEvent(tenant_id, ENTERED, customer_id, entered, occurred_at=now))
    for customer_id in changes.exited:
        exited = scoring_events_pb2.SegmentExited(segment_id=segment_id, version=segment.version, cause=cause)
        exited.exited_at.FromDatetime(now)
        events.append(NewEvent(tenant_id, EXITED, customer_id, exited, occurred_at=now))
    await outbox.append(connection, events)


async def reevaluate_segment(
    connection: AsyncConnection,
    outbox: Outbox,
    tenant_id: uuid.UUID,
    segment: LiveSegment,
    now: datetime,
    cause: str,
) -> Changes:
    """Evaluate one segment over the whole tenant (a save, a new version) and announce the changes."""
    await _lock_tenant(connection, tenant_id, exclusive=True)
    await _plan_for_the_tenant(connection)
    changes = await evaluate_members(connection, tenant_id, segment, now, None)
    await announce(connection, outbox, tenant_id, segment, changes, now, cause)
    return changes


async def forget_segment(connection: AsyncConnection, tenant_id: uuid.UUID, segment_id: uuid.UUID) -> None:
    """Drop a deleted segment's members and due rows; a deletion announces no exits."""
    await _lock_tenant(connection, tenant_id, exclusive=True)
    for table in (members, segment_due):
        await connection.execute(
            sa.delete(table).where(table.c.tenant_id == tenant_id, table.c.segment_id == segment_id)
        )


async def reevaluate_tenant(
    connection: AsyncConnection, outbox: Outbox, tenant_id: uuid.UUID, now: datetime, cause: str
) -> int:
    """Evaluate every saved segment of the tenant over all its customers (after a scoring run);
    the number of changes announced."""
    await _lock_tenant(connection, tenant_id, exclusive=True)
    await _plan_for_the_tenant(connection)
    changed = 0
    for segment in await live_segments(connection, tenant_id):
        changes = await evaluate_members(connection, tenant_id, segment, now, None)
        await announce(connection, outbox, tenant_id, segment, changes, now, cause)
        changed += len(changes.entered) + len(changes.exited)
    return changed


async def refresh_customers(
    connection: AsyncConnection,
    outbox: Outbox,
    tenant_id: uuid.UUID,
    customer_ids: Iterable[uuid.UUID],
    now: datetime,
    cause: str,
    only: Sequence[uuid.UUID] | None = None,
    changed: Mapping[str, set[uuid.UUID]] | None = None,
) -> int:
    """Re-evaluate the tenant's segments (``only``: those) for the given customers and the survivors
    they were merged into; the number of changes announced.

    ``changed`` (kind of fact → customers whose facts of that kind changed, ``reads.EVERYTHING`` for
    changes to the customer itself) narrows each segment to the customers whose changes it reads; a
    segment reading none of them is skipped. Without it every segment is evaluated for everyone.
    """
    touched = set(customer_ids)
    if not touched:
        return 0
    merged = await connection.execute(
        sa.select(customers.c.customer_id, customers.c.merged_into).where(
            customers.c.tenant_id == tenant_id,
            customers.c.customer_id == sa.any_(sa.literal(list(touched), _UUIDS)),
            customers.c.merged_into.is_not(None),
        )
    )
    survivors: dict[uuid.UUID, uuid.UUID] = {row.customer_id: row.merged_into for row in merged}
    await _lock_customers(connection, tenant_id, touched | set(survivors.values()))
    zone, zones = await tenant_zone(connection, tenant_id), await known_zones(connection)
    changed_count = 0
    for segment in await live_segments(connection, tenant_id, only):
        if changed is None:
            mine = touched
        else:
            kinds = facts_read(segment.condition) | {EVERYTHING}
            mine = set().union(*(changed.get(kind, set()) for kind in kinds)) & touched
        if not mine:
            continue
        scope = sorted(mine | {survivors[c] for c in mine if c in survivors})
        changes = await evaluate_members(connection, tenant_id, segment, now, scope, zone, zones)
        await announce(connection, outbox, tenant_id, segment, changes, now, cause)
        changed_count += len(changes.entered) + len(changes.exited)
    return changed_count
