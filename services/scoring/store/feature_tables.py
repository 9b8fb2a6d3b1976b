"""Tables of the scoring service's feature capability (declared on the shared metadata).

Facts (kept from profile's events, exactly once by the consumer): ``orders`` (read by the predictive
models too), ``order_items``, ``order_extras``, ``order_refunds``, ``activity_daily`` and
``activity_hours``. Everything else is derived from those facts and can be rebuilt from them:
``customer_scores`` (features, RFM, lifecycle, engagement), ``tenant_baselines`` (the thresholds of
the last batch run), ``computed_tags`` (what was last written to profile). Every key starts with
``tenant_id``.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.runtime.events.tables import producer_tables
from services.scoring.store.tables import metadata

_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)

# One row per paid order; customer_id is the live survivor (re-pointed on customer.merged).
orders = sa.Table(
    "orders",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("customer_id", _UUID, nullable=False),
    sa.Column("paid_at", _TS, nullable=False),
    sa.Column("currency", sa.CHAR(3), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("refunded_minor", sa.BigInteger, nullable=False, server_default="0"),
    sa.Index("ix_orders_customer", "tenant_id", "customer_id"),
    sa.Index("ix_orders_paid_at", "tenant_id", "paid_at"),
)

order_items = sa.Table(
    "order_items",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("line", sa.SmallInteger, primary_key=True),
    sa.Column("category", sa.Text),
    sa.Column("brand", sa.Text),
    sa.Column("unit_price_minor", sa.BigInteger, nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
)

order_extras = sa.Table(
    "order_extras",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("coupon_used", sa.Boolean, nullable=False),
    sa.Column("channel", sa.Text),
)

# Refunds by id: a refund may arrive before its order (after a merge the two travel on different
# partitions), so orders.refunded_minor is always the sum of what is here.
order_refunds = sa.Table(
    "order_refunds",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("refund_id", sa.Text, primary_key=True),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("refunded_at", _TS, nullable=False),
    sa.Column("reason", sa.Text),  # the merchant's reason (e.g. 尺寸不符), for refund conditions
)

# Behaviour per customer, event type and tenant-local day: enough for 7/30/90-day counts, last
# activity per type and a daily time decay, at a fraction of the events' size.
activity_daily = sa.Table(
    "activity_daily",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("event_type", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("last_at", _TS, nullable=False),
)

# Behaviour per tenant-local hour of day (0-23), for the usual active hour.
activity_hours = sa.Table(
    "activity_hours",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("hour", sa.SmallInteger, primary_key=True),
    sa.Column("events", sa.BigInteger, nullable=False),
)

customer_scores = sa.Table(
    "customer_scores",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("first_order_at", _TS),
    sa.Column("last_order_at", _TS),
    sa.Column("order_count", sa.Integer, nullable=False),
    sa.Column("net_spend_minor", sa.BigInteger, nullable=False),
    sa.Column("mean_gap_days", sa.Float),
    sa.Column("last_gap_days", sa.Float),
    sa.Column("top_category", sa.Text),
    sa.Column("top_brand", sa.Text),
    sa.Column("avg_unit_price_minor", sa.BigInteger),
    sa.Column("price_band", sa.Text),
    sa.Column("coupon_share", sa.Float),
    sa.Column("active_hour", sa.SmallInteger),
    sa.Column("last_seen_at", _TS),
    sa.Column("last_activity", pg.JSONB, nullable=False),
    sa.Column("activity_counts", pg.JSONB, nullable=False),
    sa.Column("recency_days", sa.Integer),
    sa.Column("frequency", sa.Integer),
    sa.Column("monetary_minor", sa.BigInteger),
    sa.Column("r", sa.SmallInteger),
    sa.Column("f", sa.SmallInteger),
    sa.Column("m", sa.SmallInteger),
    sa.Column("rfm_group", sa.Text),
    sa.Column("stage", sa.Text, nullable=False),
    sa.Column("stage_reason", sa.Text, nullable=False),
    sa.Column("engagement", sa.Float, nullable=False),
    sa.Column("updated_at", _TS, nullable=False, server_default=sa.func.now()),
    # the customers of an RFM group, index-only, for segments (docs/segments.md "Preview")
    sa.Index("customer_scores_by_group", "tenant_id", "rfm_group", "customer_id"),
    # fillfactor 50 (migration 0012): room on each page for the daily run's HOT updates
)

# The customers whose behaviour facts changed since their scores were last computed: the consumer
# marks them, the re-scorer (``store.rescore_marks``) re-scores each once per round and removes the
# marks it served. ``mark`` is the id of the transaction that set it, renewed by every mark, so a
# mark renewed while a round re-scored its customer outlives that round.
rescore_marks = sa.Table(
    "rescore_marks",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("mark", sa.BigInteger, nullable=False),
    sa.Column("marked_at", _TS, nullable=False),
)

# The thresholds of a tenant's last batch run: RFM cut points (4 each), the group split values and
# the price-band cut points (2), against which a new order re-scores its customer at once.
tenant_baselines = sa.Table(
    "tenant_baselines",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("split", sa.Text, nullable=False),
    sa.Column("r_cuts", pg.ARRAY(sa.Float), nullable=False),
    sa.Column("f_cuts", pg.ARRAY(sa.Float), nullable=False),
    sa.Column("m_cuts", pg.ARRAY(sa.Float), nullable=False),
    sa.Column("r_split", sa.Float, nullable=False),
    sa.Column("f_split", sa.Float, nullable=False),
    sa.Column("m_split", sa.Float, nullable=False),
    sa.Column("price_cuts", pg.ARRAY(sa.Float), nullable=False),
    sa.Column("customers", sa.Integer, nullable=False),
    sa.Column("computed_at", _TS, nullable=False, server_default=sa.func.now()),
    # the feature definition, time zone and currency of the last full computation (migration 0012)
    sa.Column("features_key", sa.Text),
)

scoring_config = sa.Table(
    "scoring_config",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("document", pg.JSONB, nullable=False),
    sa.Column("updated_at", _TS, nullable=False, server_default=sa.func.now()),
)

scoring_runs = sa.Table(
    "scoring_runs",
    metadata,
    sa.Column("run_id", _UUID, primary_key=True),
    sa.Column("tenant_id", _UUID, nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("phase", sa.Text, nullable=False),
    sa.Column("done", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("total", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("details", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("error", sa.Text),
    sa.Column("started_at", _TS, nullable=False, server_default=sa.func.now()),
    sa.Column("heartbeat_at", _TS, nullable=False, server_default=sa.func.now()),
    sa.Column("finished_at", _TS),
    sa.Index("ix_scoring_runs_tenant", "tenant_id", "started_at"),
    # One active run per tenant: queued or running (migration 0009).
    sa.Index(
        "ux_scoring_runs_active",
        "tenant_id",
        unique=True,
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    ),
    # The queue in order of request (``started_at`` is the request time until the run is claimed).
    sa.Index("ix_scoring_runs_queue", "started_at", "run_id", postgresql_where=sa.text("status = 'queued'")),
    # The daily schedule starts one run per tenant and local day, however many replicas try.
    sa.Index(
        "ux_scoring_runs_scheduled",
        "tenant_id",
        "as_of",
        unique=True,
        postgresql_where=sa.text("trigger = 'schedule'"),
    ),
)

# The tag set scoring last wrote to profile per customer: only a changed set is written again.
computed_tags = sa.Table(
    "computed_tags",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("tag_keys", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("written_at", _TS, nullable=False, server_default=sa.func.now()),
)

# Profile's tag ids for scoring's tag keys ("preference/top_category/Shoes"), created on first use.
tag_catalog = sa.Table(
    "tag_catalog",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("tag_key", sa.Text, primary_key=True),
    sa.Column("tag_id", sa.Text, nullable=False),
)

outbox, outbox_heads = producer_tables(metadata)
