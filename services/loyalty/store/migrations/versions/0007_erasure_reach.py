"""Erasure reaches the event backbone: the outbox index that finds a customer's points events (their
reason is free text), the parked events' tenant and customer, and ``customer_erasures`` (who this
service has finished erasing, for ``GET /v1/customers/{id}/erasure``). docs/security.md, "Privacy:
export and erasure".

Revision ID: loyalty_0007
Revises: loyalty_0006
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

revision = "loyalty_0007"
down_revision = "loyalty_0006"
branch_labels = None
depends_on = None

TEXT_TYPES = ("points.changed",)


def upgrade() -> None:
    add_parked_subjects_v2()
    create_erasure_table_v1()
    create_outbox_text_index_v1(TEXT_TYPES)


def downgrade() -> None:
    drop_outbox_text_index_v1()
    drop_erasure_table_v1()
    drop_parked_subjects_v2()
