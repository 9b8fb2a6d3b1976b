"""The statements of one segment's membership evaluation, built once and executed many times.

Building a segment's SQLAlchemy statements (the compiled condition, the membership diff around it,
the due moments) costs more Python time than PostgreSQL takes to run them for a consumer batch of a
few dozen customers. Every value that changes between two evaluations of the same segment version —
the moment, the instants derived from it, the customers — is a named parameter, so the consumer and
the due worker keep the statements per (tenant, segment, version) and only bind new values.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.scoring.domain.segments.tree import Condition
from services.scoring.store.segment_due_sql import due_query
from services.scoring.store.segment_sql import segment_query
from services.scoring.store.segment_sql_facts import StatementClock
from services.scoring.store.segment_tables import segment_due
from services.scoring.store.segment_tables import segment_members as members

_UUID = pg.UUID(as_uuid=True)
_UUIDS = pg.ARRAY(_UUID)
_TS = sa.TIMESTAMP(timezone=True)
KEPT_LIMIT = 2_000
"""Statement sets kept per process (a few per live segment version); the cache empties when full."""


@dataclass(frozen=True, slots=True)
class MembershipStatements:
    """The diff (``entered``, ``customer_id`` rows), the due rows' delete and rebuild of one segment
    version, and the clocks that re-bind their derived instants."""

    diff: sa.CompoundSelect[tuple[bool, uuid.UUID]]
    diff_clock: StatementClock
    due_delete: sa.Delete
    due_insert: sa.Insert | None
    due_clock: StatementClock | None

    def diff_parameters(self, now: datetime, customer_ids: Sequence[uuid.UUID] | None) -> dict[str, Any]:
        return _parameters(self.diff_clock, now, customer_ids)

    def due_parameters(self, now: datetime, customer_ids: Sequence[uuid.UUID] | None) -> dict[str, Any]:
        return _parameters(self.due_clock, now, customer_ids)


def _parameters(
    clock: StatementClock | None, now: datetime, customer_ids: Sequence[uuid.UUID] | None
) -> dict[str, Any]:
    values: dict[str, Any] = {"segment_now": now, "membership_now": now}
    if clock is not None:
        values.update(clock.values(now))
    if customer_ids is not None:
        values["segment_scope"] = list(customer_ids)
    return values


def build_statements(
    tenant_id: uuid.UUID,
    segment_id: uuid.UUID,
    version: int,
    condition: Condition,
    now: datetime,
    zone: str,
    zones: frozenset[str],
    scoped: bool,
) -> MembershipStatements:
    """The statements for the whole tenant, or (``scoped``) for the customers bound later to
    ``segment_scope``."""
    placeholder: list[uuid.UUID] | None = [] if scoped else None
    query, diff_clock = segment_query(condition, tenant_id, now, zone, zones, placeholder)
    matched = query.cte("matched").prefix_with("MATERIALIZED")
    scope = sa.bindparam("segment_scope", [], type_=_UUIDS)
    mine = [members.c.tenant_id == tenant_id, members.c.segment_id == segment_id]
    if scoped:
        mine.append(members.c.customer_id == sa.any_(scope))
    gone = (
        sa.delete(members)
        .where(*mine, ~sa.exists().where(matched.c.customer_id == members.c.customer_id))
        .returning(members.c.customer_id)
        .cte("gone")
    )
    came = (
        pg.insert(members)
        .from_select(
            ["tenant_id", "segment_id", "customer_id", "entered_at", "version"],
            sa.select(
                sa.literal(tenant_id, _UUID),
                sa.literal(segment_id, _UUID),
                matched.c.customer_id,
                sa.bindparam("membership_now", now, type_=_TS),
                sa.literal(version, sa.Integer()),
            ),
        )
        .on_conflict_do_nothing()
        .returning(members.c.customer_id)
        .cte("came")
    )
    diff = sa.select(sa.true().label("entered"), came.c.customer_id).union_all(
        sa.select(sa.false(), gone.c.customer_id)
    )
    due_mine = [segment_due.c.tenant_id == tenant_id, segment_due.c.segment_id == segment_id]
    if scoped:
        due_mine.append(segment_due.c.customer_id == sa.any_(scope))
    moments = due_query(condition, tenant_id, now, zone, zones, placeholder)
    insert: sa.Insert | None = None
    if moments is not None:
        due = moments[0].subquery("due")
        insert = pg.insert(segment_due).from_select(
            ["tenant_id", "segment_id", "customer_id", "due_at"],
            sa.select(
                sa.literal(tenant_id, _UUID), sa.literal(segment_id, _UUID), due.c.customer_id, due.c.due_at
            ),
        )
    return MembershipStatements(
        diff,
        diff_clock,
        sa.delete(segment_due).where(*due_mine),
        insert,
        None if moments is None else moments[1],
    )


_KEPT: dict[tuple[uuid.UUID, uuid.UUID, int, str], MembershipStatements] = {}


def scoped_statements(
    tenant_id: uuid.UUID,
    segment_id: uuid.UUID,
    version: int,
    condition: Condition,
    now: datetime,
    zone: str,
    zones: frozenset[str],
) -> MembershipStatements:
    """The scoped statements of a segment version, built on first use and kept."""
    key = (tenant_id, segment_id, version, zone)
    kept = _KEPT.get(key)
    if kept is None:
        if len(_KEPT) >= KEPT_LIMIT:
            _KEPT.clear()
        kept = _KEPT[key] = build_statements(
            tenant_id, segment_id, version, condition, now, zone, zones, True
        )
    return kept
