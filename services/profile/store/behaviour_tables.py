"""Tables of the profile service's behaviour capability (declared on the shared metadata).

``behaviour_events`` holds each event once per ``(tenant_id, event_id)``: the key is what makes a
re-sent event a duplicate. ``customer_id`` is a live customer when the event is stored (the insert
holds the customer's row FOR KEY SHARE; merged-away ids are stored against the survivor); a merge
re-points the events and an erasure deletes them (``services.profile.store.behaviour``). There is
no foreign key to ``customers``: customers are never deleted (an erasure keeps the tombstone row),
and the key check on every inserted row cost about a third of the insert at 1,000 events a batch.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.profile.store.tables import metadata

behaviour_events = sa.Table(
    "behaviour_events",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("occurred_at", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("received_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("properties", pg.JSONB, nullable=False, server_default="{}"),
    sa.CheckConstraint("char_length(event_id) BETWEEN 1 AND 128", name="ck_behaviour_events_event_id_length"),
    # A customer's events newest first (timeline, listings); merges and erasure find them by it too.
    sa.Index("ix_behaviour_events_customer_time", "tenant_id", "customer_id", "occurred_at", "event_id"),
)
