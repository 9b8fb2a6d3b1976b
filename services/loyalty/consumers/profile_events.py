"""The ``loyalty.events`` consumer of profile's stream: each envelope decoded and handed, with the
consumer's transaction, to ``services.loyalty.domain.event_effects`` (which says what each event
does to loyalty). Runs of order.paid and customer.created go through batch handlers.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2, profile_events_pb2
from services.loyalty.domain.customers import Birthdays
from services.loyalty.domain.earning import Refund
from services.loyalty.domain.event_effects import (
    EARNING_KINDS,
    AfterEarn,
    EventEffects,
    EventHeader,
    OrderPaid,
)
from services.loyalty.store.event_work import SqlEventWork
from services.runtime.events.consumer import BatchHandler, ConsumerSpec, Handler
from services.runtime.events.outbox import Outbox
from services.runtime.proto_convert import from_timestamp

CONSUMER_NAME = "loyalty.events"


def header_of(envelope: envelope_pb2.EventEnvelope) -> EventHeader:
    """What every envelope says, as the domain reads it (an empty customer id is none)."""
    return EventHeader(
        event_id=envelope.event_id,
        type=envelope.type,
        tenant_id=uuid.UUID(envelope.tenant_id),
        customer_id=uuid.UUID(envelope.customer_id) if envelope.customer_id else None,
        occurred_at=from_timestamp(envelope.occurred_at),
    )


def order_paid_of(envelope: envelope_pb2.EventEnvelope) -> OrderPaid:
    payload = envelope.order_paid
    return OrderPaid(
        header_of(envelope),
        payload.order_id,
        payload.amount_minor,
        payload.currency,
        from_timestamp(payload.paid_at),
    )


class LoyaltyHandlers:
    """The consumer's handlers, bound to the loyalty outbox and where birthdays are asked."""

    def __init__(self, outbox: Outbox, birthdays: Birthdays, *, after_earn: AfterEarn | None = None) -> None:
        self._outbox = outbox
        self._effects = EventEffects(birthdays, after_earn=after_earn)

    def _work(self, connection: AsyncConnection) -> SqlEventWork:
        return SqlEventWork(connection, self._outbox)

    async def order_paid(self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        await self._effects.orders_paid(self._work(connection), [order_paid_of(envelope)])

    async def orders_paid(
        self, connection: AsyncConnection, envelopes: Sequence[envelope_pb2.EventEnvelope]
    ) -> None:
        await self._effects.orders_paid(self._work(connection), [order_paid_of(e) for e in envelopes])

    async def order_refunded(self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        payload = envelope.order_refunded
        refund = Refund(
            payload.order_id,
            payload.refund_id,
            payload.amount_minor,
            payload.fully_refunded,
            from_timestamp(payload.refunded_at),
        )
        await self._effects.order_refunded(self._work(connection), header_of(envelope), refund)

    async def event_recorded(self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        await self._effects.event_recorded(
            self._work(connection), header_of(envelope), envelope.event_recorded.event_type
        )

    async def events_recorded(
        self, connection: AsyncConnection, envelopes: Sequence[envelope_pb2.EventEnvelope]
    ) -> None:
        """A run of behaviour events, as :meth:`event_recorded` one by one; only the kinds that earn
        are looked at (under ingest almost every event is a view or a search, which change nothing)."""
        for envelope in envelopes:
            if envelope.event_recorded.event_type in EARNING_KINDS:
                await self.event_recorded(connection, envelope)

    async def customer_created(
        self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope
    ) -> None:
        await self.customers_created(connection, [envelope])

    async def customers_created(
        self, connection: AsyncConnection, envelopes: Sequence[envelope_pb2.EventEnvelope]
    ) -> None:
        carried = {
            uuid.UUID(e.customer_id): month_day(e.customer_created.attributes)
            for e in envelopes
            if e.customer_created.HasField("attributes")
        }
        await self._effects.customers_created(
            self._work(connection), [header_of(e) for e in envelopes], carried
        )

    async def customer_updated(
        self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope
    ) -> None:
        payload = envelope.customer_updated
        carried = (month_day(payload.attributes),) if payload.HasField("attributes") else None
        await self._effects.customer_updated(
            self._work(connection), header_of(envelope), payload.changed_attributes, carried
        )

    async def customer_merged(
        self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope
    ) -> None:
        payload = envelope.customer_merged
        await self._effects.customer_merged(
            self._work(connection),
            header_of(envelope),
            uuid.UUID(payload.survivor_id),
            [uuid.UUID(m) for m in payload.merged_ids],
        )

    async def customer_erased(
        self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope
    ) -> None:
        payload = envelope.customer_erased
        await self._effects.customer_erased(
            self._work(connection),
            header_of(envelope),
            from_timestamp(payload.erased_at),
            [uuid.UUID(m) for m in payload.merged_ids],
        )

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
        return {
            "order.paid": self.orders_paid,
            "customer.created": self.customers_created,
            "event.recorded": self.events_recorded,
        }


def month_day(attributes: profile_events_pb2.SegmentAttributes) -> str | None:
    """The ``MM-DD`` of the birthday a customer event's segment attributes carry (ISO
    ``YYYY-MM-DD``), or None when it carries none."""
    birthday = attributes.birthday if attributes.HasField("birthday") else ""
    return birthday[5:10] or None


def loyalty_consumer(
    outbox: Outbox, birthdays: Birthdays, lease_seconds: float, *, after_earn: AfterEarn | None = None
) -> ConsumerSpec:
    """The ``loyalty.events`` consumer spec; ``after_earn`` is a test's injected fault (or None)."""
    handlers = LoyaltyHandlers(outbox, birthdays, after_earn=after_earn)
    return ConsumerSpec(
        name=CONSUMER_NAME,
        producer="profile",
        handlers=handlers.handlers(),
        batch_handlers=handlers.batch_handlers(),
        lease_seconds=lease_seconds,
    )
