"""Erasure reaches the event backbone: the outbox index that finds a customer's failed-message
events (their reason is the provider's error, which may quote the address), the parked events'
tenant and customer, and ``customer_erasures`` (who this service has finished erasing, for
``GET /v1/customers/{id}/erasure``). docs/security.md, "Privacy: export and erasure".

Revision ID: notify_0006
Revises: notify_0005
Create Date: 2026-12-08
"""

from alembic import op

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
    # Customers erased before this revision: their erasure here was done then (when the event said),
    # and their parked events have nothing left to apply to.
    op.execute(
        "INSERT INTO customer_erasures (tenant_id, customer_id, erased_at) "
        "SELECT tenant_id, customer_id, erased_at FROM customer_states WHERE erased_at IS NOT NULL"
    )
    op.execute(
        "DELETE FROM consumer_parked AS p USING customer_states AS c WHERE p.tenant_id = c.tenant_id "
        "AND p.customer_id = c.customer_id AND c.erased_at IS NOT NULL"
    )
    create_outbox_text_index_v1(TEXT_TYPES)


def downgrade() -> None:
    drop_outbox_text_index_v1()
    drop_erasure_table_v1()
    drop_parked_subjects_v2()
