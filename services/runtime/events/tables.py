"""The tables of the event backbone: the producer's outbox and heads, the consumer's positions."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

DEFAULT_PARTITIONS = 16


def _outbox_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("tenant_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("customer_id", pg.UUID(as_uuid=True)),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("partition", sa.SmallInteger, nullable=False),
        sa.Column("position", sa.BigInteger),
        sa.Column("occurred_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("sequenced_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
    ]


def _heads_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("partition", sa.SmallInteger, primary_key=True),
        sa.Column("last_position", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("pruned_through", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_sequenced_at", sa.TIMESTAMP(timezone=True)),
    ]


def producer_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """Declare ``outbox`` and ``outbox_heads`` in a producing service's metadata, with the queue and
    the positions tables beside them (v2, :func:`split_positions_v2`): an outbox row is written once
    and never updated; its position is a narrow row of its own."""
    outbox = sa.Table(
        "outbox",
        metadata,
        *(c for c in _outbox_columns() if c.name not in _SEQUENCED_IN_ROW_V1),
    )
    sa.Table("outbox_pending", metadata, *_pending_columns())
    sa.Table(
        "outbox_positions",
        metadata,
        *_placed_columns(),
        sa.Index("ix_outbox_positions_sequenced_at", "sequenced_at", postgresql_using="brin"),
    )
    for statement in (_QUEUE_FUNCTION_V2, _QUEUE_TRIGGER_V2):
        sa.event.listen(outbox, "after_create", sa.DDL(statement))  # type: ignore[no-untyped-call]
    heads = sa.Table("outbox_heads", metadata, *_heads_columns())
    return outbox, heads


def _create_v1_position_indexes() -> None:
    """v1's indexes on the positions kept in the outbox rows (v1's step, and v2's downgrade). Frozen."""
    op.create_index(
        "ux_outbox_partition_position",
        "outbox",
        ["partition", "position"],
        unique=True,
        postgresql_where=sa.text("position IS NOT NULL"),
    )
    op.create_index("ix_outbox_unsequenced", "outbox", ["id"], postgresql_where=sa.text("position IS NULL"))
    op.create_index("ix_outbox_sequenced_at", "outbox", ["sequenced_at"])


def create_producer_tables_v1(partitions: int = DEFAULT_PARTITIONS) -> None:
    """Migration step: the outbox and one head row per partition. Frozen: changes need a new step."""
    op.create_table("outbox", *_outbox_columns())
    _create_v1_position_indexes()
    op.create_table("outbox_heads", *_heads_columns())
    op.execute(f"INSERT INTO outbox_heads (partition) SELECT generate_series(0, {partitions - 1})")


def drop_producer_tables_v1() -> None:
    op.drop_table("outbox_heads")
    op.drop_table("outbox")


# --- v2: positions in a narrow table of their own ----------------------------------------------
#
# In v1 the sequencer set ``position`` and ``sequenced_at`` on each outbox row: an update of the wide
# row (the envelope copied) and of every index, since both columns were indexed, and bottom-up index
# deletion and vacuum of the dead rows after it. Under batch ingest that update was the largest
# single statement in PostgreSQL (docs/performance.md). In v2 a trigger queues each new outbox row's
# id in ``outbox_pending``; the sequencer takes queued ids and inserts one narrow ``outbox_positions``
# row per event. The outbox row itself is never updated (erasure's scrub aside).

_SEQUENCED_IN_ROW_V1 = frozenset({"position", "sequenced_at"})


def _pending_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("partition", sa.SmallInteger, nullable=False),
    ]


def _placed_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("partition", sa.SmallInteger, primary_key=True),
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("outbox_id", sa.BigInteger, nullable=False),
        sa.Column("sequenced_at", sa.TIMESTAMP(timezone=True), nullable=False),
    ]


# A trigger rather than a second insert in each producer's statement: outbox rows are also written by
# stored functions (loyalty's points move) and statements of their own (scoring's stage changes), and
# none of them can forget to queue a row. One statement-level insert per producing statement.
_QUEUE_FUNCTION_V2 = """
CREATE OR REPLACE FUNCTION outbox_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_pending (id, partition) SELECT id, partition FROM appended;
    RETURN NULL;
END
$$
"""

