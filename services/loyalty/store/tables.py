"""The loyalty service's tables: its tenants, its outbox (it produces points and tier events) and
its consumer state (it consumes profile's events)."""

import sqlalchemy as sa

from services.runtime.events.erasure import free_text_types
from services.runtime.events.tables import consumer_tables, erasure_table, outbox_text_index, producer_tables
from services.runtime.tenant_store import tenants_table

metadata = sa.MetaData()

tenants = tenants_table(metadata)

outbox, outbox_heads = producer_tables(metadata)
outbox_text_index(outbox, free_text_types("loyalty"))

consumer_positions, consumer_members, consumer_parked = consumer_tables(metadata)
customer_erasures = erasure_table(metadata)

# Each capability declares its tables in its own module on the same metadata; importing them here
# makes ``metadata`` complete for Alembic and for the tests that compare it with the migrations.
from services.loyalty.store import coupon_tables, ledger_tables, membership_tables  # noqa: E402, F401
