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


def consumer_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    """Declare ``consumer_positions``, ``consumer_members`` and ``consumer_parked``."""
    return (
        sa.Table("consumer_positions", metadata, *_positions_columns()),
        sa.Table("consumer_members", metadata, *_members_columns()),
        sa.Table(
            "consumer_parked",
            metadata,
            *_parked_columns(),
            sa.Index("ix_consumer_parked_consumer", "consumer", "partition"),
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
