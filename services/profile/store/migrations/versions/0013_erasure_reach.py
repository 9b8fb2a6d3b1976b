"""Erasure reaches the outbox: an index finds a customer's events that carry free text, so the
erasure's transaction blanks them (docs/security.md, "Privacy: export and erasure").

Partial on the event types whose payload carries free text (``runtime.events.erasure.FREE_TEXT``,
frozen here as they were), built CONCURRENTLY since the outbox is written all the time.

Revision ID: profile_0013
Revises: profile_0009
Create Date: 2026-12-08
"""

from services.runtime.events.tables import create_outbox_text_index_v1, drop_outbox_text_index_v1

revision = "profile_0013"
down_revision = "profile_0012"
branch_labels = None
depends_on = None

TEXT_TYPES = (
    "consent.changed",
    "customer.created",
    "customer.merged",
    "customer.updated",
    "event.recorded",
    "order.refunded",
)


def upgrade() -> None:
    create_outbox_text_index_v1(TEXT_TYPES)


def downgrade() -> None:
    drop_outbox_text_index_v1()