_QUEUE_TRIGGER_V2 = """
CREATE TRIGGER outbox_queue AFTER INSERT ON outbox REFERENCING NEW TABLE AS appended
FOR EACH STATEMENT EXECUTE FUNCTION outbox_queue()
"""


def split_positions_v2() -> None:
    """Migration step for a producing service: v1's positions move out of the outbox rows into
    ``outbox_positions``, the unsequenced rows into ``outbox_pending``, and the queueing trigger is
    installed. Frozen: changes need a new step."""
    op.create_table("outbox_pending", *_pending_columns())
    op.create_table("outbox_positions", *_placed_columns())
    op.execute(
        "INSERT INTO outbox_positions (partition, position, outbox_id, sequenced_at) "
        "SELECT partition, position, id, sequenced_at FROM outbox WHERE position IS NOT NULL"
    )
    op.execute(
        "INSERT INTO outbox_pending (id, partition) SELECT id, partition FROM outbox WHERE position IS NULL"
    )
    op.create_index(
        "ix_outbox_positions_sequenced_at", "outbox_positions", ["sequenced_at"], postgresql_using="brin"
    )
    op.drop_index("ux_outbox_partition_position", "outbox")
    op.drop_index("ix_outbox_unsequenced", "outbox")
    op.drop_index("ix_outbox_sequenced_at", "outbox")
    op.drop_column("outbox", "position")
    op.drop_column("outbox", "sequenced_at")
    op.execute(_QUEUE_FUNCTION_V2)
    op.execute(_QUEUE_TRIGGER_V2)


def join_positions_v2() -> None:
    """Undo :func:`split_positions_v2`: positions and queued rows go back into the outbox rows."""
    op.execute("DROP TRIGGER outbox_queue ON outbox")
    op.execute("DROP FUNCTION outbox_queue()")
    op.add_column("outbox", sa.Column("position", sa.BigInteger))
    op.add_column("outbox", sa.Column("sequenced_at", sa.TIMESTAMP(timezone=True)))
    op.execute(
        "UPDATE outbox o SET position = p.position, sequenced_at = p.sequenced_at "
        "FROM outbox_positions p WHERE p.outbox_id = o.id"
    )
    _create_v1_position_indexes()
    op.drop_table("outbox_positions")
    op.drop_table("outbox_pending")


