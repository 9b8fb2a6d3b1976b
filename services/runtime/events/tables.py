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
    """Declare ``outbox`` and ``outbox_heads`` in a producing service's metadata."""
    outbox = sa.Table(
        "outbox",
        metadata,
        *_outbox_columns(),
        sa.Index(
            "ux_outbox_partition_position",
            "partition",
            "position",
            unique=True,
            postgresql_where=sa.text("position IS NOT NULL"),
        ),
        sa.Index("ix_outbox_unsequenced", "id", postgresql_where=sa.text("position IS NULL")),
        sa.Index("ix_outbox_sequenced_at", "sequenced_at"),
    )
    heads = sa.Table("outbox_heads", metadata, *_heads_columns())
    return outbox, heads


def create_producer_tables_v1(partitions: int = DEFAULT_PARTITIONS) -> None:
    """Migration step: the outbox and one head row per partition. Frozen: changes need a new step."""
    op.create_table("outbox", *_outbox_columns())
    op.create_index(
        "ux_outbox_partition_position",
        "outbox",
        ["partition", "position"],
        unique=True,
        postgresql_where=sa.text("position IS NOT NULL"),
    )
    op.create_index("ix_outbox_unsequenced", "outbox", ["id"], postgresql_where=sa.text("position IS NULL"))
    op.create_index("ix_outbox_sequenced_at", "outbox", ["sequenced_at"])
    op.create_table("outbox_heads", *_heads_columns())
    op.execute(f"INSERT INTO outbox_heads (partition) SELECT generate_series(0, {partitions - 1})")


def drop_producer_tables_v1() -> None:
    op.drop_table("outbox_heads")
    op.drop_table("outbox")


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
