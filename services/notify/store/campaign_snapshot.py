"""A campaign's audience snapshot, recorded whole in the transaction that holds the campaign's lease.

The segment's members, streamed from scoring, are COPYed into a temporary table and turned into
``campaign_recipients`` by ONE statement: each customer's group from the keyed md5 bucket
(``domain/campaign_assignment.py``: ``width_bucket`` over the thresholds is its ``bisect``), the
global control group from the same hash over the tenant, the instant the message is due (the
campaign's, or the customer's local time in a zone PostgreSQL knows, else the tenant's), the position
(by due instant, then customer id) and the id the message will carry. The snapshot commits whole or
not at all, and leaves statistics behind (a million fresh rows would otherwise read as one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.domain.campaign_worker import AudienceBatch
from services.runtime.database import driver_connection

_SNAPSHOT_SETTINGS = (
    sa.text("SET LOCAL statement_timeout = '300s'"),
    sa.text("SET LOCAL work_mem = '64MB'"),
)
"""A million recipients take 10-16 s in one INSERT on 2 cores, past the services' 10 s statement cap;
their sort by customer fits in memory rather than spilling (this transaction only)."""

_AUDIENCE_TABLE = "CREATE TEMPORARY TABLE campaign_audience (customer_id uuid, timezone text) ON COMMIT DROP"

_RECIPIENTS = sa.text(
    """
    INSERT INTO campaign_recipients
      (tenant_id, campaign_id, position, customer_id, group_name, timezone, due_at, message_id)
    SELECT :tenant, :campaign, row_number() OVER (ORDER BY due, customer_id), customer_id, group_name,
           zone, due, CASE WHEN group_name NOT IN ('holdout', 'global_control') THEN gen_random_uuid() END
    FROM (
      SELECT customer_id, zone,
        CASE
          WHEN control < :control_end THEN 'global_control'
          WHEN width_bucket(bucket, CAST(:ends AS int[])) = 0 THEN 'holdout'
          ELSE (CAST(:groups AS text[]))[width_bucket(bucket, CAST(:ends AS int[]))]
        END AS group_name,
        CASE
          WHEN CAST(:send_at AS timestamptz) IS NOT NULL THEN CAST(:send_at AS timestamptz)
          WHEN CAST(:send_local AS timestamp) IS NOT NULL AND :zone_kind = 'customer'
            THEN CAST(:send_local AS timestamp) AT TIME ZONE COALESCE(zone, :tenant_zone)
          WHEN CAST(:send_local AS timestamp) IS NOT NULL
            THEN CAST(:send_local AS timestamp) AT TIME ZONE :tenant_zone
          ELSE CAST(:now AS timestamptz)
        END AS due
      FROM (
        SELECT DISTINCT ON (a.customer_id) a.customer_id,
          z.name AS zone,
          CAST(('x' || substr(md5(:key || ':' || :campaign_text || ':' || a.customer_id::text), 1, 8))
            ::bit(32)::bigint % 10000 AS int) AS bucket,
          CAST(('x' || substr(md5(:key || ':' || :tenant_text || ':' || a.customer_id::text), 1, 8))
            ::bit(32)::bigint % 10000 AS int) AS control
        FROM campaign_audience AS a
        LEFT JOIN (SELECT DISTINCT name FROM pg_timezone_names) AS z ON z.name = a.timezone
        ORDER BY a.customer_id
      ) AS hashed
    ) AS grouped
    """
)

_SNAPSHOT_DONE = sa.text(
    """
    UPDATE campaigns AS c
    SET recipients = s.total, group_sizes = s.sizes, snapshot_at = :as_of, segment_version = :version,
        phase = CASE WHEN s.total > 0 THEN 'planning' ELSE 'sending' END,
        status = CASE WHEN c.status = 'scheduled' THEN 'running' ELSE c.status END,
        planned_through = 0, wake_at = COALESCE(s.first_due, now()), attempts = 0, last_error = NULL,
        lease_token = NULL, lease_until = NULL, updated_at = now()
    FROM (
      SELECT COALESCE(sum(n), 0) AS total, COALESCE(jsonb_object_agg(group_name, n), '{}') AS sizes,
             min(first_due) AS first_due
      FROM (
        SELECT group_name, count(*) AS n, min(due_at) AS first_due FROM campaign_recipients
        WHERE tenant_id = :tenant AND campaign_id = :campaign GROUP BY group_name
      ) AS groups
    ) AS s
    WHERE c.tenant_id = :tenant AND c.campaign_id = :campaign
    """
)


async def record_snapshot(
    connection: AsyncConnection, row: Any, members: AsyncIterator[AudienceBatch], key: str
) -> int:
    """Write the campaign's recipients from ``members`` (``row``: the campaign, held ``FOR UPDATE``,
    with its tenant's zone); how many there are."""
    for setting in _SNAPSHOT_SETTINGS:
        await connection.execute(setting)
    await connection.execute(sa.text(_AUDIENCE_TABLE))
    raw = await driver_connection(connection)
    as_of, version = None, None
    async for batch in members:
        as_of, version = batch.as_of, batch.version
        records = list(zip(batch.customer_ids, batch.timezones, strict=True))
        if records:
            await raw.copy_records_to_table(
                "campaign_audience", records=records, columns=["customer_id", "timezone"]
            )
    await connection.execute(
        _RECIPIENTS,
        {
            "tenant": row.tenant_id,
            "campaign": row.campaign_id,
            "tenant_text": str(row.tenant_id),
            "campaign_text": str(row.campaign_id),
            "key": key,
            "control_end": round(row.global_control_percent * 100),
            "ends": list(row.ends),
            "groups": list(row.groups),
            "send_at": row.send_at,
            "send_local": row.send_local,
            "zone_kind": row.send_zone,
            "tenant_zone": row.tenant_zone,
            "now": row.started_at if row.send_at is None and row.send_local is None else None,
        },
    )
    # a million fresh rows without statistics would make planning and the report guess one row
    await connection.execute(sa.text("ANALYZE campaign_recipients"))
    await connection.execute(
        _SNAPSHOT_DONE,
        {
            "tenant": row.tenant_id,
            "campaign": row.campaign_id,
            "as_of": as_of,
            "version": version,
        },
    )
    total = await connection.scalar(
        sa.text("SELECT recipients FROM campaigns WHERE tenant_id = :t AND campaign_id = :c"),
        {"t": row.tenant_id, "c": row.campaign_id},
    )
    return int(total or 0)
