"""Operators' sessions on the profile database: only the SHA-256 of a session's token is kept.

Signing in removes the operator's ended sessions and keeps at most ``max_per_operator`` open ones
(the oldest go), so the table holds about one row per open session.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from services.profile.domain.operators import Operator
from services.profile.domain.sessions import Credentials, OpenSession, SessionPolicy
from services.profile.store.operator_tables import operator_sessions, operators
from services.profile.store.operators import COLUMNS, operator_from_row
from services.profile.store.tables import tenants
from services.runtime.database import Database
from services.runtime.tenancy import Tenant

o = operators.c
s = operator_sessions.c
t = tenants.c
_TENANT = (t.tenant_id, t.name, t.timezone, t.currency, t.default_region)


def _interval(span: timedelta) -> Any:
    return sa.func.make_interval(0, 0, 0, 0, 0, 0, span.total_seconds())


def _open(idle: timedelta) -> list[Any]:
    """The conditions of a session that still counts: not revoked, not past its end, not idle."""
    return [
        s.revoked_at.is_(None),
        s.expires_at > sa.func.now(),
        s.last_seen_at > sa.func.now() - _interval(idle),
    ]


class SqlSessionStore:
    """Implements ``SessionStore``; every statement but the resolution by hash is bound to the tenant."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def credentials(self, tenant_id: uuid.UUID, email: str) -> Credentials | None:
        query = sa.select(o.operator_id, o.password_hash, o.disabled_at).where(
            o.tenant_id == tenant_id, o.email == email
        )
        async with self._database.read() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        return Credentials(row.operator_id, row.password_hash, row.disabled_at is not None)

    async def open(
        self,
        tenant_id: uuid.UUID,
        operator_id: uuid.UUID,
        session_hash: bytes,
        policy: SessionPolicy,
        new_password_hash: str | None,
    ) -> tuple[Operator, datetime] | None:
        """Record the sign-in (and a fresh hash), tidy the operator's sessions and open this one."""
        values: dict[str, Any] = {"last_sign_in_at": sa.func.now()}
        if new_password_hash is not None:
            values["password_hash"] = new_password_hash
        mine = (s.tenant_id == tenant_id, s.operator_id == operator_id)
        async with self._database.transaction() as connection:
            row = (
                await connection.execute(
                    sa.update(operators)
                    .where(o.tenant_id == tenant_id, o.operator_id == operator_id, o.disabled_at.is_(None))
                    .values(**values)
                    .returning(*COLUMNS)
                )
            ).first()
            if row is None:
                return None
            await connection.execute(sa.delete(operator_sessions).where(*mine, ~sa.and_(*_open(policy.idle))))
            inserted = await connection.execute(
                sa.insert(operator_sessions)
                .values(
                    session_sha256=session_hash,
                    tenant_id=tenant_id,
                    operator_id=operator_id,
                    expires_at=sa.func.now() + _interval(policy.lifetime),
                )
                .returning(s.expires_at)
            )
            expires_at = inserted.scalar_one()
            newest = (
                sa.select(s.session_sha256)
                .where(*mine)
                .order_by(s.created_at.desc(), s.session_sha256)
                .limit(policy.max_per_operator)
            )
            await connection.execute(
                sa.delete(operator_sessions).where(*mine, s.session_sha256.not_in(newest.scalar_subquery()))
            )
        return operator_from_row(row), expires_at

    async def resolve(self, session_hash: bytes, idle: timedelta) -> OpenSession | None:
        """The open session of this hash with its operator (enabled) and tenant; the one lookup not
        bound to a tenant, since the hash is what tells the tenant."""
        query = (
            sa.select(*_TENANT, *COLUMNS, s.expires_at, s.last_seen_at)
            .select_from(operator_sessions)
            .join(operators, sa.and_(o.tenant_id == s.tenant_id, o.operator_id == s.operator_id))
            .join(tenants, tenants.c.tenant_id == s.tenant_id)
            .where(s.session_sha256 == session_hash, o.disabled_at.is_(None), *_open(idle))
        )
        async with self._database.read() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        tenant = Tenant(
            row.tenant_id, row.name, row.timezone, row.currency.strip(), row.default_region.strip()
        )
        return OpenSession(tenant, operator_from_row(row), row.expires_at, row.last_seen_at)

    async def touch(self, tenant_id: uuid.UUID, session_hash: bytes, stale_before: datetime) -> None:
        """Set the session's last-seen time to now, unless another call did within the minute."""
        async with self._database.transaction() as connection:
            await connection.execute(
                sa.update(operator_sessions)
                .where(
                    s.tenant_id == tenant_id,
                    s.session_sha256 == session_hash,
                    s.last_seen_at < stale_before,
                )
                .values(last_seen_at=sa.func.now())
            )

    async def revoke(self, tenant_id: uuid.UUID, session_hash: bytes) -> bool:
        statement = (
            sa.update(operator_sessions)
            .where(s.tenant_id == tenant_id, s.session_sha256 == session_hash, s.revoked_at.is_(None))
            .values(revoked_at=sa.func.now())
            .returning(s.session_sha256)
        )
        async with self._database.transaction() as connection:
            return (await connection.execute(statement)).first() is not None
