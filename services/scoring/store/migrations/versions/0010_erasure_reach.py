"""Erasure reaches the event backbone: the parked events' tenant and customer, and
``customer_erasures`` (who this service has finished erasing, for ``GET /v1/customers/{id}/erasure``).
Scoring's own events carry no free text, so its outbox needs no index. docs/security.md, "Privacy:
export and erasure".

Revision ID: scoring_0010
Revises: scoring_0009
Create Date: 2026-12-08
"""

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


def downgrade() -> None:
    drop_erasure_table_v1()
    drop_parked_subjects_v2()
