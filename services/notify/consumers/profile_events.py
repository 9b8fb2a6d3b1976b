"""The ``notify.events`` consumer of profile's stream: consents, erasures, merges and paid orders
(attribution), each applied in the consumer's transaction by ``store/customer_facts.py``; the paid
orders of campaigns' recipients (``store/campaign_attribution.py``); and what journeys take from it
(``consumers/journey_triggers.py``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2
from services.notify.consumers.journey_triggers import JourneyTriggers
from services.notify.store import campaign_attribution, customer_facts
from services.runtime.events.consumer import ConsumerSpec
from services.runtime.events.outbox import Outbox
from services.runtime.proto_convert import from_timestamp

CONSUMER_NAME = "notify.events"


def _ids(envelope: envelope_pb2.EventEnvelope) -> tuple[uuid.UUID, uuid.UUID]:
    return uuid.UUID(envelope.tenant_id), uuid.UUID(envelope.customer_id)


class NotifyHandlers:
    """Handlers bound to notify's outbox (erasure and attribution publish message events)."""

    def __init__(self, outbox: Outbox, journeys: JourneyTriggers) -> None:
        self._outbox = outbox
        self._journeys = journeys

    async def consent_changed(
        self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope
    ) -> None:
        tenant_id, customer_id = _ids(envelope)
        payload = envelope.consent_changed
        await customer_facts.record_consent(
            connection,
            tenant_id,
            customer_id,
            payload.channel,
            payload.purpose,
            payload.granted,
            from_timestamp(envelope.occurred_at),
        )

    async def customer_erased(
        self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope
    ) -> None:
        tenant_id, customer_id = _ids(envelope)
        at = from_timestamp(envelope.customer_erased.erased_at)
        merged = [uuid.UUID(m) for m in envelope.customer_erased.merged_ids]
        await customer_facts.erase_customer(connection, self._outbox, tenant_id, customer_id, at, merged)
        await self._journeys.customer_erased(connection, envelope)

    async def customer_merged(
        self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope
    ) -> None:
        tenant_id, survivor_id = _ids(envelope)
        merged = [uuid.UUID(value) for value in envelope.customer_merged.merged_ids]
        await customer_facts.merge_customers(connection, tenant_id, survivor_id, merged)
        await self._journeys.customer_merged(connection, envelope)

    async def order_paid(self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        tenant_id, customer_id = _ids(envelope)
        payload = envelope.order_paid
        await customer_facts.attribute_order(
            connection,
            self._outbox,
            tenant_id,
            customer_id,
            payload.order_id,
            payload.amount_minor,
            payload.currency,
            from_timestamp(payload.paid_at),
        )
        await campaign_attribution.record_campaign_order(
            connection,
            tenant_id,
            customer_id,
            payload.order_id,
            payload.amount_minor,
            payload.currency,
            from_timestamp(payload.paid_at),
        )
        await self._journeys.order_paid(connection, envelope)


def notify_consumer(outbox: Outbox, journeys: JourneyTriggers, lease_seconds: float) -> ConsumerSpec:
    """The spec of notify's consumer of profile's events."""
    handlers = NotifyHandlers(outbox, journeys)
    return ConsumerSpec(
        name=CONSUMER_NAME,
        producer="profile",
        handlers={
            "consent.changed": handlers.consent_changed,
            "customer.erased": handlers.customer_erased,
            "customer.merged": handlers.customer_merged,
            "order.paid": handlers.order_paid,
            "order.refunded": journeys.order_refunded,
            "event.recorded": journeys.event_recorded,
            "customer.created": journeys.attributes,
            "customer.updated": journeys.attributes,
        },
        batch_handlers={
            "event.recorded": journeys.events_recorded,
            "customer.created": journeys.attributes_many,
            "customer.updated": journeys.attributes_many,
        },
        lease_seconds=lease_seconds,
    )
