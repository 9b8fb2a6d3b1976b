"""``loyalty_move_points``: an idempotency key remembers what it moved.

The replay check answered the first booking for any request under the same key, whatever it
asked. A key reused for another customer, another kind of movement (earn, redeem, adjust, ...) or
another amount was answered as a replay of the first, silently. The entry booked under the key
already says what it moved (``customer_id``, ``type``, ``delta``), so the replay check now compares
them with the request in the same statement and answers ``mismatch`` when any differs; nothing is
changed then. A merged-away customer's entries belong to the survivor, and a request names the
survivor once resolved, so a replay through a merged-away id still matches.

The function is the one of loyalty_0005 with that single change, derived from its text so the
three cannot drift apart; the downgrade puts 0005's back.

Revision ID: loyalty_0006
Revises: loyalty_0005
Create Date: 2026-12-05
"""

from alembic import op

from services.runtime.migrations import earlier_revision

revision = "loyalty_0006"
down_revision = "loyalty_0005"
branch_labels = None
depends_on = None

_DECLARE = """\
    v_debt bigint;
BEGIN
"""
_DECLARE_PRIOR = """\
    v_debt bigint;
    v_prior_customer uuid;
    v_prior_type text;
    v_prior_delta bigint;
BEGIN
"""
_REPLAY = """\
    SELECT e.entry_id, e.balance_after INTO v_entry, v_balance
    FROM point_entries AS e WHERE e.tenant_id = p_tenant AND e.idempotency_key = p_key;
    IF FOUND THEN
        RETURN QUERY SELECT 'replayed'::text, v_entry, v_balance, p_customer;
        RETURN;
    END IF;
"""
_REPLAY_COMPARED = """\
    SELECT e.entry_id, e.balance_after, e.customer_id, e.type, e.delta
    INTO v_entry, v_balance, v_prior_customer, v_prior_type, v_prior_delta
    FROM point_entries AS e WHERE e.tenant_id = p_tenant AND e.idempotency_key = p_key;
    IF FOUND THEN
        IF v_prior_customer <> p_customer OR v_prior_type <> p_type OR v_prior_delta <> p_delta THEN
            -- the key moved something else: nothing changes, the caller answers 409
            RETURN QUERY SELECT 'mismatch'::text, NULL::uuid, NULL::bigint, v_prior_customer;
            RETURN;
        END IF;
        RETURN QUERY SELECT 'replayed'::text, v_entry, v_balance, p_customer;
        RETURN;
    END IF;
"""


def _function(compared: bool) -> str:
    text: str = earlier_revision(__file__, "0005_move_points_lot_race.py")._function(guarded=True)
    if text.count(_REPLAY) != 1 or text.count(_DECLARE) != 1:
        raise RuntimeError("loyalty_0005's replay check is not where loyalty_0006 expects it")
    if not compared:
        return text
    return text.replace(_DECLARE, _DECLARE_PRIOR).replace(_REPLAY, _REPLAY_COMPARED)


def upgrade() -> None:
    op.execute(_function(compared=True))


def downgrade() -> None:
    op.execute(_function(compared=False))
