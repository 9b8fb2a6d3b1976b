"""Tables of the profile service's tag and consent capabilities (declared on the shared metadata).

The taxonomy is soft-deleted (``deleted_at``) so that the ids in past tag.changed events keep a name;
names are unique per parent among live rows only, through ``name_key`` (the case-folded name).
Assignments and consent rows go with their customer (ON DELETE CASCADE) when it is erased.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.profile.store.tables import metadata

_NOW = sa.func.now()

tag_groups = sa.Table(
    "tag_groups",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("group_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("name_key", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
    sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
    sa.Column("deleted_at", sa.TIMESTAMP(timezone=True)),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
    sa.CheckConstraint(
        "kind IN ('static', 'dynamic', 'preference', 'predictive')", name="ck_tag_groups_kind"
    ),
    sa.Index(
        "ux_tag_groups_live_name",
        "tenant_id",
        "kind",
        "name_key",
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    ),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("tag_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("group_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("name_key", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
    sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
    sa.Column("deleted_at", sa.TIMESTAMP(timezone=True)),
    sa.ForeignKeyConstraint(["tenant_id", "group_id"], ["tag_groups.tenant_id", "tag_groups.group_id"]),
    sa.Index(
        "ux_tags_live_name",
        "tenant_id",
        "group_id",
        "name_key",
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    ),
)

customer_tags = sa.Table(
    "customer_tags",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("tag_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("expires_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("applied_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
    sa.ForeignKeyConstraint(
        ["tenant_id", "customer_id"], ["customers.tenant_id", "customers.customer_id"], ondelete="CASCADE"
    ),
    sa.ForeignKeyConstraint(["tenant_id", "tag_id"], ["tags.tenant_id", "tags.tag_id"]),
    # Who carries a tag (segments, tag deletion).
    sa.Index("ix_customer_tags_tag", "tenant_id", "tag_id"),
)

consents = sa.Table(
    "consents",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("channel", sa.Text, primary_key=True),
    sa.Column("purpose", sa.Text, primary_key=True),
    sa.Column("granted", sa.Boolean, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("changed_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
    sa.ForeignKeyConstraint(
        ["tenant_id", "customer_id"], ["customers.tenant_id", "customers.customer_id"], ondelete="CASCADE"
    ),
    sa.CheckConstraint("channel IN ('sms', 'email', 'push', 'wechat')", name="ck_consents_channel"),
    sa.CheckConstraint("purpose IN ('marketing', 'service')", name="ck_consents_purpose"),
)

consent_history = sa.Table(
    "consent_history",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("change_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("granted", sa.Boolean, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("changed_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
    sa.ForeignKeyConstraint(
        ["tenant_id", "customer_id"], ["customers.tenant_id", "customers.customer_id"], ondelete="CASCADE"
    ),
    sa.Index("ix_consent_history_customer", "tenant_id", "customer_id", "change_id"),
)
