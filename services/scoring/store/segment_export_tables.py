"""Tables of segment exports (docs/segments.md, "Exports").

- ``segment_exports``: one row per export — its status, progress (``done`` of ``total`` members of
  the snapshot, ``rows`` kept), the worker's lease, and its times;
- ``segment_export_rows``: the snapshot of the segment's members taken when the export started, one
  row per member numbered ``seq`` 1..total in customer id order; the worker fills each batch's masked
  contacts (profile's masked forms, never a clear value) and deletes the members profile no longer
  holds as live, in the transaction that advances ``done``. Rows past ``done`` are not processed yet.

Every key starts with ``tenant_id``.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.scoring.store.tables import metadata

_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)

EXPORT_STATUSES = ("queued", "running", "done", "failed", "expired")

segment_exports = sa.Table(
    "segment_exports",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("export_id", _UUID, primary_key=True),
    sa.Column("segment_id", _UUID, nullable=False),
    sa.Column("segment_version", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("done", sa.BigInteger, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),  # failed attempts in a row
    sa.Column("error", sa.Text),
    sa.Column("lease_owner", _UUID),
    sa.Column("lease_until", _TS),  # claimed until; or, released after a failure, not before
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("started_at", _TS),
    sa.Column("finished_at", _TS),
    sa.Column("expires_at", _TS),
    sa.CheckConstraint(
        "status IN ('queued', 'running', 'done', 'failed', 'expired')", name="ck_segment_exports_status"
    ),
    sa.CheckConstraint("done >= 0 AND done <= total AND rows <= done", name="ck_segment_exports_progress"),
    sa.Index(
        "segment_exports_active",
        "tenant_id",
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    ),
)

segment_export_rows = sa.Table(
    "segment_export_rows",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("export_id", _UUID, primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("customer_id", _UUID, nullable=False),
    sa.Column("entered_at", _TS, nullable=False),
    sa.Column("phone", sa.Text),  # masked by profile; None: none (or not processed yet)
    sa.Column("email", sa.Text),
)
