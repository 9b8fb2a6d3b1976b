"""Journey triggers from the event backbone, each applied in the consumer's transaction.

Profile's events reach journeys through notify's ``notify.events`` consumer (behaviour events, paid
orders with goals and "first", refunds with their reason, the attributes birthdays need, merges and
erasures); scoring's ``segment.entered`` and loyalty's ``tier.changed`` come through consumers of
their own. An entry commits with the consumer's position, so an event enters a customer once, and the
runner is woken to take the new instances at once.

Loyalty's consumer also keeps ``coupon.redeemed``'s discounts for campaigns' reports
(``store/campaign_attribution.py``), likewise in the transaction that moves its position.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2
from services.notify.store import campaign_attribution, journey_facts
from services.notify.store.journey_entry import EntryCandidate, enter, triggered
from services.runtime.database import after_commit
from services.runtime.events.consumer import ConsumerSpec
from services.runtime.proto_convert import from_timestamp

SCORING_CONSUMER = "notify.journeys.scoring"
LOYALTY_CONSUMER = "notify.journeys.loyalty"
MAX_DATA_PROPERTIES = 20
"""Event properties an instance keeps for its templates (``data.<key>``); the rest are dropped."""


def _ids(envelope: envelope_pb2.EventEnvelope) -> tuple[uuid.UUID, uuid.UUID]:
    return uuid.UUID(envelope.tenant_id), uuid.UUID(envelope.customer_id)


def _matches_where(trigger: dict[str, Any], properties: dict[str, Any]) -> bool:
    where = trigger.get("where") or {}
    return all(properties.get(key) == value for key, value in where.items())


def _event_properties(envelope: envelope_pb2.EventEnvelope) -> tuple[dict[str, Any], dict[str, Any]]:
    """A behaviour event's properties (for trigger filters) and the data an instance it starts
    keeps: the first scalar properties and the event type."""
    payload = envelope.event_recorded
    try:
        properties = json.loads(payload.properties_json or "{}")
    except ValueError:
        properties = {}
    if not isinstance(properties, dict):
        properties = {}
    data = {
        key: value
        for key, value in list(properties.items())[:MAX_DATA_PROPERTIES]
        if isinstance(value, str | int | float | bool)
    }
    return properties, {**data, "event_type": payload.event_type}


def _attribute_facts(
    envelope: envelope_pb2.EventEnvelope,
) -> tuple[uuid.UUID, uuid.UUID, str | None, str | None]:
    """The customer and the birthday and time zone a created, updated or merged customer carries."""
    tenant_id, customer_id = _ids(envelope)
    kind = envelope.WhichOneof("payload")
    if kind == "customer_created":
        attributes = envelope.customer_created.attributes
    elif kind == "customer_updated":
        attributes = envelope.customer_updated.attributes
    else:
        attributes = envelope.customer_merged.survivor_attributes
    birthday = attributes.birthday if attributes.HasField("birthday") else None
    zone = attributes.timezone if attributes.HasField("timezone") else None
    return tenant_id, customer_id, birthday, zone


class JourneyTriggers:
    """Enters customers into the journeys an event starts; ``clock`` is the journeys' time."""

    def __init__(self, clock: Callable[[], datetime], on_entered: Callable[[], None]) -> None:
        self._clock = clock
        self._on_entered = on_entered

    def _wake_after(self, connection: AsyncConnection) -> None:
        """Wake the runner once the consumer's transaction commits: woken before, its round would
        not see the new instances yet and it would sleep its idle time with them due."""
        after_commit(connection, "journeys-entered", self._on_entered)

    async def _start(
        self,
        connection: AsyncConnection,
        envelope: envelope_pb2.EventEnvelope,
        kind: str,
        keys: Sequence[str],
        data: dict[str, Any],
        accept: Callable[[dict[str, Any]], bool] = lambda _: True,
    ) -> int:
        tenant_id, customer_id = _ids(envelope)
        journeys = [j for j in await triggered(connection, tenant_id, kind, keys) if accept(j.trigger)]
        if not journeys:
            return 0
        at = from_timestamp(envelope.occurred_at)
        candidates = [
            EntryCandidate(tenant_id, j.journey_id, j.version, customer_id, envelope.event_id, at, data)
            for j in journeys
        ]
        entered = await enter(connection, candidates, self._clock())
        if entered:
            self._wake_after(connection)
        return entered

    async def event_recorded(self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        """A behaviour event starts the journeys of its type whose property filters it meets."""
        await self.events_recorded(connection, [envelope])

    async def events_recorded(
        self, connection: AsyncConnection, envelopes: Sequence[envelope_pb2.EventEnvelope]
    ) -> None:
        """:meth:`event_recorded` of a run of events: the journeys they may start are looked up once
        per tenant for all the run's event types, and the entries made in one statement (``enter``
        considers the first candidate per journey and customer, as the events one by one would
        find the first's instance live). A batch of ingested behaviour cost two statements per
        event before."""
        by_tenant: dict[uuid.UUID, list[envelope_pb2.EventEnvelope]] = {}
        for envelope in envelopes:
            by_tenant.setdefault(uuid.UUID(envelope.tenant_id), []).append(envelope)
        candidates: list[EntryCandidate] = []
        for tenant_id, run in by_tenant.items():
            types = sorted({e.event_recorded.event_type for e in run})
            journeys = await triggered(connection, tenant_id, "event", types)
            for envelope in run if journeys else ():
                event_type = envelope.event_recorded.event_type
                properties, data = _event_properties(envelope)
                at = from_timestamp(envelope.occurred_at)
                candidates.extend(
                    EntryCandidate(
                        tenant_id,
                        j.journey_id,
                        j.version,
                        uuid.UUID(envelope.customer_id),
                        envelope.event_id,
                        at,
                        data,
                    )
                    for j in journeys
                    if j.key == event_type and _matches_where(j.trigger, properties)
                )
        if candidates and await enter(connection, candidates, self._clock()):
            self._wake_after(connection)

    async def order_paid(self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        """Goals first (an order ends the journeys it converts), then the order's own triggers."""
        tenant_id, customer_id = _ids(envelope)
        payload = envelope.order_paid
        paid_at = from_timestamp(payload.paid_at)
        first = await journey_facts.record_order(
            connection, tenant_id, customer_id, payload.order_id, paid_at
        )
        await journey_facts.reach_goals(
            connection, tenant_id, customer_id, payload.order_id, payload.amount_minor, paid_at, self._clock()
        )
        data = {
            "order_id": payload.order_id,
            "amount_minor": payload.amount_minor,
            "currency": payload.currency,
        }
        await self._start(connection, envelope, "order", ["any", "first"] if first else ["any"], data)

    async def order_refunded(self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        """A refund starts the journeys for any refund and those for its reason (e.g. 尺寸不符)."""
        payload = envelope.order_refunded
        keys = ["", payload.reason] if payload.reason else [""]
        data = {
            "order_id": payload.order_id,
            "refund_id": payload.refund_id,
            "reason": payload.reason,
            "amount_minor": payload.amount_minor,
        }
        await self._start(connection, envelope, "refund", keys, data)

    async def attributes(self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        """Keep birthday and time zone from a created, updated or merged customer."""
        await journey_facts.record_attributes(connection, [_attribute_facts(envelope)])

    async def attributes_many(
        self, connection: AsyncConnection, envelopes: Sequence[envelope_pb2.EventEnvelope]
    ) -> None:
        """:meth:`attributes` of a run of created or updated customers in one statement (a burst of
        sign-ups was one statement and round trip per event)."""
        await journey_facts.record_attributes(connection, [_attribute_facts(e) for e in envelopes])

    async def customer_merged(
        self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope
    ) -> None:
        """The merged customers' instances follow the survivor (one live instance per journey)."""
        tenant_id, survivor_id = _ids(envelope)
        merged = [uuid.UUID(value) for value in envelope.customer_merged.merged_ids]
        await journey_facts.merge_instances(connection, tenant_id, survivor_id, merged, self._clock())
        await self.attributes(connection, envelope)

    async def customer_erased(
        self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope
    ) -> None:
        """An erased customer's journeys stop and what they kept of the customer goes."""
        tenant_id, customer_id = _ids(envelope)
        await journey_facts.erase_instances(connection, tenant_id, customer_id, self._clock())

    async def segment_entered(
        self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope
    ) -> None:
        payload = envelope.segment_entered
        await self._start(connection, envelope, "segment_entered", [payload.segment_id], {})

    async def tier_changed(self, connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        payload = envelope.tier_changed
        if payload.direction != "upgrade":
            return
        data = {"from_tier": payload.from_tier, "to_tier": payload.to_tier}
        await self._start(connection, envelope, "tier", ["upgraded"], data)


async def coupon_redeemed(connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
    """A coupon's discount on an order, kept for the report of the campaigns that reached the
    customer (its cost is charged to the recipient's group); a redemption without an order or a
    customer has nothing to attribute."""
    payload = envelope.coupon_redeemed
    if not payload.order_id or not envelope.customer_id:
        return
    tenant_id, customer_id = _ids(envelope)
    await campaign_attribution.record_coupon_discount(
        connection,
        tenant_id,
        customer_id,
        payload.order_id,
        payload.coupon_code,
        payload.discount_minor,
        from_timestamp(payload.redeemed_at),
    )


def journey_consumers(triggers: JourneyTriggers, lease_seconds: float) -> list[ConsumerSpec]:
    """The consumers of scoring's and loyalty's events that start journeys (and keep coupon costs)."""
    return [
        ConsumerSpec(
            name=SCORING_CONSUMER,
            producer="scoring",
            handlers={"segment.entered": triggers.segment_entered},
            lease_seconds=lease_seconds,
        ),
        ConsumerSpec(
            name=LOYALTY_CONSUMER,
            producer="loyalty",
            handlers={"tier.changed": triggers.tier_changed, "coupon.redeemed": coupon_redeemed},
            lease_seconds=lease_seconds,
        ),
    ]
