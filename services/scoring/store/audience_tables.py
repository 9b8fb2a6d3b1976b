"""Tables of the audience projection: the facts a segment may test that scoring did not keep before.

Kept exactly once by scoring's consumers, like every other fact, and rebuildable by replaying the
streams from the start:
- the customer attributes a segment may use live on ``customers`` (``tables.py``): gender,
  province, city, birthday, registered_at, timezone, registration_channel, device — never a
  nickname or a contact;
- ``audience_tags`` from profile's ``tag.changed`` (one row per held tag, with its expiry);
- ``audience_consents`` from profile's ``consent.changed`` (absent row: never recorded);
- ``audience_loyalty`` from loyalty's ``tier.changed`` and ``points.changed``;
- ``behaviour_events`` from profile's ``event.recorded``: every event with its exact time and
  properties, kept for ``BEHAVIOUR_RETENTION_DAYS`` (the longest event window a segment may ask);
- refund reasons on ``order_refunds.reason`` (``feature_tables.py``).

Merges move every row to the survivor; erasure deletes the customer's rows. Every key starts with
``tenant_id``.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.scoring.store.tables import metadata

_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)

# The longest window an event condition may use; older behaviour events are pruned.
BEHAVIOUR_RETENTION_DAYS = 400

audience_tags = sa.Table(
    "audience_tags",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("tag_id", _UUID, primary_key=True),
    sa.Column("expires_at", _TS),  # None: never expires
    # the holders of some tags, index-only (docs/segments.md "Preview")
    sa.Index("audience_tags_by_tag", "tenant_id", "tag_id", "customer_id", postgresql_include=["expires_at"]),
)

audience_consents = sa.Table(
    "audience_consents",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("channel", sa.Text, primary_key=True),
    sa.Column("purpose", sa.Text, primary_key=True),
    sa.Column("granted", sa.Boolean, nullable=False),
    sa.Column("changed_at", _TS, nullable=False),
)

audience_loyalty = sa.Table(
    "audience_loyalty",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("tier", sa.Text),  # None until the first tier.changed
    sa.Column("points", sa.BigInteger),  # None until the first points.changed
    sa.Column("updated_at", _TS, nullable=False),
)

behaviour_events = sa.Table(
    "behaviour_events",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("event_id", sa.Text, primary_key=True),  # the client's event id, unique per tenant
    sa.Column("customer_id", _UUID, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("occurred_at", _TS, nullable=False),
    sa.Column("properties", pg.JSONB, nullable=False, server_default="{}"),
    # a window of one type, index-only: who did it when (docs/segments.md "Preview")
    sa.Index(
        "behaviour_events_by_type",
        "tenant_id",
        "event_type",
        "occurred_at",
        postgresql_include=["customer_id"],
    ),
    sa.Index("behaviour_events_by_customer", "tenant_id", "customer_id", "event_type", "occurred_at"),
)
