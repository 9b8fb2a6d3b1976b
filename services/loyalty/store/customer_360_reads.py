"""The membership and available coupons of loyalty's 360 part, in one transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.loyalty.domain.coupons import Coupon
from services.loyalty.domain.tiers import MembershipView
from services.loyalty.store.customer_coupons import customer_coupons_page
from services.loyalty.store.customer_directory import CustomerDirectory
from services.loyalty.store.membership_reads import membership_view
from services.loyalty.store.programs import current_program
from services.runtime.database import Database
from services.runtime.paging import Page


class SqlMemberReads:
    """Implements ``MemberReads`` on the loyalty database."""

    def __init__(self, database: Database, directory: CustomerDirectory) -> None:
        self._database = database
        self._directory = directory

    async def membership_and_coupons(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime, coupon_limit: int
    ) -> tuple[uuid.UUID, MembershipView, Page[Coupon]]:
        async with self._database.transaction() as connection:
            customer = await self._directory.resolve(connection, tenant_id, customer_id)
            program = await current_program(connection, tenant_id)
            view = await membership_view(
                connection, program, tenant_id=tenant_id, customer_id=customer, now=now
            )
            coupons = await customer_coupons_page(
                connection,
                tenant_id=tenant_id,
                customer_id=customer,
                status="available",
                now=now,
                limit=coupon_limit,
                cursor="",
            )
        return customer, view, coupons
