"""``loyalty_move_points``: a credit whose key is booked concurrently answers LY409, not a crash.

Two credits with one idempotency key (a client's retry racing its first attempt) both pass the
replay check before either commits; the second then waits for the account's row lock, and when
it gets it the lot it opens has the id the first one already used (the lot id is the entry id,
derived from the key). That insert raised a unique violation (``point_lots_pkey``), which reached
the client as an internal error, where the same race on a debit answers LY409 (the entry's
``ON CONFLICT``) and a retry answers the first booking. The lot insert now conflicts quietly and
raises LY409 too, undoing the statement.

The function is the one of loyalty_0004 with that single change, derived from its text so the
two cannot drift apart; the downgrade puts 0004's back.

Revision ID: loyalty_0005
Revises: loyalty_0004
Create Date: 2026-11-24
"""

from alembic import op

from services.runtime.migrations import earlier_revision

revision = "loyalty_0005"
down_revision = "loyalty_0004"
branch_labels = None
depends_on = None

_LOT_INSERT = """\
        INSERT INTO point_lots (tenant_id, lot_id, customer_id, earned, remaining, earned_at, expires_at)
        VALUES (p_tenant, p_entry, p_customer, v_points, v_points, p_occurred, p_expires);
"""
_LOT_INSERT_GUARDED = """\
        INSERT INTO point_lots AS lot (tenant_id, lot_id, customer_id, earned, remaining, earned_at,
                                       expires_at)
        VALUES (p_tenant, p_entry, p_customer, v_points, v_points, p_occurred, p_expires)
        ON CONFLICT (tenant_id, lot_id) DO NOTHING
        RETURNING lot.lot_id INTO v_entry;
        IF NOT FOUND THEN  -- the key's credit was booked concurrently: undo, the caller retries
            RAISE EXCEPTION 'idempotency key % was booked concurrently', p_key USING ERRCODE = 'LY409';
        END IF;
"""


def _function(guarded: bool) -> str:
    text: str = earlier_revision(__file__, "0004_move_points_function.py")._MOVE
    if text.count(_LOT_INSERT) != 1:
        raise RuntimeError("loyalty_0004's lot insert is not where loyalty_0005 expects it")
    text = text.replace(
        "CREATE FUNCTION loyalty_move_points(", "CREATE OR REPLACE FUNCTION loyalty_move_points("
    )
    return text.replace(_LOT_INSERT, _LOT_INSERT_GUARDED) if guarded else text


def upgrade() -> None:
    op.execute(_function(guarded=True))


def downgrade() -> None:
    op.execute(_function(guarded=False))
