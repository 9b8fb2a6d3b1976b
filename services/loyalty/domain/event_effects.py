"""What profile's events do to loyalty: points and tier progress from what happens.

Every effect runs in the consumer's transaction (the ``EventWork`` the consumer hands in, which
``services.loyalty.store.event_work`` implements on that transaction), the one that also moves the
stream position, so each event's effects happen exactly once however often it is delivered; the
ledger's idempotency keys (per order, refund, event) are a second line. Effects read the programme
current when the event is applied and record its version on what they book.

- order.paid: earn under the tier held *before* the order, then tier progress (membership).
- order.refunded: take back in proportion (debt for what was spent), then progress goes down.
- event.recorded review / share / sign_in: earn within the day's caps; sign_in shares the REST
  path's once-a-day rule; a review also adds growth value.
- customer.created / updated: the projection (and the birthday month-day, asked of profile only
  while the tenant's programme has a birthday multiplier; a run of creations asks concurrently).
- customer.merged: accounts, lots, history, tiers and coupons move to the survivor.
- customer.erased: what loyalty holds is anonymised; amounts stay for the liability.

Runs of order.paid and customer.created have batch effects: the programme is read once per tenant
of the run and the customers' facts in one statement; each order then costs its claim, one ledger
statement and the tier progress.

An event of a tenant this service was never told of is skipped with a warning: tenants are
provisioned before their first API key exists, so only a foreign stream could carry one.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.loyalty.domain.customers import Birthdays, CustomerFacts
from services.loyalty.domain.earning import PaidOrder, Refund, RefundOutcome, SignInResult, is_birthday
from services.loyalty.domain.expiry import local_date
from services.loyalty.domain.program import Program, TenantProgram, Tier
from services.runtime.errors import NotFound

logger = logging.getLogger(__name__)

CAPPED_EVENTS = ("review", "share")
# The behaviour kinds that earn; every other kind of ``event.recorded`` changes nothing here.
EARNING_KINDS = frozenset((*CAPPED_EVENTS, "sign_in"))
# Profile calls in flight at once while a run of customer.created asks for birthdays.
BIRTHDAY_LOOKUPS_IN_FLIGHT = 16

# Called right after an order's points are written, before the consumer's transaction commits:
# where a test injects a fault (``services.loyalty.fault_injection``); production passes none.
AfterEarn = Callable[[], None]


@dataclass(frozen=True, slots=True)
class EventHeader:
    """What every event says: which it is, whose, and when it happened."""

    event_id: str
    type: str
    tenant_id: uuid.UUID
    customer_id: uuid.UUID | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class OrderPaid:
    header: EventHeader
    order_id: str
    amount_minor: int
    currency: str
    paid_at: datetime


class EventWork(Protocol):
    """What the consumer's transaction can do to loyalty's tables."""

    async def tenant_program(self, tenant_id: uuid.UUID) -> TenantProgram:
        """The tenant's settings and programme; NotFound when the tenant is unknown here."""
        ...

    async def customer_facts(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> CustomerFacts: ...

    async def customers_facts(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, CustomerFacts]: ...

    async def tier_of(self, program: Program, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> Tier: ...

    async def earn_for_order(
        self, context: TenantProgram, order: PaidOrder, tier: Tier, *, birthday: bool
    ) -> int: ...

    async def record_order(self, program: Program, tenant_id: uuid.UUID, order: PaidOrder) -> None: ...

    async def reverse_for_refund(self, context: TenantProgram, refund: Refund) -> RefundOutcome: ...

    async def record_refund(
        self, program: Program, tenant_id: uuid.UUID, customer_id: uuid.UUID, refund: Refund
    ) -> None: ...

    async def sign_in(
        self, context: TenantProgram, customer_id: uuid.UUID, moment: datetime
    ) -> SignInResult: ...

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
    ) -> int: ...

    async def record_review(
        self, program: Program, tenant_id: uuid.UUID, customer_id: uuid.UUID, occurred_at: datetime
    ) -> None: ...

    async def record_birthdays(
        self, tenant_id: uuid.UUID, birthdays: dict[uuid.UUID, str | None]
    ) -> None: ...

    async def merge_customers(
        self, tenant_id: uuid.UUID, survivor_id: uuid.UUID, merged_ids: list[uuid.UUID], merged_at: datetime
    ) -> None: ...

    async def erase_customer(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        erased_at: datetime,
        merged_ids: Sequence[uuid.UUID],
    ) -> None: ...


class EventEffects:
    """The effects of profile's events, with profile asked for birthdays through ``customers``."""

    def __init__(self, customers: Birthdays, *, after_earn: AfterEarn | None = None) -> None:
        self._customers = customers
        self._after_earn = after_earn

    @staticmethod
    async def _context(work: EventWork, header: EventHeader) -> TenantProgram | None:
        try:
            return await work.tenant_program(header.tenant_id)
        except NotFound:
            logger.warning(
                "skipping %s %s: tenant %s is unknown here", header.type, header.event_id, header.tenant_id
            )
            return None

    async def orders_paid(self, work: EventWork, orders: Sequence[OrderPaid]) -> None:
        """A run of order.paid, in order, with the programme read once per tenant and the
        customers' facts in one statement per tenant (a run of one is a single order.paid)."""
        contexts: dict[uuid.UUID, TenantProgram | None] = {}
        facts: dict[uuid.UUID, dict[uuid.UUID, CustomerFacts]] = {}
        for order in orders:
            if order.header.tenant_id not in contexts:
                contexts[order.header.tenant_id] = await self._context(work, order.header)
        for tenant, context in contexts.items():
            if context is not None:
                ids = [_customer(o.header) for o in orders if o.header.tenant_id == tenant]
                facts[tenant] = await work.customers_facts(tenant, ids)
        for order in orders:
            context = contexts[order.header.tenant_id]
            if context is not None:
                customer = facts[order.header.tenant_id][_customer(order.header)]
                await self._earn_order(work, context, customer, order)

    async def _earn_order(
        self, work: EventWork, context: TenantProgram, facts: CustomerFacts, event: OrderPaid
    ) -> None:
        tenant_id = context.tenant.tenant_id
        tier = await work.tier_of(context.program, tenant_id, facts.survivor_id)
        order = PaidOrder(
            event.order_id, facts.survivor_id, event.amount_minor, event.currency, event.paid_at
        )
        birthday = is_birthday(facts.birthday, local_date(event.paid_at, context.tenant.timezone))
        await work.earn_for_order(context, order, tier, birthday=birthday)
        if self._after_earn is not None:
            self._after_earn()
        await work.record_order(context.program, tenant_id, order)

    async def order_refunded(self, work: EventWork, header: EventHeader, refund: Refund) -> None:
        """Take back the refund's share of the order's points, then its tier progress."""
        context = await self._context(work, header)
        if context is None:
            return
        outcome = await work.reverse_for_refund(context, refund)
        tenant_id = context.tenant.tenant_id
        customer_id = outcome.customer_id
        if customer_id is None:
            customer_id = (await work.customer_facts(tenant_id, _customer(header))).survivor_id
        await work.record_refund(context.program, tenant_id, customer_id, refund)

    async def event_recorded(self, work: EventWork, header: EventHeader, kind: str) -> None:
        """A sign-in, review or share earns (within the day's caps); other kinds change nothing."""
        if kind not in EARNING_KINDS or header.customer_id is None:
            return
        context = await self._context(work, header)
        if context is None:
            return
        tenant_id = context.tenant.tenant_id
        customer_id = (await work.customer_facts(tenant_id, header.customer_id)).survivor_id
        if kind == "sign_in":
            await work.sign_in(context, customer_id, header.occurred_at)
            return
        earn = context.program.earn
        points, cap = (
            (earn.review_points, earn.daily_caps.review)
            if kind == "review"
            else (earn.share_points, earn.daily_caps.share)
        )
        await work.earn_capped(
            context,
            customer_id=customer_id,
            kind=kind,
            points=points,
            cap=cap,
            event_id=header.event_id,
            occurred_at=header.occurred_at,
        )
        if kind == "review":
            await work.record_review(context.program, tenant_id, customer_id, header.occurred_at)

    async def customers_created(
        self,
        work: EventWork,
        headers: Sequence[EventHeader],
        carried: Mapping[uuid.UUID, str | None] | None = None,
    ) -> None:
        """A run of customer.created: remembered with their birthdays in one statement per tenant.

        ``carried`` holds the birthdays (``MM-DD`` or None) that the events themselves carry (their
        segment attributes, read back from profile's row); only the others are asked of profile,
        concurrently, and not at all while the tenant's programme has no birthday multiplier. Asking
        cost profile a GetCustomer call per sign-up."""
        by_tenant: dict[uuid.UUID, list[EventHeader]] = {}
        for header in headers:
            by_tenant.setdefault(header.tenant_id, []).append(header)
        known = carried or {}
        for run in by_tenant.values():
            context = await self._context(work, run[0])
            if context is None:
                continue
            ids = list(dict.fromkeys(_customer(h) for h in run))
            asked = await self._birthdays(context, [c for c in ids if c not in known])
            given = {c: known[c] for c in ids if c in known}
            await work.record_birthdays(context.tenant.tenant_id, {**asked, **given})

    async def _birthdays(
        self, context: TenantProgram, customer_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, str | None]:
        if context.program.earn.birthday_multiplier_percent == 100:
            return dict.fromkeys(customer_ids)
        in_flight = asyncio.Semaphore(BIRTHDAY_LOOKUPS_IN_FLIGHT)
        tenant_id = context.tenant.tenant_id

        async def one(customer_id: uuid.UUID) -> str | None:
            async with in_flight:
                return await self._customers.birthday_of(tenant_id, customer_id)

        found = await asyncio.gather(*(one(c) for c in customer_ids))
        return dict(zip(customer_ids, found, strict=True))

    async def customer_updated(
        self,
        work: EventWork,
        header: EventHeader,
        changed: Sequence[str],
        carried: tuple[str | None] | None = None,
    ) -> None:
        """A changed birthday is kept (month and day only): the one the event carries (``carried``,
        a 1-tuple of ``MM-DD`` or None), else the one profile answers."""
        if "birthday" not in changed:
            return
        if await self._context(work, header) is None:
            return
        customer_id = _customer(header)
        if carried is not None:
            birthday = carried[0]
        else:
            birthday = await self._customers.birthday_of(header.tenant_id, customer_id)
        await work.record_birthdays(header.tenant_id, {customer_id: birthday})

    async def customer_merged(
        self, work: EventWork, header: EventHeader, survivor_id: uuid.UUID, merged_ids: list[uuid.UUID]
    ) -> None:
        """Everything loyalty holds of the merged customers moves to the survivor."""
        await work.merge_customers(header.tenant_id, survivor_id, merged_ids, header.occurred_at)

    async def customer_erased(
        self, work: EventWork, header: EventHeader, erased_at: datetime, merged_ids: Sequence[uuid.UUID] = ()
    ) -> None:
        """What loyalty holds of the customer is anonymised; amounts stay for the liability. The free
        text of the customer's (and the ``merged_ids``') events goes too, and the erasure is recorded
        as done."""
        await work.erase_customer(header.tenant_id, _customer(header), erased_at, merged_ids)


def _customer(header: EventHeader) -> uuid.UUID:
    """The customer a customer's event is about (profile always names one)."""
    if header.customer_id is None:
        raise ValueError(f"{header.type} {header.event_id} names no customer")
    return header.customer_id
