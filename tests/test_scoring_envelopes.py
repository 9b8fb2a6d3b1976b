"""The batch run's SQL-built ``lifecycle.stage_changed`` envelopes equal the ones protobuf builds.

``stage_envelopes.append_stage_changes`` writes the wire format with ``bytea`` concatenation; here
each row it appends is parsed back and compared, field by field, with ``Outbox.envelope`` of the
same event (only the event id is the database's own), and its partition with ``partition_of``.
Long and non-ASCII reasons cross the one-byte varint boundary; an empty from-stage is left out.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from patron.events.v1 import envelope_pb2, scoring_events_pb2
from services.runtime.database import create_engine
from services.runtime.events.outbox import NewEvent, Outbox, partition_of
from services.scoring.store.feature_tables import outbox as outbox_table
from services.scoring.store.stage_envelopes import STAGE_CHANGED, append_stage_changes

CHANGES = [
    ("", "acquisition", "no paid order"),
    ("growth", "decline", "idle 45 d > decline limit 30.0 d"),
    ("mature", "churned", "理由 " * 40),  # 241 bytes: a two-byte varint, and the payload too
    ("decline", "growth", "x" * 127),
]


async def test_sql_envelopes_parse_to_what_protobuf_builds(database_urls: dict[str, str]) -> None:
    engine = create_engine(database_urls["scoring"], application_name="scoring-envelopes")
    outbox = Outbox("scoring", outbox_table, 16)
    tenant_id = uuid.uuid4()
    customers = [uuid.uuid4() for _ in CHANGES]
    changed_at = datetime(2026, 3, 1, 2, 3, 4, 567_000, tzinfo=UTC)
    try:
        async with engine.connect() as connection:
            await connection.execute(
                sa.text(
                    "CREATE TEMP TABLE test_changes (customer_id uuid, from_stage text, to_stage text,"
                    " stage_reason text) ON COMMIT DROP"
                )
            )
            for customer, (from_stage, to_stage, reason) in zip(customers, CHANGES, strict=True):
                await connection.execute(
                    sa.text("INSERT INTO test_changes VALUES (:c, nullif(:f, ''), :t, :r)"),
                    {"c": customer, "f": from_stage, "t": to_stage, "r": reason},
                )
            appended = await append_stage_changes(connection, outbox, tenant_id, "test_changes", changed_at)
            rows = (
                await connection.execute(
                    sa.text(
                        "SELECT event_id, customer_id, type, partition, occurred_at, envelope FROM outbox"
                        " WHERE tenant_id = :t"
                    ),
                    {"t": tenant_id},
                )
            ).all()
            await connection.rollback()
    finally:
        await engine.dispose()
    assert appended == len(CHANGES) == len(rows)
    by_customer = {row.customer_id: row for row in rows}
    for customer, (from_stage, to_stage, reason) in zip(customers, CHANGES, strict=True):
        row = by_customer[customer]
        payload = scoring_events_pb2.LifecycleStageChanged(
            from_stage=from_stage, to_stage=to_stage, reason=reason
        )
        payload.changed_at.FromDatetime(changed_at)
        event = NewEvent(tenant_id, STAGE_CHANGED, customer, payload, changed_at, row.event_id)
        expected = outbox.envelope(event)
        assert envelope_pb2.EventEnvelope.FromString(row.envelope) == expected
        assert row.partition == partition_of(customer, 16)
        assert (row.type, row.occurred_at) == (STAGE_CHANGED, changed_at)
