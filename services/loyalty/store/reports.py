"""The points reports: outstanding liability, and movements per tenant-local day."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.domain.expiry import local_midnight
from services.loyalty.domain.program import TenantProgram
from services.loyalty.domain.reports import DayFigures, Liability
from services.loyalty.store.programs import tenant_program
from services.runtime.database import Database


async def liability(connection: AsyncConnection, context: TenantProgram) -> Liability:
    """Points outstanding over all accounts, valued at the current programme's point value."""
    row = (
        await connection.execute(
            sa.text(
                "SELECT coalesce(sum(balance), 0) AS points, count(*) FILTER (WHERE balance > 0) AS holders, "
                "coalesce(sum(debt), 0) AS debt FROM point_accounts WHERE tenant_id = :tenant_id"
            ),
            {"tenant_id": context.tenant.tenant_id},
        )
    ).one()
    value = context.program.point_value_minor
    return Liability(
        outstanding_points=int(row.points),
        value_minor=int(row.points) * value,
        point_value_minor=value,
        currency=context.tenant.currency,
        customers_with_points=int(row.holders),
        debt_points=int(row.debt),
    )


_DAILY = sa.text(
    """
    SELECT (created_at AT TIME ZONE :timezone)::date AS day,
           coalesce(sum(delta) FILTER (WHERE type = 'earn' OR (type = 'adjust' AND delta > 0)), 0) AS earned,
           coalesce(-sum(delta) FILTER (WHERE type = 'redeem'), 0) AS redeemed,
           coalesce(-sum(delta) FILTER (WHERE type = 'expire'), 0) AS expired,
           coalesce(-sum(delta) FILTER (WHERE type = 'reverse'), 0) AS reversed,
           coalesce(-sum(delta) FILTER (WHERE type = 'adjust' AND delta < 0), 0) AS adjusted_down
    FROM point_entries
    WHERE tenant_id = :tenant_id AND created_at >= :start AND created_at < :end
    GROUP BY 1
    """
)


async def daily(
    connection: AsyncConnection, tenant_id: uuid.UUID, timezone: str, first: date, last: date
) -> list[DayFigures]:
    """Points earned / redeemed / expired / reversed / adjusted down per tenant-local day of booking,
    every day from ``first`` to ``last`` inclusive (zeros for quiet days)."""
    rows = (
        await connection.execute(
            _DAILY,
            {
                "tenant_id": tenant_id,
                "timezone": timezone,
                "start": local_midnight(first, timezone),
                "end": local_midnight(last + timedelta(days=1), timezone),
            },
        )
    ).all()
    by_day = {r.day: r for r in rows}
    figures = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        r = by_day.get(day)
        figures.append(
            DayFigures(day, 0, 0, 0, 0, 0)
            if r is None
            else DayFigures(
                day, int(r.earned), int(r.redeemed), int(r.expired), int(r.reversed), int(r.adjusted_down)
            )
        )
    return figures


class SqlReportsStore:
    """Implements ``services.loyalty.domain.reports.ReportsStore`` on the loyalty database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def liability(self, tenant_id: uuid.UUID) -> Liability:
        async with self._database.read() as connection:
            return await liability(connection, await tenant_program(connection, tenant_id))

    async def daily(self, tenant_id: uuid.UUID, first: date, last: date) -> list[DayFigures]:
        async with self._database.read() as connection:
            context = await tenant_program(connection, tenant_id)
            return await daily(connection, context.tenant.tenant_id, context.tenant.timezone, first, last)
