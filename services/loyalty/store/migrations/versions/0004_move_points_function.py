"""One round trip per points movement: ``loyalty_move_points``, a stored function.

A credit or a debit used to be four to six statements (guarded update, lot consumption, entry,
lot, outbox row), with the account's row lock held across all of their round trips. The function
does the same work in one call, so a hot account is locked for one statement's execution only:

resolve the customer (optional) → check the programme version (optional) → replay of the
idempotency key → guarded balance change (a debit: ``UPDATE ... WHERE balance >= n``; a credit:
the row locked, an account with debt is left to the caller's repayment path) → lots (a debit
consumes the oldest-expiring first; a credit opens one) → the immutable entry → the
``points.changed`` outbox row.

The outbox row's envelope is serialised by the caller without the balance (not known before the
update); the function appends the balance as a second occurrence of the envelope's
``points_changed`` field holding only ``balance`` (field 4), which protobuf parsers merge into the
first (encoding rules: a repeated embedded message field is merged).

Revision ID: loyalty_0004
Revises: loyalty_0003
Create Date: 2026-11-24
"""

from alembic import op

revision = "loyalty_0004"
down_revision = "loyalty_0003"
branch_labels = None
depends_on = None

_VARINT = r"""
CREATE FUNCTION loyalty_pb_varint(value bigint) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    encoded bytea := '\x'::bytea;
    rest bigint := value;
BEGIN
    IF rest < 0 THEN
        RAISE EXCEPTION 'loyalty_pb_varint: % is negative', value;
    END IF;
    LOOP
        IF rest < 128 THEN
            RETURN encoded || set_byte('\x00'::bytea, 0, rest::integer);
        END IF;
        encoded := encoded || set_byte('\x00'::bytea, 0, ((rest & 127) | 128)::integer);
        rest := rest >> 7;
    END LOOP;
END
$$
"""

# '\xc202' is the tag of EventEnvelope.points_changed (field 40, length-delimited); '\x20' the tag
# of PointsChanged.balance (field 4, varint). The inner message is at most 11 bytes: one length byte.
_BALANCE_FIELD = r"""
CREATE FUNCTION loyalty_points_changed_balance(balance bigint) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT '\xc202'::bytea
        || set_byte('\x00'::bytea, 0, 1 + length(loyalty_pb_varint(balance)))
        || '\x20'::bytea || loyalty_pb_varint(balance)
$$
"""

