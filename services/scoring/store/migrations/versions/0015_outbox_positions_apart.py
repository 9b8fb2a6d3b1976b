"""The outbox's positions move into a narrow table of their own, and a trigger queues new rows for
the sequencer, so sequencing inserts two numbers per event instead of rewriting the outbox row and
its indexes (docs/performance.md, "Positions apart from the outbox rows").

Revision ID: scoring_0015
Revises: scoring_0014
Create Date: 2026-12-06
"""

from services.runtime.events.tables import join_positions_v2, split_positions_v2

revision = "scoring_0015"
down_revision = "scoring_0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    split_positions_v2()


def downgrade() -> None:
    join_positions_v2()
