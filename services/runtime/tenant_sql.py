"""A tenant id in SQL that the planner estimates as an average tenant.

For a tenant the table statistics do not know yet (a new merchant, before autovacuum has analysed
the table; on a large table that waits for 10 % of it to change), PostgreSQL estimates
``tenant_id = <its id>`` at one row whenever every known tenant is among the column's most common
values. At one row, a lookup by customer may as well walk all the tenant's rows through an index
that only the tenant bounds, and it did: profile's lookups by customer id took 5-30 ms in a
tenant of 10,000-20,000 customers (docs/performance.md, "Plans for a tenant the statistics do not
know"). Written as a scalar subquery, the id is a parameter the planner cannot see while planning:
it estimates the average tenant, and the lookup stays on the key that names the customer. The
statement is still planned for its other values (custom plans), so nothing else changes.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

# The same in a statement written as text, for a ``:tenant`` parameter.
OPAQUE_TENANT_SQL = "(SELECT CAST(:tenant AS uuid))"


def opaque_tenant(tenant_id: uuid.UUID) -> sa.ScalarSelect[uuid.UUID]:
    """``(SELECT CAST(:tenant AS uuid))``: compare ``tenant_id`` columns with this on lookups by
    customer that run for new tenants (see the module docstring)."""
    return sa.select(
        sa.cast(sa.literal(tenant_id, pg.UUID(as_uuid=True)), pg.UUID(as_uuid=True))
    ).scalar_subquery()
