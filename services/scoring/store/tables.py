"""The scoring service's tables: its tenants, its projection of profile's customers, its consumer state."""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.runtime.events.tables import consumer_tables, erasure_table
from services.runtime.tenant_store import tenants_table

metadata = sa.MetaData()

tenants = tenants_table(metadata)

consumer_positions, consumer_members, consumer_parked = consumer_tables(metadata)
customer_erasures = erasure_table(metadata)

# Kept from profile's customer.* events: who exists, since when, and who was merged into whom.
customers = sa.Table(
    "customers",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("registration_channel", sa.Text),
    sa.Column("device", sa.Text),
    # The other attributes a segment may use (audience_tables.py says which never travel).
    sa.Column("gender", sa.Text),
    sa.Column("province", sa.Text),
    sa.Column("city", sa.Text),
    sa.Column("birthday", sa.Date),
    sa.Column("registered_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("timezone", sa.Text),  # the customer's IANA zone; None: the tenant's
    sa.Column("merged_into", pg.UUID(as_uuid=True)),
    sa.Column("erased_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("events_applied", sa.BigInteger, nullable=False, server_default="0"),
    # the live customers' ids, read index-only by segment statements (docs/segments.md "Preview")
    sa.Index(
        "customers_live",
        "tenant_id",
        "customer_id",
        postgresql_where=sa.text("merged_into IS NULL AND erased_at IS NULL"),
    ),
)

# Each capability declares its tables in its own module on the same metadata; importing them here
# makes ``metadata`` complete for Alembic and for the tests that compare it with the migrations.
from services.scoring.store import (  # noqa: E402, F401
    audience_tables,
    feature_tables,
    kpi_tables,
    prediction_tables,
    segment_export_tables,
    segment_tables,
)
