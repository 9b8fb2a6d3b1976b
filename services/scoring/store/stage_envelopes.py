"""A batch run's ``lifecycle.stage_changed`` events, encoded and appended by PostgreSQL in one statement.

A first run over a large tenant gives every customer its first stage: a million events. Building
them as protobuf objects in Python cost about two minutes; here the database writes them straight
from the run's change table, with the protobuf wire format assembled by ``bytea`` concatenation:

* everything that is the same for every event of the run (tenant, type, producer, ``occurred_at``,
  the payload's ``changed_at``) is serialised once, by protobuf itself, and bound as bytes;
* per row only the length-delimited strings vary (event id, customer id, from / to stage, reason),
  each written as tag, varint length and UTF-8 bytes; a proto3 empty string is left out, as
  protobuf does.

Protobuf parsers accept fields in any order, so the envelope is the constant part followed by the
varying fields; ``tests/test_scoring_envelopes.py`` checks that what this builds parses to exactly
the envelope ``Outbox.envelope`` makes. Partitions follow ``partition_of`` (the first four bytes of
the customer id, big-endian, modulo the partition count), and the statement notifies the sequencer
(``patron_outbox``) as ``Outbox.append`` does without a wake-up of its own: one NOTIFY per run.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2, scoring_events_pb2
from services.runtime.events.outbox import Outbox
from services.runtime.events.signals import OUTBOX_CHANNEL

STAGE_CHANGED = "lifecycle.stage_changed"
_PAYLOAD_TAG = b"\xf2\x01"  # field 30 (lifecycle_stage_changed), wire type 2


def _varint(length: str) -> str:
    """SQL bytea of a varint of ``length`` (an int expression below 2^14: stages, reasons and ids are
    a few dozen bytes, a payload of them well under 16 KiB)."""
    return (
        f"CASE WHEN {length} < 128 THEN set_byte('\\x00'::bytea, 0, {length}) "
        f"ELSE set_byte(set_byte('\\x0000'::bytea, 0, ({length} & 127) | 128), 1, {length} >> 7) END"
    )


def _string_field(tag: int, text: str) -> str:
    """SQL bytea of a proto3 string field ``tag`` holding ``text`` (empty or NULL: left out)."""
    encoded = f"convert_to(coalesce({text}, ''), 'UTF8')"
    header = f"set_byte('\\x00'::bytea, 0, {tag << 3 | 2})"
    return (
        f"CASE WHEN coalesce({text}, '') = '' THEN ''::bytea "
        f"ELSE {header} || {_varint(f'octet_length({encoded})')} || {encoded} END"
    )


_PAYLOAD = " || ".join(
    [
        _string_field(1, "c.from_stage"),
        _string_field(2, "c.to_stage"),
        "CAST(:changed_at AS bytea)",
        _string_field(4, "c.stage_reason"),
    ]
)

_APPEND = f"""
WITH rows AS (
    SELECT gen_random_uuid() AS event_id, c.customer_id, {_PAYLOAD} AS payload
    FROM {{changes}} c
),
appended AS (
    INSERT INTO outbox (event_id, tenant_id, customer_id, type, partition, occurred_at, envelope)
    SELECT r.event_id, CAST(:tenant_id AS uuid), r.customer_id, :type,
           (('x' || left(replace(r.customer_id::text, '-', ''), 8))::bit(32)::bigint
               % CAST(:partitions AS int))::smallint,
           CAST(:occurred_at AS timestamptz),
           CAST(:constant AS bytea)
             || {_string_field(1, "r.event_id::text")} || {_string_field(4, "r.customer_id::text")}
             || CAST(:payload_tag AS bytea) || {_varint("octet_length(r.payload)")} || r.payload
    FROM rows r ORDER BY r.customer_id
    RETURNING 1
)
SELECT count(*) AS appended FROM appended
"""  # noqa: S608 - the only interpolations are constant SQL fragments and a table name


def constant_parts(tenant_id: uuid.UUID, producer: str, changed_at: datetime) -> dict[str, bytes]:
    """The bytes every event of the run shares, serialised by protobuf: the envelope's tenant, type,
    producer and time, and the payload's ``changed_at`` field."""
    envelope = envelope_pb2.EventEnvelope(tenant_id=str(tenant_id), type=STAGE_CHANGED, producer=producer)
    envelope.occurred_at.FromDatetime(changed_at)
    payload = scoring_events_pb2.LifecycleStageChanged()
    payload.changed_at.FromDatetime(changed_at)
    return {
        "constant": envelope.SerializeToString(),
        "changed_at": payload.SerializeToString(),
        "payload_tag": _PAYLOAD_TAG,
    }


async def append_stage_changes(
    connection: AsyncConnection, outbox: Outbox, tenant_id: uuid.UUID, changes: str, changed_at: datetime
) -> int:
    """Append one ``lifecycle.stage_changed`` per row of the table ``changes`` (customer_id,
    from_stage, to_stage, stage_reason) to the outbox, in the caller's transaction; returns the count.
    ``changes`` is a table name of the caller's own (never user input)."""
    parameters = {
        **constant_parts(tenant_id, outbox.producer, changed_at),
        "tenant_id": tenant_id,
        "type": STAGE_CHANGED,
        "partitions": outbox.partitions,
        "occurred_at": changed_at,
    }
    statement = sa.text(_APPEND.replace("{changes}", changes))
    appended = int((await connection.execute(statement, parameters)).scalar_one())
    if appended:
        await connection.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": OUTBOX_CHANNEL})
    return appended
