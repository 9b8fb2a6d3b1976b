"""Implements ``services.loyalty.domain.coupon_desk.CouponStore`` on the loyalty database.

Each method is one transaction: the customer resolved through the directory, the template read and
the coupon's statements (``coupon_issuing``, ``coupon_redemptions``, ``customer_coupons``) run in it,
so any refusal rolls back everything the call wrote.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.domain.coupons import (
    Coupon,
    CouponTemplate,
    Exchanged,
    Issued,
    Redemption,
    TemplateSpec,
)
from services.loyalty.store.coupon_issuing import exchange_points, issue_coupon
from services.loyalty.store.coupon_redemptions import redeem_coupon
from services.loyalty.store.coupon_templates import create_template, get_template, templates_page
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

    async def _customer_and_template(
        self, connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID, template_id: str
    ) -> tuple[uuid.UUID, CouponTemplate]:
        """The live customer and the template a request's body names (an unknown one is a fault
        of ``template_id``)."""
        customer = await self._directory.resolve(connection, tenant_id, customer_id)
        return customer, await get_template(connection, tenant_id, template_id, body_field="template_id")

    async def create_template(self, tenant_id: uuid.UUID, spec: TemplateSpec) -> CouponTemplate:
        async with self._database.transaction() as connection:
            return await create_template(connection, tenant_id, spec)

    async def get_template(self, tenant_id: uuid.UUID, template_id: str) -> CouponTemplate:
        async with self._database.read() as connection:
            return await get_template(connection, tenant_id, template_id)

    async def templates_page(self, tenant_id: uuid.UUID, limit: int, cursor: str) -> Page[CouponTemplate]:
        async with self._database.read() as connection:
            return await templates_page(connection, tenant_id, limit=limit, cursor=cursor)

    async def issue(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        template_id: str,
        issue_key: str | None,
        now: datetime,
    ) -> Issued:
        async with self._database.transaction() as connection:
            customer, template = await self._customer_and_template(
                connection, tenant_id, customer_id, template_id
            )
            return await issue_coupon(
                connection,
                self._outbox,
                tenant_id=tenant_id,
                customer_id=customer,
                template=template,
                issue_key=issue_key,
                source="api",
                now=now,
            )

    async def exchange(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        template_id: str,
        idempotency_key: str,
        now: datetime,
    ) -> Exchanged:
        async with self._database.transaction() as connection:
            customer, template = await self._customer_and_template(
                connection, tenant_id, customer_id, template_id
            )
            return await exchange_points(
                connection,
                self._outbox,
                tenant_id=tenant_id,
                customer_id=customer,
                template=template,
                idempotency_key=idempotency_key,
                now=now,
            )

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

    async def redeem(
        self, tenant_id: uuid.UUID, code: str, order_id: str, amount_minor: int, now: datetime
    ) -> Redemption:
        async with self._database.transaction() as connection:
            return await redeem_coupon(
                connection,
                self._outbox,
                tenant_id=tenant_id,
                code=code,
                order_id=order_id,
                amount_minor=amount_minor,
                now=now,
            )
