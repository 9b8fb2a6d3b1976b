"""Implements ``services.loyalty.domain.event_effects.EventWork`` on the consumer's transaction.

Each method is one step: the earning and membership use cases (``domain/earning_flow``,
``domain/membership_flow``) over their units of work (``store/earning``, ``store/membership``), the
sign-in, the customer projection and the accounts, all in the connection the consumer hands in with
the event, so an event's effects commit with the stream position or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.domain import earning_flow, membership_flow
from services.loyalty.domain.customers import CustomerFacts
from services.loyalty.domain.earning import PaidOrder, Refund, RefundOutcome, SignInResult
from services.loyalty.domain.program import Program, TenantProgram, Tier
from services.loyalty.store import membership
from services.loyalty.store.accounts import erase_account, merge_accounts
from services.loyalty.store.customer_directory import (
    customer_facts,
    customer_facts_many,
    record_birthdays,
    record_erasure,
    record_merge,
)
from services.loyalty.store.earning import SqlEarningWork
from services.loyalty.store.membership import SqlMembershipWork
from services.loyalty.store.programs import tenant_program
from services.loyalty.store.sign_ins import sign_in
from services.loyalty.store.tables import consumer_parked, customer_erasures, outbox
from services.runtime.events.erasure import ErasureTraces
from services.runtime.events.outbox import Outbox

_TRACES = ErasureTraces("loyalty", outbox, consumer_parked, customer_erasures)


class SqlEventWork:
    """Loyalty's tables as one event's transaction changes them."""

    def __init__(self, connection: AsyncConnection, outbox: Outbox) -> None:
        self._connection = connection
        self._outbox = outbox
        self._earning = SqlEarningWork(connection, outbox)
        self._membership = SqlMembershipWork(connection, outbox)

    async def tenant_program(self, tenant_id: uuid.UUID) -> TenantProgram:
        return await tenant_program(self._connection, tenant_id)

    async def customer_facts(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> CustomerFacts:
        return await customer_facts(self._connection, tenant_id, customer_id)

    async def customers_facts(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, CustomerFacts]:
        return await customer_facts_many(self._connection, tenant_id, customer_ids)

    async def tier_of(self, program: Program, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> Tier:
        return await membership.tier_of(
            self._connection, program, tenant_id=tenant_id, customer_id=customer_id
        )

    async def earn_for_order(
        self, context: TenantProgram, order: PaidOrder, tier: Tier, *, birthday: bool
    ) -> int:
        return await earning_flow.earn_for_order(self._earning, context, order, tier, birthday=birthday)

    async def record_order(self, program: Program, tenant_id: uuid.UUID, order: PaidOrder) -> None:
        await membership_flow.record_order(
            self._membership,
            program,
            tenant_id=tenant_id,
            customer_id=order.customer_id,
            order_id=order.order_id,
            paid_at=order.paid_at,
            amount_minor=order.amount_minor,
            currency=order.currency,
        )

    async def reverse_for_refund(self, context: TenantProgram, refund: Refund) -> RefundOutcome:
        return await earning_flow.reverse_for_refund(self._earning, context, refund)

    async def record_refund(
        self, program: Program, tenant_id: uuid.UUID, customer_id: uuid.UUID, refund: Refund
    ) -> None:
        await membership_flow.record_refund(
            self._membership,
            program,
            tenant_id=tenant_id,
            customer_id=customer_id,
            order_id=refund.order_id,
            refunded_minor=refund.amount_minor,
            refunded_at=refund.refunded_at,
        )

    async def sign_in(self, context: TenantProgram, customer_id: uuid.UUID, moment: datetime) -> SignInResult:
        return await sign_in(self._connection, self._outbox, context, customer_id, moment)

    async def earn_capped(
        self,
        context: TenantProgram,
        *,
        customer_id: uuid.UUID,
        kind: str,
        points: int,
        cap: int,
        event_id: str,
        occurred_at: datetime,
    ) -> int:
        return await earning_flow.earn_capped(
            self._earning,
            context,
            customer_id=customer_id,
            kind=kind,
            points=points,
            cap=cap,
            event_id=event_id,
            occurred_at=occurred_at,
        )

    async def record_review(
        self, program: Program, tenant_id: uuid.UUID, customer_id: uuid.UUID, occurred_at: datetime
    ) -> None:
        await membership_flow.record_review(
            self._membership, program, tenant_id=tenant_id, customer_id=customer_id, occurred_at=occurred_at
        )

    async def record_birthdays(self, tenant_id: uuid.UUID, birthdays: dict[uuid.UUID, str | None]) -> None:
        await record_birthdays(self._connection, tenant_id, birthdays)

    async def merge_customers(
        self, tenant_id: uuid.UUID, survivor_id: uuid.UUID, merged_ids: list[uuid.UUID], merged_at: datetime
    ) -> None:
        """The projection, the points accounts and the membership (with coupons) move to the survivor."""
        await record_merge(self._connection, tenant_id, survivor_id, merged_ids)
        await merge_accounts(self._connection, tenant_id, survivor_id, merged_ids)
        await membership_flow.merge_customers(
            self._membership,
            tenant_id=tenant_id,
            survivor_id=survivor_id,
            merged_ids=merged_ids,
            merged_at=merged_at,
        )

    async def erase_customer(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        erased_at: datetime,
        merged_ids: Sequence[uuid.UUID],
    ) -> None:
        """The projection marks the customer erased; the account and membership are anonymised; the
        customer's points events lose their reasons, their parked events go, and loyalty's erasure is
        recorded as done (``runtime.events.erasure``)."""
        await record_erasure(self._connection, tenant_id, customer_id, erased_at)
        await erase_account(self._connection, tenant_id, customer_id)
        await membership_flow.erase_customer(self._membership, tenant_id=tenant_id, customer_id=customer_id)
        await _TRACES.erase(self._connection, tenant_id, customer_id, merged_ids)
