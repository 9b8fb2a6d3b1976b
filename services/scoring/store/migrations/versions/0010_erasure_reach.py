"""Erasure reaches the event backbone: the parked events' tenant and customer, and
``customer_erasures`` (who this service has finished erasing, for ``GET /v1/customers/{id}/erasure``).
Scoring's own events carry no free text, so its outbox needs no index. docs/security.md, "Privacy:
export and erasure".

Revision ID: scoring_0010
Revises: scoring_0009
Create Date: 2026-12-08
"""

from alembic import op

from services.runtime.events.tables import (
    add_parked_subjects_v2,
    create_erasure_table_v1,
    drop_erasure_table_v1,
    drop_parked_subjects_v2,
)

revision = "scoring_0010"
down_revision = "scoring_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_parked_subjects_v2()
    create_erasure_table_v1()
    # Customers erased before this revision: their erasure here was done then (when the event said),
    # and their parked events have nothing left to apply to.
    op.execute(
        "INSERT INTO customer_erasures (tenant_id, customer_id, erased_at) "
        "SELECT tenant_id, customer_id, erased_at FROM customers WHERE erased_at IS NOT NULL"
    )
    op.execute(
        "DELETE FROM consumer_parked AS p USING customers AS c WHERE p.tenant_id = c.tenant_id "
        "AND p.customer_id = c.customer_id AND c.erased_at IS NOT NULL"
    )


def downgrade() -> None:
    drop_erasure_table_v1()
    drop_parked_subjects_v2()
