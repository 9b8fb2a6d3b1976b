"""A tenant's operators on the profile database (passwords only as Argon2id hashes).

Every write locks the tenant's row (``FOR NO KEY UPDATE``, which does not block rows that merely
reference the tenant), so the operator count and the last-owner rule are checked against a tenant
that no other operator write changes meanwhile.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.profile.domain.operators import (
    OWNER,
    NewOperator,
    Operator,
    OperatorChange,
    check_change,
)
from services.profile.store.operator_tables import operator_sessions, operators
from services.profile.store.tables import tenants
from services.runtime.database import Database
from services.runtime.errors import AlreadyExists, Conflict

o = operators.c
s = operator_sessions.c
COLUMNS = (o.operator_id, o.email, o.role, o.created_at, o.disabled_at, o.last_sign_in_at)


def operator_from_row(row: Any) -> Operator:
    return Operator(
        operator_id=row.operator_id,
        email=row.email,
        role=row.role,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
        last_sign_in_at=row.last_sign_in_at,
    )


async def _lock_tenant(connection: AsyncConnection, tenant_id: uuid.UUID) -> bool:
    """Hold the tenant still for this transaction's operator writes; false when it does not exist."""
    locked = await connection.execute(
        sa.select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant_id).with_for_update(key_share=True)
    )
    return locked.first() is not None


async def end_sessions(connection: AsyncConnection, tenant_id: uuid.UUID, operator_id: uuid.UUID) -> None:
    """End every open session of the operator now."""
    await connection.execute(
        sa.update(operator_sessions)
        .where(s.tenant_id == tenant_id, s.operator_id == operator_id, s.revoked_at.is_(None))
        .values(revoked_at=sa.func.now())
    )


class SqlOperatorStore:
    """Implements ``OperatorStore``; every statement is bound to the tenant."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(self, tenant_id: uuid.UUID, new: NewOperator, limit: int) -> Operator | None:
        """Insert the operator; None when the tenant does not exist, 409 for a taken e-mail or a full
        tenant."""
        try:
            async with self._database.transaction() as connection:
                if not await _lock_tenant(connection, tenant_id):
                    return None
                count = (
                    await connection.execute(
                        sa.select(sa.func.count()).select_from(operators).where(o.tenant_id == tenant_id)
                    )
                ).scalar_one()
                if count >= limit:
                    raise Conflict(f"a tenant has at most {limit} operators", reason="TOO_MANY_OPERATORS")
                row = (
                    await connection.execute(
                        sa.insert(operators)
                        .values(
                            tenant_id=tenant_id,
                            operator_id=uuid.uuid4(),
                            email=new.email,
                            password_hash=new.password_hash,
                            role=new.role,
                        )
                        .returning(*COLUMNS)
                    )
                ).one()
        except IntegrityError:
            raise AlreadyExists(
                "an operator with this e-mail exists in the tenant", reason="EMAIL_TAKEN"
            ) from None
        return operator_from_row(row)

    async def list(self, tenant_id: uuid.UUID) -> list[Operator]:
        query = sa.select(*COLUMNS).where(o.tenant_id == tenant_id).order_by(o.created_at, o.operator_id)
        async with self._database.read() as connection:
            return [operator_from_row(row) for row in await connection.execute(query)]

    async def get(self, tenant_id: uuid.UUID, operator_id: uuid.UUID) -> Operator | None:
        query = sa.select(*COLUMNS).where(o.tenant_id == tenant_id, o.operator_id == operator_id)
        async with self._database.read() as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else operator_from_row(row)

    async def update(
        self, tenant_id: uuid.UUID, operator_id: uuid.UUID, change: OperatorChange
    ) -> Operator | None:
        """Apply the change if the last-owner rule allows it; disabling or a new password ends the
        operator's sessions in the same transaction."""
        async with self._database.transaction() as connection:
            if not await _lock_tenant(connection, tenant_id):
                return None
            current = (
                await connection.execute(
                    sa.select(*COLUMNS).where(o.tenant_id == tenant_id, o.operator_id == operator_id)
                )
            ).first()
            if current is None:
                return None
            other_owners = (
                await connection.execute(
                    sa.select(sa.func.count())
                    .select_from(operators)
                    .where(
                        o.tenant_id == tenant_id,
                        o.operator_id != operator_id,
                        o.role == OWNER,
                        o.disabled_at.is_(None),
                    )
                )
            ).scalar_one()
            check_change(operator_from_row(current), change, other_owners)
            values: dict[str, Any] = {"updated_at": sa.func.now()}
            if change.role is not None:
                values["role"] = change.role
            if change.disabled is not None:
                values["disabled_at"] = (
                    sa.func.coalesce(o.disabled_at, sa.func.now()) if change.disabled else None
                )
            if change.password_hash is not None:
                values["password_hash"] = change.password_hash
            row = (
                await connection.execute(
                    sa.update(operators)
                    .where(o.tenant_id == tenant_id, o.operator_id == operator_id)
                    .values(**values)
                    .returning(*COLUMNS)
                )
            ).one()
            if change.disabled or change.password_hash is not None:
                await end_sessions(connection, tenant_id, operator_id)
        return operator_from_row(row)
