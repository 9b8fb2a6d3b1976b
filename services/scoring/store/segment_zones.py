"""The time zones segment statements may name, shared by previews and live membership.

A customer's zone must be one both this Python (the reference evaluator) and PostgreSQL know, or a
statement naming it would fail; the list is read once per process (the catalogue costs ~150 ms).
"""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.scoring.store.segment_sql import python_zones
from services.scoring.store.tables import tenants

_ZONES: frozenset[str] | None = None


async def known_zones(connection: AsyncConnection) -> frozenset[str]:
    """The zones both this Python and the database know (read once per process: ~150 ms)."""
    global _ZONES
    if _ZONES is None:
        names = (await connection.execute(sa.text("SELECT name FROM pg_timezone_names"))).scalars()
        _ZONES = python_zones() & frozenset(names)
    return _ZONES


async def tenant_zone(connection: AsyncConnection, tenant_id: uuid.UUID) -> str:
    """The tenant's IANA zone (UTC should this Python not know it, or scoring not know the tenant)."""
    zone = (
        await connection.execute(sa.select(tenants.c.timezone).where(tenants.c.tenant_id == tenant_id))
    ).scalar_one_or_none()
    return valid_zone(zone or "UTC")


def valid_zone(name: str) -> str:
    """``name``, or UTC should this Python not know it (tenants are validated on the way in)."""
    try:
        ZoneInfo(name)
    except (ValueError, KeyError):
        return "UTC"
    return name
