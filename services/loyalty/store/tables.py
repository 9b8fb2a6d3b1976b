"""The loyalty service's tables."""

import sqlalchemy as sa

from services.runtime.tenant_store import tenants_table

metadata = sa.MetaData()

tenants = tenants_table(metadata)

# Each capability declares its tables in its own module on the same metadata; importing them here
# makes ``metadata`` complete for Alembic and for the tests that compare it with the migrations.
from services.loyalty.store import coupon_tables, ledger_tables, membership_tables  # noqa: E402, F401