_MOVE = r"""
CREATE FUNCTION loyalty_move_points(
    p_tenant uuid, p_customer uuid, p_delta bigint, p_type text, p_reason text, p_source text,
    p_key text, p_entry uuid, p_version integer, p_check_version boolean, p_resolve boolean,
    p_occurred timestamptz, p_expires timestamptz,
    p_event uuid, p_partition smallint, p_event_at timestamptz, p_envelope bytea, p_notify text
) RETURNS TABLE (status text, entry_id uuid, balance bigint, survivor uuid)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_points bigint := abs(p_delta);
    v_merged uuid;
    v_erased timestamptz;
    v_entry uuid;
    v_balance bigint;
    v_debt bigint;
BEGIN
    IF p_delta = 0 THEN
        RAISE EXCEPTION 'loyalty_move_points: a movement of 0 points';
    END IF;
    IF p_resolve THEN
        SELECT c.merged_into, c.erased_at INTO v_merged, v_erased
        FROM loyalty_customers AS c WHERE c.tenant_id = p_tenant AND c.customer_id = p_customer;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'unknown'::text, NULL::uuid, NULL::bigint, NULL::uuid;
            RETURN;
        ELSIF v_erased IS NOT NULL THEN
            RETURN QUERY SELECT 'erased'::text, NULL::uuid, NULL::bigint, NULL::uuid;
            RETURN;
        ELSIF v_merged IS NOT NULL THEN
            RETURN QUERY SELECT 'merged'::text, NULL::uuid, NULL::bigint, v_merged;
            RETURN;
        END IF;
    END IF;
    IF p_check_version AND p_version IS DISTINCT FROM (
        SELECT coalesce(max(g.version), 0) FROM loyalty_programs AS g WHERE g.tenant_id = p_tenant
    ) THEN
        RETURN QUERY SELECT 'stale'::text, NULL::uuid, NULL::bigint, NULL::uuid;
        RETURN;
    END IF;

    SELECT e.entry_id, e.balance_after INTO v_entry, v_balance
    FROM point_entries AS e WHERE e.tenant_id = p_tenant AND e.idempotency_key = p_key;
    IF FOUND THEN
        RETURN QUERY SELECT 'replayed'::text, v_entry, v_balance, p_customer;
        RETURN;
    END IF;

    IF p_delta < 0 THEN
        UPDATE point_accounts AS a SET balance = a.balance - v_points, updated_at = now()
        WHERE a.tenant_id = p_tenant AND a.customer_id = p_customer AND a.balance >= v_points
        RETURNING a.balance INTO v_balance;
        IF NOT FOUND THEN
            SELECT a.balance INTO v_balance
            FROM point_accounts AS a WHERE a.tenant_id = p_tenant AND a.customer_id = p_customer;
            RETURN QUERY SELECT 'insufficient'::text, NULL::uuid, coalesce(v_balance, 0), p_customer;
            RETURN;
        END IF;
        -- Oldest-expiring first (never-expiring last), under the row lock the update took. Each
        -- live lot holds at least one point, so at most v_points lots are read.
        WITH live AS (
            SELECT l.lot_id, l.remaining,
                   sum(l.remaining) OVER (
                       ORDER BY l.expires_at ASC NULLS LAST, l.earned_at, l.lot_id
                       ROWS UNBOUNDED PRECEDING
                   ) - l.remaining AS before
            FROM (
                SELECT x.lot_id, x.remaining, x.expires_at, x.earned_at FROM point_lots AS x
                WHERE x.tenant_id = p_tenant AND x.customer_id = p_customer AND x.remaining > 0
                ORDER BY x.expires_at ASC NULLS LAST, x.earned_at, x.lot_id
                LIMIT v_points
            ) AS l
        )
        UPDATE point_lots AS lot
        SET remaining = lot.remaining - LEAST(lot.remaining, v_points - live.before)
        FROM live
        WHERE lot.tenant_id = p_tenant AND lot.lot_id = live.lot_id AND live.before < v_points;
    ELSE
        SELECT a.balance, a.debt INTO v_balance, v_debt
        FROM point_accounts AS a WHERE a.tenant_id = p_tenant AND a.customer_id = p_customer
        FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO point_accounts AS a (tenant_id, customer_id, balance)
            VALUES (p_tenant, p_customer, 0) ON CONFLICT (tenant_id, customer_id) DO NOTHING;
            SELECT a.balance, a.debt INTO v_balance, v_debt
            FROM point_accounts AS a WHERE a.tenant_id = p_tenant AND a.customer_id = p_customer
            FOR UPDATE;
        END IF;
        IF v_debt > 0 THEN  -- the caller repays the debt from this credit (two entries)
            RETURN QUERY SELECT 'debt'::text, NULL::uuid, v_balance, p_customer;
            RETURN;
        END IF;
        UPDATE point_accounts AS a SET balance = a.balance + v_points, updated_at = now()
        WHERE a.tenant_id = p_tenant AND a.customer_id = p_customer
        RETURNING a.balance INTO v_balance;
        INSERT INTO point_lots (tenant_id, lot_id, customer_id, earned, remaining, earned_at, expires_at)
        VALUES (p_tenant, p_entry, p_customer, v_points, v_points, p_occurred, p_expires);
    END IF;

    INSERT INTO point_entries AS e (tenant_id, entry_id, customer_id, type, delta, balance_after,
                                    reason, source, idempotency_key, program_version, occurred_at)
    VALUES (p_tenant, p_entry, p_customer, p_type, p_delta, v_balance, p_reason, p_source, p_key,
            p_version, p_occurred)
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING e.entry_id INTO v_entry;
    IF NOT FOUND THEN  -- booked by a concurrent transaction: undo this statement, the caller retries
        RAISE EXCEPTION 'idempotency key % was booked concurrently', p_key USING ERRCODE = 'LY409';
    END IF;

    INSERT INTO outbox (event_id, tenant_id, customer_id, type, partition, occurred_at, envelope)
    VALUES (p_event, p_tenant, p_customer, 'points.changed', p_partition, p_event_at,
            p_envelope || loyalty_points_changed_balance(v_balance));
    IF p_notify <> '' THEN
        PERFORM pg_notify(p_notify, '');
    END IF;
    RETURN QUERY SELECT 'ok'::text, p_entry, v_balance, p_customer;
END
$$
"""


def upgrade() -> None:
    op.execute(_VARINT)
    op.execute(_BALANCE_FIELD)
    op.execute(_MOVE)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION loyalty_move_points(uuid, uuid, bigint, text, text, text, text, uuid, integer, "
        "boolean, boolean, timestamptz, timestamptz, uuid, smallint, timestamptz, bytea, text)"
    )
    op.execute("DROP FUNCTION loyalty_points_changed_balance(bigint)")
    op.execute("DROP FUNCTION loyalty_pb_varint(bigint)")
