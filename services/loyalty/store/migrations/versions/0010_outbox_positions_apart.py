"""The outbox's positions move into a narrow table of their own, and a trigger queues new rows for
the sequencer, so sequencing inserts two numbers per event instead of rewriting the outbox row and
its indexes (docs/performance.md, "Positions apart from the outbox rows").

Revision ID: loyalty_0010
Revises: loyalty_0009
Create Date: 2026-12-06
"""

from services.runtime.events.tables import join_positions_v2, split_positions_v2

revision = "loyalty_0010"
down_revision = "loyalty_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    split_positions_v2()


def downgrade() -> None:
    join_positions_v2()
