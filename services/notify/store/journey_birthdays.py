"""The birthday sweep's question: who enters which birthday journey now (domain/birthdays.py states
the rule; this is the same rule as one set-based statement).

``due_birthdays`` answers, for every tenant at once, the customers whose next birthday in their own
time zone lies within an active birthday journey's ``days_before``, and who have no instance of that
journey for that occurrence yet. The statement

1. takes each tenant's active birthday journeys (their current version) with the days before;
2. looks up ``journey_customer_facts`` by the (tenant, month, day) index, for the (month, day) pairs
   of ``[UTC today - 1, UTC today + 1 + days_before]`` (computed in Python, each with its offset, so
   a journey of 3 days reads 6 days of birthdays, not 33);
3. computes each candidate's local today and next occurrence exactly (29 February on the 28th in a
   year without one) and keeps those due;
4. leaves out customers with an instance under the occurrence's entry key, and — so that the sweep's
   ``limit`` is never spent on customers ``enter`` would refuse anyway, minute after minute — erased
   and merged-away customers and customers still inside the journey.

Time zones are the customer's, else the tenant's, else UTC; a name PostgreSQL or this Python does not
know falls through to the next rather than failing the statement for everyone (the known names are
read once per process: the catalogue costs ~40-150 ms).
"""

from __future__ import annotations

import json
import zoneinfo
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.domain.birthdays import window_days
from services.notify.domain.journey_definitions import MAX_DAYS_BEFORE
from services.notify.store.journey_entry import EntryCandidate

_ZONES: str | None = None

_DUE = sa.text(
    """
    WITH window_days AS (
      SELECT * FROM unnest(CAST(:months AS int[]), CAST(:days AS int[]), CAST(:offsets AS int[]))
        AS w(month, day, offset_days)
    ),
    birthday_journeys AS (
      SELECT j.tenant_id, j.journey_id, j.version,
             CASE WHEN jsonb_exists(CAST(:zones AS jsonb), t.timezone) THEN t.timezone END AS tenant_zone,
             COALESCE(CAST(v.document -> 'trigger' ->> 'days_before' AS int), 0) AS days_before
      FROM journeys AS j
      JOIN journey_versions AS v
        ON v.tenant_id = j.tenant_id AND v.journey_id = j.journey_id AND v.version = j.version
      JOIN tenants AS t ON t.tenant_id = j.tenant_id
      WHERE j.status = 'active' AND v.trigger_kind = 'date'
        AND v.document -> 'trigger' ->> 'date' = 'birthday'
    ),
    candidates AS MATERIALIZED (
      SELECT b.tenant_id, b.journey_id, b.version, b.days_before, f.customer_id, f.birth_month,
             f.birth_day,
             COALESCE(CASE WHEN jsonb_exists(CAST(:zones AS jsonb), f.timezone) THEN f.timezone END,
                      b.tenant_zone, 'UTC') AS zone
      FROM birthday_journeys AS b
      JOIN window_days AS w ON w.offset_days <= b.days_before + 1
      JOIN journey_customer_facts AS f
        ON f.tenant_id = b.tenant_id AND f.birth_month = w.month AND f.birth_day = w.day
    ),
    local_days AS MATERIALIZED (
      SELECT c.*, CAST(CAST(:now AS timestamptz) AT TIME ZONE c.zone AS date) AS today
      FROM candidates AS c
    ),
    occurrences AS MATERIALIZED (
      -- the next occurrence: this local year's or the next one's, 29 February on the 28th off leap years
      SELECT c.*, o.occurrence
      FROM local_days AS c
      CROSS JOIN LATERAL (
        SELECT min(d.day) AS occurrence
        FROM (
          SELECT make_date(y.year, c.birth_month, CASE
                   WHEN c.birth_month = 2 AND c.birth_day = 29
                        AND NOT (mod(y.year, 4) = 0 AND (mod(y.year, 100) <> 0 OR mod(y.year, 400) = 0))
                   THEN 28 ELSE c.birth_day END) AS day
          FROM (VALUES (CAST(extract(year FROM c.today) AS int)),
                       (CAST(extract(year FROM c.today) AS int) + 1)) AS y(year)
        ) AS d
        WHERE d.day >= c.today
      ) AS o
    )
    SELECT o.tenant_id, o.journey_id, o.version, o.customer_id,
           'birthday:' || CAST(extract(year FROM o.occurrence) AS int) AS entry_key,
           lpad(CAST(o.birth_month AS text), 2, '0') || '-' || lpad(CAST(o.birth_day AS text), 2, '0')
             AS birthday,
           to_char(o.occurrence, 'YYYY-MM-DD') AS occurrence
    FROM occurrences AS o
    WHERE o.occurrence <= o.today + o.days_before
      AND NOT EXISTS (
        SELECT 1 FROM journey_instances AS i
        WHERE i.tenant_id = o.tenant_id AND i.journey_id = o.journey_id AND i.customer_id = o.customer_id
          AND i.entry_key = 'birthday:' || CAST(extract(year FROM o.occurrence) AS int))
      AND NOT EXISTS (
        SELECT 1 FROM customer_states AS s
        WHERE s.tenant_id = o.tenant_id AND s.customer_id = o.customer_id
          AND (s.erased_at IS NOT NULL OR s.merged_into IS NOT NULL))
      AND NOT EXISTS (
        SELECT 1 FROM journey_entries AS e
        WHERE e.tenant_id = o.tenant_id AND e.journey_id = o.journey_id AND e.customer_id = o.customer_id
          AND e.live_instance_id IS NOT NULL)
    ORDER BY o.occurrence, o.tenant_id, o.journey_id, o.customer_id
    LIMIT :limit
    """
)


async def known_zones(connection: AsyncConnection) -> str:
    """The zone names both PostgreSQL and this Python know (read once per process), so the statement
    and domain/birthdays.py judge the same local dates and an unknown name never fails a sweep; as a
    JSON object of the names, which the statement tests with ``jsonb_exists`` — a binary search per
    row whatever plan PostgreSQL picks (joined as a list, a cached generic plan of the statement
    scanned the whole list per customer: 7 times slower)."""
    global _ZONES
    if _ZONES is None:
        names = (await connection.execute(sa.text("SELECT name FROM pg_timezone_names"))).scalars()
        _ZONES = json.dumps(dict.fromkeys(sorted(zoneinfo.available_timezones() & set(names)), True))
    return _ZONES


async def due_birthdays(connection: AsyncConnection, now: datetime, limit: int) -> list[EntryCandidate]:
    """Who enters which active birthday journey at ``now`` (at most ``limit``, the nearest birthdays
    first), each with the entry key of the occurrence and ``data`` {"birthday": "MM-DD",
    "occurrence": "YYYY-MM-DD"}; ``trigger_at`` is ``now``, the sweep that found them due."""
    window = window_days(now, MAX_DAYS_BEFORE)
    rows = await connection.execute(
        _DUE,
        {
            "months": [day.month for day in window],
            "days": [day.day for day in window],
            "offsets": [day.offset for day in window],
            "zones": await known_zones(connection),
            "now": now,
            "limit": limit,
        },
    )
    return [
        EntryCandidate(
            row.tenant_id,
            row.journey_id,
            row.version,
            row.customer_id,
            row.entry_key,
            now,
            {"birthday": row.birthday, "occurrence": row.occurrence},
        )
        for row in rows
    ]
