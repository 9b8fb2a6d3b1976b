"""Scoring's consumer of profile's stream: customers, orders, refunds, behaviour, tags and consents.

The handlers live with their SQL in ``store.projection`` (customer.*), ``store.fact_projection``
(orders and behaviour) and ``store.audience_projection`` (tags and consents), the last two written a
run of events at a time; each runs in the consumer's transaction,
which also moves the stream position, so an event counts exactly once.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2
from services.runtime.events.consumer import AfterApply, BatchHandler, ConsumerSpec, Handler
from services.runtime.events.outbox import Outbox
from services.scoring.store import rescore_marks
from services.scoring.store.audience_projection import AudienceProjection
from services.scoring.store.fact_projection import FactProjection
from services.scoring.store.projection import CustomerProjection

CONSUMER_NAME = "scoring.customers"


def one_at_a_time(batch: BatchHandler) -> Handler:
    """A batch handler as the handler of a single event (a run of one)."""

    async def handle(connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        await batch(connection, [envelope])

    return handle


def scoring_consumer(
    lease_seconds: float, outbox: Outbox, after_apply: AfterApply | None = None
) -> ConsumerSpec:
    """The consumer of profile's events; ``outbox`` announces the stage changes re-scoring finds;
    ``after_apply`` keeps segment membership live in each batch's transaction."""
    people = CustomerProjection(outbox)
    facts = FactProjection(outbox)
    audience = AudienceProjection()
    batches: dict[str, BatchHandler] = {
        "customer.created": people.created_many,
        "order.paid": facts.orders_paid,
        "order.refunded": facts.orders_refunded,
        "event.recorded": facts.events_recorded,
        "tag.changed": audience.tags_changed,
        "consent.changed": audience.consents_changed,
    }
    handlers: dict[str, Handler] = {
        "customer.updated": people.updated,
        "customer.merged": people.merged,
        "customer.erased": people.erased,
        **{event_type: one_at_a_time(batch) for event_type, batch in batches.items()},
    }
    return ConsumerSpec(
        name=CONSUMER_NAME,
        producer="profile",
        handlers=handlers,
        batch_handlers=batches,
        lease_seconds=lease_seconds,
        after_apply=after_apply,
        deferred=("re-scoring", rescore_marks.pending),
    )
