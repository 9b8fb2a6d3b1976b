"""Tables of campaigns (docs/campaigns.md).

- ``campaigns``: one row per campaign — its definition (``document``, and what planning needs of it
  in columns: the groups with their templates and bucket thresholds), its status (draft, scheduled,
  running, paused, completed, cancelled), the phase of its work (``snapshot``: the audience is to be
  taken; ``planning``: recipients are being planned; ``sending``: every recipient is planned and the
  last messages are on their way; NULL in draft and once finished), the progress cursor
  (``planned_through``: the last recipient position whose plan is committed), and the worker's lease
  (``lease_token``, ``lease_until``) with ``wake_at``, when the worker should look at it next.
- ``campaign_recipients``: the audience snapshot taken at start, one row per customer with its
  position (snapshot order: by send instant, then customer id), its group, fixed for ever, the zone
  and instant its message is due at, and the id its message will carry (assigned with the snapshot,
  so planning writes no row here).
- ``campaign_orders``: the paid orders of recipients after the campaign began — what conversions and
  revenue are counted from; ``discount_minor`` is the coupon discount loyalty reported on the order
  (``campaign_order_discounts`` keeps it when loyalty's event arrives first).

Every key starts with ``tenant_id``.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.notify.store.tables import metadata

_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("campaign_id", _UUID, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("segment_id", _UUID, nullable=False),
    sa.Column("document", pg.JSONB, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("phase", sa.Text),
    sa.Column("groups", pg.ARRAY(sa.Text), nullable=False),  # variant names, in document order
    sa.Column("templates", pg.ARRAY(_UUID), nullable=False),  # each variant's template
    sa.Column("ends", pg.ARRAY(sa.Integer), nullable=False),  # holdout end, then each variant's end
    sa.Column("conversion_window", sa.Interval, nullable=False),
    sa.Column("send_at", _TS),  # an instant for everyone; NULL with send_local, or at start
    sa.Column("send_local", sa.TIMESTAMP(timezone=False)),  # a wall-clock time in send_zone
    sa.Column("send_zone", sa.Text, nullable=False),  # tenant or customer
    sa.Column("global_control_percent", sa.Float, nullable=False, server_default="0"),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
    sa.Column("started_at", _TS),
    sa.Column("snapshot_at", _TS),
    sa.Column("segment_version", sa.Integer),
    sa.Column("first_send_at", _TS),
    sa.Column("completed_at", _TS),
    sa.Column("cancelled_at", _TS),
    sa.Column("recipients", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("group_sizes", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("planned_through", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("wake_at", _TS),
    sa.Column("lease_token", _UUID),
    sa.Column("lease_until", _TS),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
    sa.CheckConstraint(
        "status IN ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled')",
        name="ck_campaigns_status",
    ),
    sa.CheckConstraint("phase IN ('snapshot', 'planning', 'sending')", name="ck_campaigns_phase"),
    sa.Index("campaigns_by_created", "tenant_id", "created_at", "campaign_id"),
    sa.Index("campaigns_due", "wake_at", postgresql_where=sa.text("phase IS NOT NULL")),
)

campaign_recipients = sa.Table(
    "campaign_recipients",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("campaign_id", _UUID, primary_key=True),
    sa.Column("position", sa.BigInteger, primary_key=True),
    sa.Column("customer_id", _UUID, nullable=False),
    sa.Column("group_name", sa.Text, nullable=False),  # a variant's name, holdout or global_control
    sa.Column("timezone", sa.Text),  # the customer's zone at the snapshot, when PostgreSQL knows it
    sa.Column("due_at", _TS, nullable=False),  # when the message is due (the holdout's anchor)
    sa.Column("message_id", _UUID),  # the message's id once planned (variants only)
    # no foreign key to campaigns: checking it cost 4.6 s per million rows of a snapshot, and the
    # rows are only ever written by the snapshot, under the campaign row's lock
    # a customer once per campaign; found by customer when an order arrives
    sa.Index("campaign_recipients_by_customer", "tenant_id", "customer_id", "campaign_id", unique=True),
)

campaign_orders = sa.Table(
    "campaign_orders",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("campaign_id", _UUID, primary_key=True),
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("customer_id", _UUID, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("paid_at", _TS, nullable=False),
    sa.ForeignKeyConstraint(
        ["tenant_id", "campaign_id"], ["campaigns.tenant_id", "campaigns.campaign_id"], ondelete="CASCADE"
    ),
    sa.Index("campaign_orders_by_customer", "tenant_id", "campaign_id", "customer_id"),
)

campaign_order_discounts = sa.Table(
    "campaign_order_discounts",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("coupon_code", sa.Text, primary_key=True),
    sa.Column("discount_minor", sa.BigInteger, nullable=False),
    sa.Column("redeemed_at", _TS, nullable=False),
)
