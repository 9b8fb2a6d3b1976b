"""Erasure reaches the event backbone: the outbox index that finds a customer's failed-message
events (their reason is the provider's error, which may quote the address), the parked events'
tenant and customer, and ``customer_erasures`` (who this service has finished erasing, for
``GET /v1/customers/{id}/erasure``). docs/security.md, "Privacy: export and erasure".

Revision ID: notify_0006
Revises: notify_0005
Create Date: 2026-12-08
"""

from services.runtime.events.tables import (
    add_parked_subjects_v2,
    create_erasure_table_v1,
    create_outbox_text_index_v1,
    drop_erasure_table_v1,
    drop_outbox_text_index_v1,
    drop_parked_subjects_v2,
)

revision = "notify_0006"
down_revision = "notify_0005"
branch_labels = None
depends_on = None

TEXT_TYPES = ("message.failed",)


def upgrade() -> None:
    add_parked_subjects_v2()
    create_erasure_table_v1()
    create_outbox_text_index_v1(TEXT_TYPES)


def downgrade() -> None:
    drop_outbox_text_index_v1()
    drop_erasure_table_v1()
    drop_parked_subjects_v2()
