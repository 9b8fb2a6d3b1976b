"""Implements ``services.loyalty.domain.coupon_desk.CouponStore`` on the loyalty database.

Template reads and writes and a customer's list are one statement each; ``transaction`` opens the
transaction in which the domain issues, exchanges or redeems (``store.coupon_work``), so any
refusal rolls back everything the call wrote; ``batch`` the one in which it issues many
(``store.coupon_batches``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from services.loyalty.domain.coupons import Coupon, CouponTemplate, TemplateSpec
from services.loyalty.store.coupon_batches import SqlCouponBatchWork
from services.loyalty.store.coupon_templates import create_template, get_template, templates_page
from services.loyalty.store.coupon_work import SqlCouponWork
from services.loyalty.store.customer_coupons import customer_coupons_page
from services.loyalty.store.customer_directory import CustomerDirectory
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox
from services.runtime.paging import Page


class SqlCouponStore:
    """Coupon templates and coupons, with their events in the loyalty outbox."""

    def __init__(self, database: Database, outbox: Outbox, directory: CustomerDirectory) -> None:
        self._database = database
        self._outbox = outbox
        self._directory = directory

    @asynccontextmanager
    async def transaction(self, tenant_id: uuid.UUID) -> AsyncIterator[SqlCouponWork]:
        """One transaction of the tenant's coupon statements; committed when the block ends."""
        async with self._database.transaction() as connection:
            yield SqlCouponWork(connection, self._outbox, self._directory, tenant_id)

    @asynccontextmanager
    async def batch(self, tenant_id: uuid.UUID) -> AsyncIterator[SqlCouponBatchWork]:
        """One transaction of a batch of issues; committed when the block ends."""
        async with self._database.transaction() as connection:
            yield SqlCouponBatchWork(connection, self._outbox, self._directory, tenant_id)

    async def create_template(self, tenant_id: uuid.UUID, spec: TemplateSpec) -> CouponTemplate:
        async with self._database.transaction() as connection:
            return await create_template(connection, tenant_id, spec)

    async def get_template(self, tenant_id: uuid.UUID, template_id: str) -> CouponTemplate:
        async with self._database.read() as connection:
            return await get_template(connection, tenant_id, template_id)

    async def templates_page(self, tenant_id: uuid.UUID, limit: int, cursor: str) -> Page[CouponTemplate]:
        async with self._database.read() as connection:
            return await templates_page(connection, tenant_id, limit=limit, cursor=cursor)

    async def customer_coupons(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        status: str | None,
        now: datetime,
        limit: int,
        cursor: str,
    ) -> Page[Coupon]:
        async with self._database.transaction() as connection:
            customer = await self._directory.resolve(connection, tenant_id, customer_id)
            return await customer_coupons_page(
                connection,
                tenant_id=tenant_id,
                customer_id=customer,
                status=status,
                now=now,
                limit=limit,
                cursor=cursor,
            )
