"""The profile service's tables. ``tenant_id`` leads every key except the API-key hash."""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.runtime.events.erasure import free_text_types
from services.runtime.events.tables import outbox_text_index, producer_tables
from services.runtime.tenant_store import tenants_table

metadata = sa.MetaData()

tenants = tenants_table(metadata)

outbox, outbox_heads = producer_tables(metadata)
outbox_text_index(outbox, free_text_types("profile"))

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_sha256", sa.LargeBinary, primary_key=True),
    sa.Column("tenant_id", pg.UUID(as_uuid=True), sa.ForeignKey("tenants.tenant_id"), nullable=False),
    sa.Column("prefix", sa.Text, nullable=False),
    sa.Column("scopes", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("revoked_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("key_id", pg.UUID(as_uuid=True), nullable=False, server_default=sa.text("gen_random_uuid()")),
    sa.Column("name", sa.Text, nullable=False, server_default="default"),
    sa.Column("expires_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("last_used_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("rolled_from", pg.UUID(as_uuid=True)),
    sa.CheckConstraint("octet_length(key_sha256) = 32", name="ck_api_keys_sha256_length"),
    sa.Index("ix_api_keys_tenant", "tenant_id"),
    sa.Index("ux_api_keys_key_id", "key_id", unique=True),
)

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("nickname_enc", sa.LargeBinary),
    sa.Column("gender", sa.Text),
    sa.Column("birthday", sa.Date),
    sa.Column("province", sa.Text),
    sa.Column("city", sa.Text),
    sa.Column("registered_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("registration_channel", sa.Text),
    sa.Column("device", sa.Text),
    sa.Column("timezone", sa.Text),  # the customer's IANA zone
    sa.Column("custom", pg.JSONB, nullable=False, server_default="{}"),
    sa.Column("merged_into", pg.UUID(as_uuid=True)),
    sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("erased_at", sa.TIMESTAMP(timezone=True)),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
    sa.Index("ix_customers_listing", "tenant_id", "created_at", "customer_id"),
)

# The attribute columns of a customer (all personal: blanked on erasure, filled in by a merge).
ATTRIBUTE_COLUMNS = (
    "nickname_enc",
    "gender",
    "birthday",
    "province",
    "city",
    "registered_at",
    "registration_channel",
    "device",
    "timezone",
)

# Every merge, for the record: who was folded into whom, when and why ("identify" or "manual").
customer_merges = sa.Table(
    "customer_merges",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("merged_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("survivor_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("merged_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
)

# Every tag put on or taken off a customer (the current state is customer_tags), for the timeline.
customer_tag_history = sa.Table(
    "customer_tag_history",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("change_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("tag_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("tag_name", sa.Text, nullable=False),
    sa.Column("applied", sa.Boolean, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("expires_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("changed_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_customer_tag_history_customer", "tenant_id", "customer_id", "changed_at"),
)

# The gateway's Idempotency-Key records: the answer to a request, replayed for a repeat of it.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("request_sha256", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("body", sa.LargeBinary),
    sa.Column("content_type", sa.Text),
    sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("expires_at", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('pending', 'done')", name="ck_idempotency_keys_state"),
    sa.Index("ix_idempotency_keys_expires", "expires_at"),
)

# Keyed hashes of erased customers' identities: identifying one again starts a new, empty customer.
suppressed_identities = sa.Table(
    "suppressed_identities",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("type", sa.Text, primary_key=True),
    sa.Column("value_hash", sa.LargeBinary, primary_key=True),
    sa.Column("erased_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
)

identities = sa.Table(
    "identities",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("type", sa.Text, primary_key=True),
    sa.Column("value_hash", sa.LargeBinary, primary_key=True),
    sa.Column("value_enc", sa.LargeBinary, nullable=False),
    sa.Column("value_masked", sa.Text, nullable=False),
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    # When a call first said the person proved it (docs/security.md "Verified identities"); never unset.
    sa.Column("verified_at", sa.TIMESTAMP(timezone=True)),
    sa.ForeignKeyConstraint(
        ["tenant_id", "customer_id"], ["customers.tenant_id", "customers.customer_id"], ondelete="CASCADE"
    ),
    sa.Index("ix_identities_customer", "tenant_id", "customer_id"),
)

# A tenant's identity-resolution settings (no row: the defaults of domain.identity_resolution).
identity_resolution_settings = sa.Table(
    "identity_resolution_settings",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), sa.ForeignKey("tenants.tenant_id"), primary_key=True),
    sa.Column("auto_merge_types", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
)

# Two customers one call's identities pointed at but that were not merged (the link was neither
# verified nor of an auto-merge type), for an operator to accept (merge) or dismiss. At most one open
# suggestion per pair; a merge re-points open ones to the survivor, an erasure closes them.
merge_suggestions = sa.Table(
    "merge_suggestions",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("suggestion_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),  # the one the call went to
    sa.Column("other_customer_id", pg.UUID(as_uuid=True), nullable=False),  # the one left apart
    sa.Column("identity_type", sa.Text, nullable=False),
    sa.Column("identity_masked", sa.Text),  # the masked form only; blanked when either is erased
    sa.Column("status", sa.Text, nullable=False, server_default="open"),
    sa.Column("occurrences", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("last_seen_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("decided_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("decided_by", sa.Text),
    sa.Column("close_reason", sa.Text),
    sa.Column("survivor_id", pg.UUID(as_uuid=True)),
    sa.CheckConstraint(
        "status IN ('open', 'accepted', 'dismissed', 'closed')", name="ck_merge_suggestions_status"
    ),
    sa.CheckConstraint("customer_id <> other_customer_id", name="ck_merge_suggestions_pair"),
    sa.Index("ix_merge_suggestions_listing", "tenant_id", "created_at", "suggestion_id"),
    sa.Index("ix_merge_suggestions_status", "tenant_id", "status", "created_at", "suggestion_id"),
    sa.Index("ix_merge_suggestions_customer", "tenant_id", "customer_id"),
    sa.Index("ix_merge_suggestions_other", "tenant_id", "other_customer_id"),
)
# At most one open suggestion per pair, whichever way round (``ON CONFLICT`` infers this index).
sa.Index(
    "ux_merge_suggestions_open_pair",
    merge_suggestions.c.tenant_id,
    sa.func.least(merge_suggestions.c.customer_id, merge_suggestions.c.other_customer_id),
    sa.func.greatest(merge_suggestions.c.customer_id, merge_suggestions.c.other_customer_id),
    unique=True,
    postgresql_where=merge_suggestions.c.status == "open",
)


# Each capability declares its tables in its own module on the same metadata; importing them here
# makes ``metadata`` complete for Alembic and for the tests that compare it with the migrations.
from services.profile.store import (  # noqa: E402, F401
    audit_tables,
    behaviour_tables,
    operator_tables,
    order_tables,
    tag_tables,
)