def _positions_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("partition", sa.SmallInteger, primary_key=True),
        sa.Column("producer", sa.Text, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("head", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("owner", sa.Text),
        sa.Column("lease_expires_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("applied_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("lag_seconds", sa.Float, nullable=False, server_default="0"),
        sa.Column("behind_retention", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("last_error", sa.Text),
    ]


def _members_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("member_id", sa.Text, primary_key=True),
        sa.Column("heartbeat_at", sa.TIMESTAMP(timezone=True), nullable=False),
    ]


def _parked_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("consumer", sa.Text, nullable=False),
        sa.Column("producer", sa.Text, nullable=False),
        sa.Column("partition", sa.SmallInteger, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("parked_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def _parked_subject_columns() -> list[sa.Column[object]]:
    """Whose event a parked row holds (v2): erasure finds a customer's parked rows by them."""
    return [
        sa.Column("tenant_id", pg.UUID(as_uuid=True)),
        sa.Column("customer_id", pg.UUID(as_uuid=True)),
    ]


def consumer_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    """Declare ``consumer_positions``, ``consumer_members`` and ``consumer_parked``."""
    return (
        sa.Table("consumer_positions", metadata, *_positions_columns()),
        sa.Table("consumer_members", metadata, *_members_columns()),
        sa.Table(
            "consumer_parked",
            metadata,
            *_parked_columns(),
            *_parked_subject_columns(),
            sa.Index("ix_consumer_parked_consumer", "consumer", "partition"),
            sa.Index("ix_consumer_parked_customer", "tenant_id", "customer_id"),
        ),
    )


def create_consumer_tables_v1() -> None:
    """Migration step for a consuming service. Frozen: changes need a new step."""
    op.create_table("consumer_positions", *_positions_columns())
    op.create_table("consumer_members", *_members_columns())
    op.create_table("consumer_parked", *_parked_columns())
    op.create_index("ix_consumer_parked_consumer", "consumer_parked", ["consumer", "partition"])


def drop_consumer_tables_v1() -> None:
    op.drop_table("consumer_parked")
    op.drop_table("consumer_members")
    op.drop_table("consumer_positions")


def add_parked_subjects_v2() -> None:
    """Migration step for a consuming service: the parked rows' tenant and customer, filled in from
    their envelopes (parked rows are few: an operator acts on each). Frozen."""
    from patron.events.v1 import envelope_pb2

    op.add_column("consumer_parked", sa.Column("tenant_id", pg.UUID(as_uuid=True)))
    op.add_column("consumer_parked", sa.Column("customer_id", pg.UUID(as_uuid=True)))
    connection = op.get_bind()
    for row in connection.execute(sa.text("SELECT id, envelope FROM consumer_parked")).all():
        envelope = envelope_pb2.EventEnvelope.FromString(row.envelope)
        connection.execute(
            sa.text("UPDATE consumer_parked SET tenant_id = :tenant, customer_id = :customer WHERE id = :id"),
            {
                "id": row.id,
                "tenant": envelope.tenant_id or None,
                "customer": envelope.customer_id or None,
            },
        )
    op.create_index("ix_consumer_parked_customer", "consumer_parked", ["tenant_id", "customer_id"])


def drop_parked_subjects_v2() -> None:
    op.drop_index("ix_consumer_parked_customer", "consumer_parked")
    op.drop_column("consumer_parked", "customer_id")
    op.drop_column("consumer_parked", "tenant_id")


# --- Erasure: the outbox rows that carry a customer's free text, and who finished erasing whom ----

OUTBOX_TEXT_INDEX = "ix_outbox_customer_text"


def outbox_text_predicate(types: tuple[str, ...]) -> sa.TextClause:
    """The partial index's predicate: rows of a customer whose type carries free text."""
    if not all(t.replace(".", "").replace("_", "").isalnum() for t in types):
        raise ValueError(f"not event type names: {types!r}")
    listed = ", ".join(f"'{t}'" for t in types)  # checked above: names of the contract, no quotes
    return sa.text(f"customer_id IS NOT NULL AND type IN ({listed})")


def outbox_text_index(outbox: sa.Table, types: tuple[str, ...]) -> sa.Index:
    """Declare the index erasure finds a customer's outbox rows of ``types`` (the producer's events
    that carry free text) by; partial, so the events without free text cost nothing more."""
    return sa.Index(
        OUTBOX_TEXT_INDEX,
        outbox.c.tenant_id,
        outbox.c.customer_id,
        postgresql_where=outbox_text_predicate(types),
    )


def create_outbox_text_index_v1(types: tuple[str, ...]) -> None:
    """Migration step: :func:`outbox_text_index`, built CONCURRENTLY (the outbox is written all the
    time). Frozen for the given types: another set of types needs a new step."""
    with op.get_context().autocommit_block():
        op.create_index(
            OUTBOX_TEXT_INDEX,
            "outbox",
            ["tenant_id", "customer_id"],
            postgresql_where=outbox_text_predicate(types),
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def drop_outbox_text_index_v1() -> None:
    op.drop_index(OUTBOX_TEXT_INDEX, "outbox")


def _erasure_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("erased_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def erasure_table(metadata: sa.MetaData) -> sa.Table:
    """Declare ``customer_erasures``: one row per customer this service has finished erasing (the
    customer.erased event handled, in the handler's transaction), for ``GET .../erasure``."""
    return sa.Table("customer_erasures", metadata, *_erasure_columns())


def create_erasure_table_v1() -> None:
    """Migration step for a consuming service. Frozen."""
    op.create_table("customer_erasures", *_erasure_columns())


def drop_erasure_table_v1() -> None:
    op.drop_table("customer_erasures")
