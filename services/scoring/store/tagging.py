"""Computed tags: which tags each customer should carry, and which of them changed since written.

Tag keys are ``kind/group/tag`` (``preference/Top category/Shoes``). Preference tags come from the
features (top category, top brand, price sensitivity, active time of day), predictive tags from the
latest predictions (churn risk from P(alive), repurchase probability from the expected purchases
in 30 days, high-value potential for the top fifth of the tenant's CLV). The rules:

* ``Price/price_sensitive``: price band ``budget`` or a coupon on at least half of the orders;
* ``Active time``: morning 05-11, afternoon 12-17, evening 18-22, night 23-04 (tenant local hour);
* ``Churn risk``: high when P(alive) < 0.3, medium below 0.7, low otherwise;
* ``Repurchase 30d``: P(at least one order) = 1 - exp(-expected purchases) (Poisson), high from 0.5,
  medium from 0.2, low below;
* ``High-value potential/high_value``: CLV > 0 and at or above the tenant's 80th percentile.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.database import Database
from services.scoring.domain.computed_tags import TagSet
from services.scoring.store.feature_tables import computed_tags, tag_catalog

MAX_TAG_NAME = 64

_PREDICTIONS = """
latest AS (
    SELECT DISTINCT ON (customer_id) customer_id, p_alive, expected_purchases_30d, clv_minor
    FROM predictions WHERE tenant_id = :tenant_id ORDER BY customer_id, as_of DESC
),
clv_cut AS (SELECT percentile_cont(0.8) WITHIN GROUP (ORDER BY clv_minor) AS p80 FROM latest),
"""
_NO_PREDICTIONS = """
latest AS (
    SELECT NULL::uuid AS customer_id, NULL::float8 AS p_alive, NULL::float8 AS expected_purchases_30d,
           NULL::bigint AS clv_minor WHERE false
),
clv_cut AS (SELECT NULL::float8 AS p80),
"""

# One pass over the tenant's scores, grouped: a correlated ``array_agg`` per customer over the
# keys re-read the whole tenant's keys for every customer (2.4 s for 2,357 customers, quadratic).
_DESIRED = """
CREATE TEMP TABLE run_tags AS
WITH {predictions}
keys AS (
    SELECT s.customer_id, k.key
    FROM customer_scores s
    LEFT JOIN latest p ON p.customer_id = s.customer_id
    CROSS JOIN clv_cut
    CROSS JOIN LATERAL (VALUES
        ('preference/Top category/' || left(s.top_category, 64)),
        ('preference/Top brand/' || left(s.top_brand, 64)),
        (CASE WHEN s.price_band = 'budget' OR s.coupon_share >= 0.5
              THEN 'preference/Price/price_sensitive' END),
        ('preference/Active time/' || CASE
            WHEN s.active_hour BETWEEN 5 AND 11 THEN 'morning'
            WHEN s.active_hour BETWEEN 12 AND 17 THEN 'afternoon'
            WHEN s.active_hour BETWEEN 18 AND 22 THEN 'evening'
            WHEN s.active_hour IS NOT NULL THEN 'night' END),
        ('predictive/Churn risk/' || CASE
            WHEN p.p_alive < 0.3 THEN 'high' WHEN p.p_alive < 0.7 THEN 'medium'
            WHEN p.p_alive IS NOT NULL THEN 'low' END),
        ('predictive/Repurchase 30d/' || CASE
            WHEN 1 - exp(-p.expected_purchases_30d) >= 0.5 THEN 'high'
            WHEN 1 - exp(-p.expected_purchases_30d) >= 0.2 THEN 'medium'
            WHEN p.expected_purchases_30d IS NOT NULL THEN 'low' END),
        (CASE WHEN p.clv_minor > 0 AND p.clv_minor >= clv_cut.p80
              THEN 'predictive/High-value potential/high_value' END)
    ) AS k(key)
    WHERE s.tenant_id = :tenant_id
)
SELECT customer_id,
       coalesce(array_agg(key ORDER BY key) FILTER (WHERE key IS NOT NULL), '{{}}'::text[]) AS tag_keys
FROM keys GROUP BY customer_id
"""

_CHANGED = """
SELECT r.customer_id, r.tag_keys FROM run_tags r
LEFT JOIN computed_tags c ON c.tenant_id = :tenant_id AND c.customer_id = r.customer_id
WHERE coalesce(c.tag_keys, '{}'::text[]) <> r.tag_keys
  AND (CAST(:after AS uuid) IS NULL OR r.customer_id > CAST(:after AS uuid))
