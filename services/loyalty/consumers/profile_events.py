"""The ``loyalty.events`` consumer of profile's stream: points and tier progress from what happens.

Every handler runs in the consumer's transaction, the one that also moves the stream position, so
each event's effects happen exactly once however often it is delivered; the ledger's idempotency
keys (per order, refund, event) are a second line. Handlers read the programme current when the
event is applied and record its version on what they book.

- order.paid: earn under the tier held *before* the order, then tier progress (membership).
- order.refunded: take back in proportion (debt for what was spent), then progress goes down.
- event.recorded review / share / sign_in: earn within the day's caps; sign_in shares the REST
  path's once-a-day rule; a review also adds growth value.
- customer.created / updated: the projection (and the birthday month-day, asked of profile only
  while the tenant's programme has a birthday multiplier; a run of creations asks concurrently).

Runs of order.paid and customer.created have batch handlers: the programme is read once per tenant
of the run and the customers' facts in one statement; each order then costs its claim, one
ledger statement and the tier progress.
- customer.merged: accounts, lots, history, tiers and coupons move to the survivor.
- customer.erased: what loyalty holds is anonymised; amounts stay for the liability.

An event of a tenant this service was never told of is skipped with a warning: tenants are
provisioned before their first API key exists, so only a foreign stream could carry one.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2
from services.loyalty.domain.earning import is_birthday
from services.loyalty.domain.expiry import local_date
from services.loyalty.store import membership
from services.loyalty.store.accounts import erase_account, merge_accounts
from services.loyalty.store.customer_directory import (
    CustomerDirectory,
    CustomerFacts,
    customer_facts,
    customer_facts_many,
    record_birthday,
    record_birthdays,
    record_erasure,
    record_merge,
)
from services.loyalty.store.earning import PaidOrder, Refund, earn_capped, earn_for_order, reverse_for_refund
from services.loyalty.store.programs import TenantProgram, tenant_program
from services.loyalty.store.sign_ins import sign_in
from services.runtime.errors import NotFound
from services.runtime.events.consumer import BatchHandler, ConsumerSpec, Handler
from services.runtime.events.outbox import Outbox
from services.runtime.proto_convert import from_timestamp

logger = logging.getLogger(__name__)

CONSUMER_NAME = "loyalty.events"
CAPPED_EVENTS = ("review", "share")
# Profile calls in flight at once while a run of customer.created asks for birthdays.
BIRTHDAY_LOOKUPS_IN_FLIGHT = 16


# Called right after an order's points are written, before the consumer's transaction commits:
# where a test injects a fault (``services.loyalty.fault_injection``); production passes none.
AfterEarn = Callable[[], None]


class LoyaltyHandlers:
    """The consumer's handlers, bound to the loyalty outbox and the profile client."""

    def __init__(
        self, outbox: Outbox, directory: CustomerDirectory, *, after_earn: AfterEarn | None = None
    ) -> None:
        self._outbox = outbox
        self._directory = directory
        self._after_earn = after_earn

    @staticmethod
    async def _context(
        connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope
    ) -> TenantProgram | None:
        try:
            return await tenant_program(connection, uuid.UUID(envelope.tenant_id))
        except NotFound:
            logger.warning(
                "skipping %s %s: tenant %s is unknown here",
                envelope.type,
                envelope.event_id,
                envelope.tenant_id,
            )
            return None

    async def order_paid(self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        context = await self._context(connection, envelope)
        if context is None:
            return
        facts = await customer_facts(connection, context.tenant.tenant_id, uuid.UUID(envelope.customer_id))
        await self._earn_order(connection, context, facts, envelope)

    async def orders_paid(
        self, connection: AsyncConnection, envelopes: Sequence[envelope_pb2.EventEnvelope]
    ) -> None:
        """A run of order.paid: the same effect as :meth:`order_paid` on each, in order, with the
        programme read once per tenant and the customers' facts in one statement per tenant."""
        contexts: dict[str, TenantProgram | None] = {}
        facts: dict[str, dict[uuid.UUID, CustomerFacts]] = {}
        for envelope in envelopes:
            if envelope.tenant_id not in contexts:
                contexts[envelope.tenant_id] = await self._context(connection, envelope)
        for tenant, context in contexts.items():
            if context is not None:
                ids = [uuid.UUID(e.customer_id) for e in envelopes if e.tenant_id == tenant]
                facts[tenant] = await customer_facts_many(connection, context.tenant.tenant_id, ids)
        for envelope in envelopes:
            context = contexts[envelope.tenant_id]
            if context is not None:
                customer = facts[envelope.tenant_id][uuid.UUID(envelope.customer_id)]
                await self._earn_order(connection, context, customer, envelope)

    async def _earn_order(
        self,
        connection: AsyncConnection,
        context: TenantProgram,
        facts: CustomerFacts,
        envelope: envelope_pb2.EventEnvelope,
    ) -> None:
        tenant_id = context.tenant.tenant_id
        payload = envelope.order_paid
        customer_id = facts.survivor_id
        paid_at = from_timestamp(payload.paid_at)
        tier = await membership.tier_of(
            connection, context.program, tenant_id=tenant_id, customer_id=customer_id
        )
        order = PaidOrder(payload.order_id, customer_id, payload.amount_minor, payload.currency, paid_at)
        birthday = is_birthday(facts.birthday, local_date(paid_at, context.tenant.timezone))
        await earn_for_order(connection, self._outbox, context, order, tier, birthday=birthday)
        if self._after_earn is not None:
            self._after_earn()
        await membership.record_order(
            connection,
            self._outbox,
            context.program,
            tenant_id=tenant_id,
            customer_id=customer_id,
            order_id=payload.order_id,
            paid_at=paid_at,
            amount_minor=payload.amount_minor,
        )

    async def order_refunded(self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        context = await self._context(connection, envelope)
        if context is None:
            return
        payload = envelope.order_refunded
        refunded_at = from_timestamp(payload.refunded_at)
        refund = Refund(
            payload.order_id, payload.refund_id, payload.amount_minor, payload.fully_refunded, refunded_at
        )
        outcome = await reverse_for_refund(connection, self._outbox, context, refund)
        tenant_id = context.tenant.tenant_id
        customer_id = outcome.customer_id
        if customer_id is None:
            customer_id = (
                await customer_facts(connection, tenant_id, uuid.UUID(envelope.customer_id))
            ).survivor_id
        await membership.record_refund(
            connection,
            self._outbox,
            context.program,
            tenant_id=tenant_id,
            customer_id=customer_id,
            order_id=payload.order_id,
            refunded_minor=payload.amount_minor,
            refunded_at=refunded_at,
        )

    async def event_recorded(self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        kind = envelope.event_recorded.event_type
        if kind not in (*CAPPED_EVENTS, "sign_in") or not envelope.customer_id:
            return
        context = await self._context(connection, envelope)
        if context is None:
            return
        tenant_id = context.tenant.tenant_id
        customer_id = (
            await customer_facts(connection, tenant_id, uuid.UUID(envelope.customer_id))
        ).survivor_id
        occurred_at = from_timestamp(envelope.occurred_at)
        if kind == "sign_in":
            await sign_in(connection, self._outbox, context, customer_id, occurred_at)
            return
        earn = context.program.earn
        points, cap = (
            (earn.review_points, earn.daily_caps.review)
            if kind == "review"
            else (earn.share_points, earn.daily_caps.share)
        )
        await earn_capped(
            connection,
            self._outbox,
            context,
            customer_id=customer_id,
            kind=kind,
            points=points,
            cap=cap,
            event_id=envelope.event_id,
            occurred_at=occurred_at,
        )
        if kind == "review":
            await membership.record_review(
                connection,
                context.program,
                tenant_id=tenant_id,
                customer_id=customer_id,
                occurred_at=occurred_at,
                outbox=self._outbox,
            )

    async def customer_created(
        self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope
    ) -> None:
        await self.customers_created(connection, [envelope])

    async def customers_created(
        self, connection: AsyncConnection, envelopes: Sequence[envelope_pb2.EventEnvelope]
    ) -> None:
        """A run of customer.created: remembered with their birthdays in one statement per tenant,
        the birthdays asked of profile concurrently (and not at all while the tenant's programme
        has no birthday multiplier)."""
        by_tenant: dict[str, list[envelope_pb2.EventEnvelope]] = {}
        for envelope in envelopes:
            by_tenant.setdefault(envelope.tenant_id, []).append(envelope)
        for run in by_tenant.values():
            context = await self._context(connection, run[0])
            if context is None:
                continue
            tenant_id = context.tenant.tenant_id
            ids = list(dict.fromkeys(uuid.UUID(e.customer_id) for e in run))
            await record_birthdays(connection, tenant_id, await self._birthdays(context, ids))

    async def _birthdays(
        self, context: TenantProgram, customer_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, str | None]:
        if context.program.earn.birthday_multiplier_percent == 100:
            return dict.fromkeys(customer_ids)
        in_flight = asyncio.Semaphore(BIRTHDAY_LOOKUPS_IN_FLIGHT)
        tenant_id = context.tenant.tenant_id

        async def one(customer_id: uuid.UUID) -> str | None:
            async with in_flight:
                return await self._directory.birthday_of(tenant_id, customer_id)

        found = await asyncio.gather(*(one(c) for c in customer_ids))
        return dict(zip(customer_ids, found, strict=True))

    async def customer_updated(
        self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope
    ) -> None:
        if "birthday" not in envelope.customer_updated.changed_attributes:
            return
        if await self._context(connection, envelope) is None:
            return
        tenant_id, customer_id = uuid.UUID(envelope.tenant_id), uuid.UUID(envelope.customer_id)
        await record_birthday(
            connection, tenant_id, customer_id, await self._directory.birthday_of(tenant_id, customer_id)
        )

    async def customer_merged(
        self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope
    ) -> None:
        tenant_id = uuid.UUID(envelope.tenant_id)
        payload = envelope.customer_merged
        survivor = uuid.UUID(payload.survivor_id)
        merged = [uuid.UUID(m) for m in payload.merged_ids]
        await record_merge(connection, tenant_id, survivor, merged)
        await merge_accounts(connection, tenant_id, survivor, merged)
        await membership.merge_customers(
            connection,
            tenant_id=tenant_id,
            survivor_id=survivor,
            merged_ids=merged,
            outbox=self._outbox,
            merged_at=from_timestamp(envelope.occurred_at),
        )

    async def customer_erased(
        self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope
    ) -> None:
        tenant_id, customer_id = uuid.UUID(envelope.tenant_id), uuid.UUID(envelope.customer_id)
        await record_erasure(
            connection, tenant_id, customer_id, from_timestamp(envelope.customer_erased.erased_at)
        )
        await erase_account(connection, tenant_id, customer_id)
        await membership.erase_customer(connection, tenant_id=tenant_id, customer_id=customer_id)

    def handlers(self) -> dict[str, Handler]:
        return {
            "order.paid": self.order_paid,
            "order.refunded": self.order_refunded,
            "event.recorded": self.event_recorded,
            "customer.created": self.customer_created,
            "customer.updated": self.customer_updated,
            "customer.merged": self.customer_merged,
            "customer.erased": self.customer_erased,
        }

    def batch_handlers(self) -> dict[str, BatchHandler]:
        return {"order.paid": self.orders_paid, "customer.created": self.customers_created}


def loyalty_consumer(
    outbox: Outbox, directory: CustomerDirectory, lease_seconds: float, *, after_earn: AfterEarn | None = None
) -> ConsumerSpec:
    """The ``loyalty.events`` consumer spec; ``after_earn`` is a test's injected fault (or None)."""
    handlers = LoyaltyHandlers(outbox, directory, after_earn=after_earn)
    return ConsumerSpec(
        name=CONSUMER_NAME,
        producer="profile",
        handlers=handlers.handlers(),
        batch_handlers=handlers.batch_handlers(),
        lease_seconds=lease_seconds,
    )
