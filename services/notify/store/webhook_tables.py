"""Tables of the merchant's webhooks (docs/notify-webhooks.md).

- ``webhooks``: one row per endpoint — its URL, the event types it takes, its signing secret sealed
  (AES-GCM, ``store/sealing.py``, bound to the row; never returned after creation), whether it is
  enabled, and ``exhausted_in_a_row``: deliveries that used up every retry since the last success
  (the disabling rule of ``domain/webhooks.py``).
- ``webhook_deliveries``: one row per (webhook, event) — the exact JSON body signed on every attempt,
  its state (``pending`` until ``delivered``, ``failed`` when the retries ran out, ``cancelled`` when
  the webhook was disabled), and when it is next due (``next_attempt_at``, also the worker's lease).
- ``webhook_attempts``: the delivery log, one row per HTTP attempt with its status code or error and
  its duration.

Every key starts with ``tenant_id``; deliveries and attempts go with their webhook (ON DELETE CASCADE).
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.notify.store.tables import metadata

_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("webhook_id", _UUID, primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("disabled_reason", sa.Text),
    sa.Column("disabled_at", _TS),
    sa.Column("exhausted_in_a_row", sa.Integer, nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("delivery_id", _UUID, primary_key=True),
    sa.Column("webhook_id", _UUID, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", _TS),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("finished_at", _TS),
    sa.ForeignKeyConstraint(
        ["tenant_id", "webhook_id"], ["webhooks.tenant_id", "webhooks.webhook_id"], ondelete="CASCADE"
    ),
    sa.UniqueConstraint("tenant_id", "webhook_id", "event_id", name="uq_webhook_deliveries_event"),
    sa.CheckConstraint(
        "status IN ('pending', 'delivered', 'failed', 'cancelled')", name="ck_webhook_deliveries_status"
    ),
    sa.Index("webhook_deliveries_due", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")),
    sa.Index("webhook_deliveries_log", "tenant_id", "webhook_id", "created_at", "delivery_id"),
    sa.Index(
        "webhook_deliveries_finished", "finished_at", postgresql_where=sa.text("finished_at IS NOT NULL")
    ),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("delivery_id", _UUID, primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("attempted_at", _TS, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.ForeignKeyConstraint(
        ["tenant_id", "delivery_id"],
        ["webhook_deliveries.tenant_id", "webhook_deliveries.delivery_id"],
        ondelete="CASCADE",
    ),
)
