"""Tables of journeys (docs/journeys.md).

- ``journeys``: one row per journey — its name, its status (draft, active, paused, archived) and the
  version new instances start on.
- ``journey_versions``: every saved version of a journey's document, immutable once written; the
  trigger is kept apart (``trigger_kind``, ``trigger_key``) so that an event finds the journeys it
  starts by an index, not a scan of documents.
- ``journey_instances``: one customer's run through one version — where it stands (``cursor``, the path
  of the next step; NULL once it ended), when it is next due, the facts of its trigger and what its
  steps produced (``context``), and the worker's lease (``lease_token``, ``lease_until``). A trigger
  enters a customer at most once per ``entry_key`` (the triggering event, or the birthday's year).
- ``journey_entries``: per journey and customer, the last entry and the live instance: the re-entry
  policy is decided on this row, atomically, by the statement that inserts it.
- ``journey_steps``: one row per step an instance ran, with its outcome (and the message or coupon it
  produced) — written in the transaction that advances the instance, so a step can never run twice;
  the stats are counted from it.
- ``journey_customer_facts``: what triggers and checks need of a customer without a call to profile:
  birthday (month, day), time zone, first and last paid order.

Every key starts with ``tenant_id``.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.notify.store.tables import metadata

_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)

journeys = sa.Table(
    "journeys",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("journey_id", _UUID, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("from_template", sa.Text),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
)

journey_versions = sa.Table(
    "journey_versions",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("journey_id", _UUID, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("document", pg.JSONB, nullable=False),
    sa.Column("trigger_kind", sa.Text, nullable=False),
    sa.Column("trigger_key", sa.Text, nullable=False),
    sa.Column("has_goal", sa.Boolean, nullable=False),
    sa.Column("reentry", sa.Interval),
    sa.Column("created_at", _TS, nullable=False),
    sa.ForeignKeyConstraint(
        ["tenant_id", "journey_id"], ["journeys.tenant_id", "journeys.journey_id"], ondelete="CASCADE"
    ),
    sa.Index("journey_versions_by_trigger", "tenant_id", "trigger_kind", "trigger_key"),
)

journey_instances = sa.Table(
    "journey_instances",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("instance_id", _UUID, primary_key=True),
    sa.Column("journey_id", _UUID, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("customer_id", _UUID, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("cursor", sa.Text),
    sa.Column("due_at", _TS),
    sa.Column("entry_key", sa.Text, nullable=False),
    sa.Column("entered_at", _TS, nullable=False),
    sa.Column("trigger_at", _TS, nullable=False),
    sa.Column("context", pg.JSONB, nullable=False),
    sa.Column("lease_token", _UUID),
    sa.Column("lease_until", _TS),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("ended_at", _TS),
    sa.Column("end_reason", sa.Text),
    sa.Column("converted_order_id", sa.Text),
    sa.Column("revenue_minor", sa.BigInteger),
    sa.UniqueConstraint(
        "tenant_id", "journey_id", "customer_id", "entry_key", name="journey_instances_entry"
    ),
    sa.Index("journey_instances_due", "due_at", postgresql_where=sa.text("status = 'active'")),
    sa.Index("journey_instances_by_customer", "tenant_id", "customer_id"),
    sa.Index("journey_instances_by_journey", "tenant_id", "journey_id", "status"),
)

journey_entries = sa.Table(
    "journey_entries",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("journey_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("last_entered_at", _TS, nullable=False),
    sa.Column("live_instance_id", _UUID),
)

journey_steps = sa.Table(
    "journey_steps",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("instance_id", _UUID, primary_key=True),
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("journey_id", _UUID, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("message_id", _UUID),
    sa.Column("coupon_code", sa.Text),
    sa.Column("at", _TS, nullable=False),
    sa.Index("journey_steps_by_journey", "tenant_id", "journey_id", "path"),
)

journey_customer_facts = sa.Table(
    "journey_customer_facts",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("birth_month", sa.SmallInteger),
    sa.Column("birth_day", sa.SmallInteger),
    sa.Column("timezone", sa.Text),
    sa.Column("first_order_id", sa.Text),
    sa.Column("last_order_at", _TS),
    sa.Column("updated_at", _TS, nullable=False),
    sa.Index("journey_customer_facts_birthday", "tenant_id", "birth_month", "birth_day"),
)
