"""Tables of notify's messaging (declared on the shared metadata; migration notify_0002).

- ``channels``: a tenant's provider per channel; its secrets sealed (``sealing.py``), never read back
  out through the API.
- ``policies``: the tenant's policy document (caps, quiet hours), parsed by ``domain/policy.py``.
- ``templates``: Liquid per channel and purpose; ``personal_fields`` are what it prints of a customer.
- ``consents``: the latest consent per customer, channel and purpose, kept from profile's
  ``consent.changed`` (no row: no marketing consent).
- ``suppressions``: customers notify itself stopped reaching on a channel (an unsubscribe, a hard
  bounce, WeChat's "user refused"); ``scope`` is '' for the whole channel or a template id.
- ``customer_states``: erased customers and merged-away ids (to their survivor).
- ``messages``: one row per message, from queued to its last state. Contacts are kept masked only;
  the rendered text is erased with the customer.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.notify.store.tables import metadata

_NOW = sa.func.now()
_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)


def _tenant_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"])


channels = sa.Table(
    "channels",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("channel", sa.Text, primary_key=True),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("settings", pg.JSONB, nullable=False),
    sa.Column("sealed_secrets", sa.LargeBinary),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("updated_at", _TS, nullable=False, server_default=_NOW),
    _tenant_fk(),
    sa.CheckConstraint("channel IN ('sms', 'email', 'push', 'wechat')", name="ck_channels_channel"),
)

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("document", pg.JSONB, nullable=False),
    sa.Column("updated_at", _TS, nullable=False, server_default=_NOW),
    _tenant_fk(),
)

templates = sa.Table(
    "templates",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("template_id", _UUID, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("subject", sa.Text),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("html", sa.Text),
    sa.Column("provider_template", sa.Text),
    sa.Column("provider_params", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("personal_fields", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("created_at", _TS, nullable=False, server_default=_NOW),
    sa.Column("updated_at", _TS, nullable=False, server_default=_NOW),
    _tenant_fk(),
    sa.UniqueConstraint("tenant_id", "name", name="uq_templates_name"),
    sa.CheckConstraint("channel IN ('sms', 'email', 'push', 'wechat')", name="ck_templates_channel"),
    sa.CheckConstraint("purpose IN ('marketing', 'service')", name="ck_templates_purpose"),
)

consents = sa.Table(
    "consents",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("channel", sa.Text, primary_key=True),
    sa.Column("purpose", sa.Text, primary_key=True),
    sa.Column("granted", sa.Boolean, nullable=False),
    sa.Column("changed_at", _TS, nullable=False),
    _tenant_fk(),
)

suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("channel", sa.Text, primary_key=True),
    sa.Column("scope", sa.Text, primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", _TS, nullable=False, server_default=_NOW),
    _tenant_fk(),
    sa.CheckConstraint("reason IN ('unsubscribed', 'bounced', 'refused')", name="ck_suppressions_reason"),
)

customer_states = sa.Table(
    "customer_states",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("erased_at", _TS),
    sa.Column("merged_into", _UUID),
    _tenant_fk(),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("message_id", _UUID, primary_key=True),
    sa.Column("tenant_id", _UUID, nullable=False),
    sa.Column("customer_id", _UUID, nullable=False),
    sa.Column("template_id", _UUID, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("sender", sa.Text, nullable=False),
    sa.Column("sender_ref", sa.Text),
    sa.Column("dedupe_key", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("contact_masked", sa.Text),
    sa.Column("subject", sa.Text),
    sa.Column("body", sa.Text),
    sa.Column("html", sa.Text),
    sa.Column("provider_template", sa.Text),
    sa.Column("provider_params", pg.JSONB),
    sa.Column("data", pg.JSONB),
    sa.Column("created_at", _TS, nullable=False, server_default=_NOW),
    sa.Column("due_at", _TS),
    # a campaign's message waiting to be rendered when due (docs/campaigns.md "Sending"): due_at is
    # NULL until then, so the delivery worker never sees it unrendered
    sa.Column("render_at", _TS),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("claimed_until", _TS),
    sa.Column("in_flight", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("provider", sa.Text),
    sa.Column("provider_message_id", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("sent_at", _TS),
    sa.Column("delivered_at", _TS),
    sa.Column("opened_at", _TS),
    sa.Column("clicked_at", _TS),
    sa.Column("failed_at", _TS),
    sa.Column("converted_at", _TS),
    sa.Column("conversion_order_id", sa.Text),
    sa.Column("conversion_amount_minor", sa.BigInteger),
    sa.Column("conversion_currency", sa.Text),
    _tenant_fk(),
    sa.CheckConstraint(
        "status IN ('queued', 'deferred', 'sent', 'delivered', 'opened', 'clicked', 'failed', 'suppressed')",
        name="ck_messages_status",
    ),
    sa.CheckConstraint("purpose IN ('marketing', 'service')", name="ck_messages_purpose"),
)
sa.Index(
    "uq_messages_dedupe",
    messages.c.tenant_id,
    messages.c.dedupe_key,
    unique=True,
    postgresql_where=messages.c.dedupe_key.isnot(None),
)
sa.Index("ix_messages_customer", messages.c.tenant_id, messages.c.customer_id, messages.c.created_at)
sa.Index(
    "ix_messages_due",
    messages.c.due_at,
    postgresql_where=messages.c.status.in_(["queued", "deferred"]),
)
sa.Index(
    "ix_messages_render",
    messages.c.tenant_id,
    messages.c.sender_ref,
    messages.c.render_at,
    postgresql_where=messages.c.render_at.isnot(None),
)
sa.Index(
    "ix_messages_campaign",
    messages.c.tenant_id,
    messages.c.sender_ref,
    messages.c.status,
    postgresql_where=messages.c.sender == "campaign",
)
sa.Index(
    "ix_messages_provider_id",
    messages.c.provider,
    messages.c.provider_message_id,
    postgresql_where=messages.c.provider_message_id.isnot(None),
)
