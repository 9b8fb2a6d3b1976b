"""Scoring's consumer of loyalty's stream: the tier and points a segment may test.

The handlers live with their SQL in ``store.loyalty_projection`` and take a run of events at a time;
each runs in the consumer's transaction with the stream position, so an event counts exactly once.
Merges and erasure reach ``audience_loyalty`` from profile's stream (``store.audience_moves``).
Scoring may start before loyalty: the runner reconnects with backoff until the stream answers.
"""

from __future__ import annotations

from services.runtime.events.consumer import AfterApply, BatchHandler, ConsumerSpec
from services.scoring.consumers.profile_events import one_at_a_time
from services.scoring.store.loyalty_projection import LoyaltyProjection

CONSUMER_NAME = "scoring.loyalty"


def loyalty_consumer(lease_seconds: float, after_apply: AfterApply | None = None) -> ConsumerSpec:
    """The consumer of loyalty's points.changed and tier.changed (``after_apply``: live membership)."""
    loyalty = LoyaltyProjection()
    batches: dict[str, BatchHandler] = {
        "points.changed": loyalty.points_changed,
        "tier.changed": loyalty.tiers_changed,
    }
    return ConsumerSpec(
        name=CONSUMER_NAME,
        producer="loyalty",
        handlers={event_type: one_at_a_time(batch) for event_type, batch in batches.items()},
        batch_handlers=batches,
        lease_seconds=lease_seconds,
        after_apply=after_apply,
    )
