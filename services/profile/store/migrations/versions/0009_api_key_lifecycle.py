"""API keys get a public id, a name, an expiry, a last-used time and the key they were rolled from;
the scopes become API.md's (ingest, read, points, privacy, operate): every key issued before had all
of the old ones, so it gets all of the new ones.

Revision ID: profile_0009
Revises: profile_0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "profile_0009"
down_revision = "profile_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column(
            "key_id", pg.UUID(as_uuid=True), nullable=False, server_default=sa.text("gen_random_uuid()")
        ),
    )
    op.add_column("api_keys", sa.Column("name", sa.Text, nullable=False, server_default="default"))
    op.add_column("api_keys", sa.Column("expires_at", sa.TIMESTAMP(timezone=True)))
    op.add_column("api_keys", sa.Column("last_used_at", sa.TIMESTAMP(timezone=True)))
    op.add_column("api_keys", sa.Column("rolled_from", pg.UUID(as_uuid=True)))
    op.create_index("ux_api_keys_key_id", "api_keys", ["key_id"], unique=True)
    op.execute("UPDATE api_keys SET scopes = '{ingest,read,points,privacy,operate}'")


def downgrade() -> None:
    op.execute("UPDATE api_keys SET scopes = '{customers,events,orders,loyalty,scoring,notify}'")
    op.drop_index("ux_api_keys_key_id", table_name="api_keys")
    for column in ("rolled_from", "last_used_at", "expires_at", "name", "key_id"):
        op.drop_column("api_keys", column)