ORDER BY r.customer_id LIMIT :limit
"""


async def desired_tags(connection: AsyncConnection, tenant_id: uuid.UUID) -> int:
    """Fill the session's ``run_tags`` with every customer's wanted tag keys; rows count."""
    await connection.execute(sa.text("DROP TABLE IF EXISTS run_tags"))
    exists = (await connection.execute(sa.text("SELECT to_regclass('predictions') IS NOT NULL"))).scalar_one()
    sql = _DESIRED.format(predictions=_PREDICTIONS if exists else _NO_PREDICTIONS)
    result = await connection.execute(sa.text(sql), {"tenant_id": tenant_id})
    return int(result.rowcount or 0)


async def changed_page(
    connection: AsyncConnection, tenant_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[TagSet]:
    """Up to ``limit`` customers (after ``after``) whose wanted tags differ from what was written."""
    result = await connection.execute(
        sa.text(_CHANGED), {"tenant_id": tenant_id, "after": after, "limit": limit}
    )
    return [(customer_id, list(tag_keys)) for customer_id, tag_keys in result]


async def catalog(connection: AsyncConnection, tenant_id: uuid.UUID, keys: Sequence[str]) -> dict[str, str]:
    """Profile's tag ids already known for these keys."""
    rows = await connection.execute(
        sa.select(tag_catalog.c.tag_key, tag_catalog.c.tag_id).where(
            tag_catalog.c.tenant_id == tenant_id, tag_catalog.c.tag_key.in_(list(keys))
        )
    )
    return {key: tag_id for key, tag_id in rows}


async def remember_tags(connection: AsyncConnection, tenant_id: uuid.UUID, ids: Mapping[str, str]) -> None:
    """Keep profile's ids of the tags scoring created (or found), by key, in one statement."""
    if not ids:
        return
    statement = pg.insert(tag_catalog).values(
        [{"tenant_id": tenant_id, "tag_key": key, "tag_id": tag_id} for key, tag_id in ids.items()]
    )
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[tag_catalog.c.tenant_id, tag_catalog.c.tag_key],
            set_={"tag_id": statement.excluded.tag_id},
        )
    )


async def remember_written(
    connection: AsyncConnection, tenant_id: uuid.UUID, written: Sequence[TagSet]
) -> None:
    """Record the sets written to profile, so an unchanged set is not written again."""
    if not written:
        return
    statement = pg.insert(computed_tags).values(
        [{"tenant_id": tenant_id, "customer_id": c, "tag_keys": keys} for c, keys in written]
    )
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[computed_tags.c.tenant_id, computed_tags.c.customer_id],
            set_={"tag_keys": statement.excluded.tag_keys, "written_at": sa.func.now()},
        )
    )


class SqlTagSyncSession:
    """A run's tag pages on a connection of its own; each saved page is committed."""

    def __init__(self, connection: AsyncConnection, tenant_id: uuid.UUID) -> None:
        self._connection = connection
        self._tenant_id = tenant_id

    async def changed_page(self, after: uuid.UUID | None, limit: int) -> list[TagSet]:
        """The next customers whose wanted tags differ from what was written."""
        return await changed_page(self._connection, self._tenant_id, after, limit)

    async def known_ids(self, keys: Sequence[str]) -> dict[str, str]:
        """Profile's tag ids already known for these keys."""
        return await catalog(self._connection, self._tenant_id, keys)

    async def save_page(self, created: Mapping[str, str], written: Sequence[TagSet]) -> None:
        """Keep the ids of the tags created for the page and the sets written, in one commit."""
        await remember_tags(self._connection, self._tenant_id, created)
        await remember_written(self._connection, self._tenant_id, written)
        await self._connection.commit()


class SqlTagSync:
    """Opens a run's tag session: ``run_tags`` is filled on entry and dropped on exit."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @asynccontextmanager
    async def session(self, tenant_id: uuid.UUID) -> AsyncIterator[SqlTagSyncSession]:
        """A dedicated connection, the tenant's wanted tags computed in a transaction without statement
        timeout (``SET LOCAL``: the connection goes back to the pool with the service's timeout)."""
        async with self._database.engine.connect() as connection:
            try:
                await connection.execute(sa.text("SET LOCAL statement_timeout = 0"))
                await desired_tags(connection, tenant_id)
                await connection.commit()
                yield SqlTagSyncSession(connection, tenant_id)
            finally:
                await connection.rollback()
                await connection.execute(sa.text("DROP TABLE IF EXISTS run_tags"))
                await connection.commit()
