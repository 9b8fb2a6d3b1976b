"""Helpers for journey tests: install a journey straight into notify's database (the definitions API
has its own tests), read instances and steps back, and move the journeys' clock on."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.notify.domain.journey_definitions import parse_journey
from services.notify.journey_clock import advance_clock


def trigger_key(kind: str, trigger: dict[str, Any]) -> str:
    """The key the definitions store files a trigger under (see store/journey_tables.py)."""
    if kind == "event":
        return str(trigger["event"])
    if kind == "order":
        return "first" if trigger.get("first") else "any"
    if kind == "refund":
        return str(trigger["refund"].get("reason", ""))
    if kind == "segment_entered":
        return str(trigger["segment_entered"])
    return "upgraded" if kind == "tier" else "birthday"


def postgres_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def install_journey(
    notify_url: str, tenant_id: str, document: dict[str, Any], status: str = "active"
) -> str:
    """A journey row and its version 1, as the definitions API would write them."""
    definition = parse_journey(document)
    journey_id = uuid.uuid4()
    now = datetime.now(UTC)
    connection = await asyncpg.connect(postgres_url(notify_url))
    try:
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO journeys (tenant_id, journey_id, name, status, version, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, 1, $5, $5)",
                uuid.UUID(tenant_id),
                journey_id,
                definition.name,
                status,
                now,
            )
            await connection.execute(
                "INSERT INTO journey_versions (tenant_id, journey_id, version, document, trigger_kind, "
                "trigger_key, has_goal, reentry, created_at) VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8)",
                uuid.UUID(tenant_id),
                journey_id,
                json.dumps(document),
                definition.trigger.kind,
                trigger_key(definition.trigger.kind, definition.trigger.spec),
                definition.goal is not None,
                definition.reentry,
                now,
            )
    finally:
        await connection.close()
    return str(journey_id)


async def query(notify_url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(postgres_url(notify_url))
    try:
        return [dict(row) for row in await connection.fetch(sql, *args)]
    finally:
        await connection.close()


async def instances(notify_url: str, journey_id: str) -> list[dict[str, Any]]:
    return await query(
        notify_url,
        "SELECT * FROM journey_instances WHERE journey_id = $1 ORDER BY entered_at",
        uuid.UUID(journey_id),
    )


async def steps(notify_url: str, journey_id: str) -> list[dict[str, Any]]:
    return await query(
        notify_url,
        "SELECT * FROM journey_steps WHERE journey_id = $1 ORDER BY at, path",
        uuid.UUID(journey_id),
    )


def move_clock(clock_file: Path, seconds: float) -> None:
    """Move the session notify's journey clock on."""
    advance_clock(clock_file, seconds)
