"""The daily run's features key, and room on ``customer_scores`` pages (docs/scoring.md "The daily run").

- ``tenant_baselines.features_key`` records under which feature definition, time zone and currency
  the tenant's stored scores were last computed in full. A run whose key matches reads the
  day-independent features from the stored rows and only the recent facts; any other run recomputes
  every feature from the facts. Existing tenants have no key, so their next run is a full one.
- ``customer_scores`` gets ``fillfactor = 50``: a daily run rewrites nearly every buyer's row (their
  recency moves), and with half of each page free the new version stays on its page as a HOT update,
  without touching the two indexes (1 M rows: 20 s → 4 s). The table takes twice the pages. Pages
  already written keep their old fill until they are rewritten (``VACUUM FULL customer_scores`` in a
  quiet hour, or simply as rows move); the migration does not rewrite the table under a lock.

Revision ID: scoring_0012
Revises: scoring_0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "scoring_0012"
down_revision = "scoring_0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the key column (empty: every tenant's next run is a full one) and the fill factor."""
    op.add_column("tenant_baselines", sa.Column("features_key", sa.Text))
    op.execute("ALTER TABLE customer_scores SET (fillfactor = 50)")


def downgrade() -> None:
    """Drop the key column and the fill factor."""
    op.execute("ALTER TABLE customer_scores RESET (fillfactor)")
    op.drop_column("tenant_baselines", "features_key")
