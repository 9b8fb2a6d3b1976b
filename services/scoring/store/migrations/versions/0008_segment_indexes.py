"""Indexes for segment previews: the live customers, RFM groups, tag holders, behaviour windows.

- ``customers_live``: the ids of the live customers (not merged, not erased), read index-only to
  check a fact's customer is a member instead of every customer's heap row;
- ``customer_scores_by_group``: the customers of an RFM group, read index-only;
- ``audience_tags_by_tag`` now covers ``customer_id`` (key) and ``expires_at``, so the holders of
  some tags are read index-only in one ``tag_id = ANY`` pass;
- ``behaviour_events_by_type`` now carries ``customer_id``, so a window of one event type is read
  index-only instead of fetching every event's row from the 20 M-row heap.

docs/segments.md ("Preview": what each costs in bytes and in writes). On the benchmark tenant
(1 M customers, 20 M behaviour events) the two rebuilt indexes take about a minute to build, most of
it ``behaviour_events_by_type``; writes to the tables wait meanwhile.

Revision ID: scoring_0008
Revises: scoring_0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "scoring_0008"
down_revision = "scoring_0007"
branch_labels = None
depends_on = None

_LIVE = sa.text("merged_into IS NULL AND erased_at IS NULL")


def upgrade() -> None:
    op.create_index("customers_live", "customers", ["tenant_id", "customer_id"], postgresql_where=_LIVE)
    op.create_index("customer_scores_by_group", "customer_scores", ["tenant_id", "rfm_group", "customer_id"])
    op.drop_index("audience_tags_by_tag", table_name="audience_tags")
    op.create_index(
        "audience_tags_by_tag",
        "audience_tags",
        ["tenant_id", "tag_id", "customer_id"],
        postgresql_include=["expires_at"],
    )
    op.drop_index("behaviour_events_by_type", table_name="behaviour_events")
    op.create_index(
        "behaviour_events_by_type",
        "behaviour_events",
        ["tenant_id", "event_type", "occurred_at"],
        postgresql_include=["customer_id"],
    )


def downgrade() -> None:
    op.drop_index("behaviour_events_by_type", table_name="behaviour_events")
    op.create_index(
        "behaviour_events_by_type", "behaviour_events", ["tenant_id", "event_type", "occurred_at"]
    )
    op.drop_index("audience_tags_by_tag", table_name="audience_tags")
    op.create_index("audience_tags_by_tag", "audience_tags", ["tenant_id", "tag_id"])
    op.drop_index("customer_scores_by_group", table_name="customer_scores")
    op.drop_index("customers_live", table_name="customers")
