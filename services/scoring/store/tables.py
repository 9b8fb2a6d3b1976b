"""The scoring service's tables."""

import sqlalchemy as sa

from services.runtime.tenant_store import tenants_table

metadata = sa.MetaData()

tenants = tenants_table(metadata)
