"""Tables of saved segments and their live membership.

- ``segments``: the tenant's saved segments (name, condition as canonical JSON, current version);
  a deleted segment keeps its row with ``deleted_at`` so its id stays taken and answers 404;
- ``segment_versions``: every condition a segment has had, by version (events name the version);
- ``segment_members``: who is in a segment now, since when, and under which version they entered;
- ``segment_due``: the due-time index — per (segment, member or candidate) the next moment at which
  time alone may change the answer (a window closes, a tag expires, a birthday nears); the due
  worker re-evaluates only the rows whose moment has come;
- ``segment_sizes``: one row a day per segment, the member count at the daily snapshot.

Every key starts with ``tenant_id``.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.scoring.store.tables import metadata

_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)

segments = sa.Table(
    "segments",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("segment_id", _UUID, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("condition", pg.JSONB, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
    sa.Column("deleted_at", _TS),
    sa.Index(
        "segments_live_name",
        "tenant_id",
        "name",
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    ),
)

segment_versions = sa.Table(
    "segment_versions",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("segment_id", _UUID, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("condition", pg.JSONB, nullable=False),
    sa.Column("created_at", _TS, nullable=False),
)

segment_members = sa.Table(
    "segment_members",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("segment_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("entered_at", _TS, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index("segment_members_by_customer", "tenant_id", "customer_id"),
)

segment_due = sa.Table(
    "segment_due",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("segment_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("due_at", _TS, nullable=False),
    sa.Index("segment_due_by_time", "due_at"),
)

segment_sizes = sa.Table(
    "segment_sizes",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("segment_id", _UUID, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("members", sa.BigInteger, nullable=False),
    sa.Column("taken_at", _TS, nullable=False),
)
