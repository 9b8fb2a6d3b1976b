"""``loyalty_move_points``: a redemption picks its lots once, not once per lot of the tenant.

The debit's ``live`` CTE (the customer's oldest-expiring lots, with a running sum) was referenced
once, so PostgreSQL inlined it into the ``UPDATE point_lots ... FROM live`` join. For a tenant the
table statistics did not know yet (a new merchant, every benchmark run), the planner estimated one
lot for the tenant and chose a nested loop over the tenant's lots with the inlined lot selection
(itself a walk of the tenant's lots by expiry) as its inner side: 5,000 lots in the tenant meant
about a million buffer reads and 1.4 s per redemption, and the points API fell from 1,300 to 41
operations/s on one running system (docs/loyalty.md, "A plan for an unknown tenant").
``MATERIALIZED`` computes the lot selection once, whatever the estimates; the hot pool's generic
plans (``hot_pool``) keep it on the customer's own index.

The function is the one of loyalty_0006 with that single change, derived from its text so they
cannot drift apart; the downgrade puts 0006's back.

Revision ID: loyalty_0009
Revises: loyalty_0008
Create Date: 2026-12-05
"""

from alembic import op

from services.runtime.migrations import earlier_revision

revision = "loyalty_0009"
down_revision = "loyalty_0008"
branch_labels = None
depends_on = None

_LIVE = "        WITH live AS (\n"
_LIVE_MATERIALIZED = "        WITH live AS MATERIALIZED (\n"


def _function(materialized: bool) -> str:
    text: str = earlier_revision(__file__, "0006_move_points_key_remembers.py")._function(compared=True)
    if text.count(_LIVE) != 1:
        raise RuntimeError("loyalty_0006's lot selection is not where loyalty_0009 expects it")
    return text.replace(_LIVE, _LIVE_MATERIALIZED) if materialized else text


def upgrade() -> None:
    op.execute(_function(materialized=True))


def downgrade() -> None:
    op.execute(_function(materialized=False))
