"""The audit log on the profile database: append entries, read actions (requested joined with
outcome). The table refuses UPDATE, DELETE and TRUNCATE (migration profile_0011), so this module
only ever inserts and selects."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.exc import IntegrityError

from services.profile.domain.audit import (
    OUTCOME,
    REQUESTED,
    UNKNOWN,
    AuditedAction,
    AuditQuery,
    NewEntry,
    RecordedEntry,
)
from services.profile.store.audit_tables import audit_log
from services.runtime.database import Database
from services.runtime.errors import AlreadyExists
from services.runtime.paging import Page, page_from_rows

# An entry waits at most this long for a lock on the log (a migration, an operator's LOCK TABLE), so
# it fails inside the gateway's deadline and the action is refused rather than left in doubt.
LOCK_TIMEOUT = "1s"
# Transaction settings of each phase. A requested entry is what "no audit, no action" rests on: its
# commit is durable before the gateway lets the action run. An outcome entry commits without waiting
# for the WAL flush (synchronous_commit off): a database crash in the next fraction of a second can
# lose it, and the action then reads as outcome unknown, as after a gateway crash; its caller does not
# wait for a disk flush meanwhile.
_REQUESTED_SETTINGS = sa.text("SELECT set_config('lock_timeout', :lock_timeout, true)")
_OUTCOME_SETTINGS = sa.text(
    "SELECT set_config('lock_timeout', :lock_timeout, true), set_config('synchronous_commit', 'off', true)"
)

_requested = audit_log.alias("requested")
_outcome = audit_log.alias("outcome")
_ACTIONS = _requested.outerjoin(
    _outcome,
    sa.and_(
        _outcome.c.tenant_id == _requested.c.tenant_id,
        _outcome.c.request_id == _requested.c.request_id,
        _outcome.c.phase == OUTCOME,
    ),
)
_ACTION_COLUMNS = (
    _requested.c.entry_id,
    _requested.c.request_id,
    _requested.c.occurred_at,
    _requested.c.actor,
    _requested.c.action,
    sa.func.coalesce(_outcome.c.target, _requested.c.target).label("target"),
    _requested.c.detail,
    _requested.c.client_address,
    _outcome.c.outcome,
    _outcome.c.status,
    _outcome.c.occurred_at.label("finished_at"),
    _outcome.c.detail.label("result"),
)


def _action(row: Any) -> AuditedAction:
    return AuditedAction(
        entry_id=row.entry_id,
        request_id=row.request_id,
        occurred_at=row.occurred_at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        detail=dict(row.detail),
        client_address=row.client_address,
        outcome=row.outcome or UNKNOWN,
        status=row.status,
        finished_at=row.finished_at,
        result=dict(row.result or {}),
    )


class SqlAuditStore:
    """Implements ``AuditStore``; every statement is bound to the tenant."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def _append(self, settings: sa.TextClause, statement: sa.Executable) -> RecordedEntry | None:
        try:
            async with self._database.transaction() as connection:
                await connection.execute(settings, {"lock_timeout": LOCK_TIMEOUT})
                row = (await connection.execute(statement)).first()
        except IntegrityError as error:
            if "audit_log_tenant_id_fkey" in str(error.orig):
                return None
            raise AlreadyExists("this request already has an entry of this phase") from None
        return None if row is None else RecordedEntry(row.entry_id, row.occurred_at)

    async def append_requested(self, tenant_id: uuid.UUID, entry: NewEntry) -> RecordedEntry | None:
        """Insert the requested entry; None when the tenant does not exist (the foreign key)."""
        statement = (
            sa.insert(audit_log)
            .values(
                tenant_id=tenant_id,
                request_id=entry.request_id,
                phase=REQUESTED,
                actor=entry.actor,
                action=entry.action,
                target=entry.target,
                detail=entry.detail,
                client_address=entry.client_address,
            )
            .returning(audit_log.c.entry_id, audit_log.c.occurred_at)
        )
        return await self._append(_REQUESTED_SETTINGS, statement)

    async def append_outcome(self, tenant_id: uuid.UUID, entry: NewEntry) -> RecordedEntry | None:
        """Insert the outcome entry, copying actor, action, address (and target, unless the outcome
        names one) from the requested entry; None when there is no requested entry to follow."""
        target = sa.literal(entry.target) if entry.target else _requested.c.target
        source = sa.select(
            _requested.c.tenant_id,
            _requested.c.request_id,
            sa.literal(OUTCOME),
            _requested.c.actor,
            _requested.c.action,
            target,
            sa.literal(entry.detail, type_=pg.JSONB),
            _requested.c.client_address,
            sa.literal(entry.outcome),
            sa.literal(entry.status, type_=sa.Integer),
        ).where(
            _requested.c.tenant_id == tenant_id,
            _requested.c.request_id == entry.request_id,
            _requested.c.phase == REQUESTED,
        )
        columns = [
            "tenant_id",
            "request_id",
            "phase",
            "actor",
            "action",
            "target",
            "detail",
            "client_address",
            "outcome",
            "status",
        ]
        statement = (
            sa.insert(audit_log)
            .from_select(columns, source)
            .returning(audit_log.c.entry_id, audit_log.c.occurred_at)
        )
        return await self._append(_OUTCOME_SETTINGS, statement)

    async def page(self, tenant_id: uuid.UUID, query: AuditQuery) -> Page[AuditedAction]:
        r, o = _requested.c, _outcome.c
        conditions: list[sa.ColumnElement[bool]] = [r.tenant_id == tenant_id, r.phase == REQUESTED]
        if query.action:
            conditions.append(r.action == query.action)
        if query.actor:
            conditions.append(r.actor == query.actor)
        if query.target:
            conditions.append(sa.or_(r.target == query.target, o.target == query.target))
        if query.occurred_from is not None:
            conditions.append(r.occurred_at >= query.occurred_from)
        if query.occurred_to is not None:
            conditions.append(r.occurred_at < query.occurred_to)
        if query.after is not None:
            conditions.append(sa.tuple_(r.occurred_at, r.entry_id) < sa.tuple_(*query.after))
        statement = (
            sa.select(*_ACTION_COLUMNS)
            .select_from(_ACTIONS)
            .where(*conditions)
            .order_by(r.occurred_at.desc(), r.entry_id.desc())
            .limit(query.limit + 1)
        )
        async with self._database.read() as connection:
            rows = (await connection.execute(statement)).all()
        return page_from_rows(rows, query.limit, _action, lambda row: (row.occurred_at, row.entry_id))
