"""Property tests of the tier rules (pure domain, hypothesis): refunds never take back more than an
order gave, upgrades never lower a tier, reviews only move forward and downgrade only after grace."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.loyalty.domain.program import default_program
from services.loyalty.domain.tiers import (
    MemberState,
    Progress,
    order_progress,
    qualifying_rank,
    refund_progress,
    review,
    shift_months,
    tier_rank,
    upgrade_on_progress,
)

PROGRAM = default_program("CNY")
LADDER = PROGRAM.ladder
T0 = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
amounts = st.integers(min_value=1, max_value=10**9)
codes = st.sampled_from([t.code for t in LADDER.tiers])


@settings(max_examples=300, deadline=None)
@given(amount=amounts, refunds=st.lists(st.integers(min_value=0, max_value=10**9), max_size=8))
def test_refunds_take_back_at_most_what_the_order_gave(amount: int, refunds: list[int]) -> None:
    order = order_progress(PROGRAM, amount, 100)
    total = Progress()
    refunded = 0
    for piece in refunds:
        delta, refunded = refund_progress(order, refunded, piece)
        total = total.plus(delta)
        assert delta.spend_minor <= 0
        assert delta.growth <= 0
    net = order.plus(total)
    assert net.spend_minor == amount - refunded >= 0
    assert net.growth >= 0
    assert net.orders == (0 if refunded == amount else 1)
    if refunded == amount:
        assert net == Progress()


@settings(max_examples=300, deadline=None)
@given(code=codes, value=st.integers(min_value=-(10**9), max_value=10**10))
def test_an_upgrade_never_lowers_the_tier(code: str, value: int) -> None:
    state = MemberState(code, T0, shift_months(T0, 12), None)
    after, change = upgrade_on_progress(PROGRAM, state, value, T0 + timedelta(days=1))
    held, now = tier_rank(LADDER, code), tier_rank(LADDER, after.tier_code)
    assert now == max(held, qualifying_rank(LADDER, value))
    assert (change is not None) == (now > held)
    if change is not None:
        assert after.next_review_at == shift_months(T0 + timedelta(days=1), 12)


@settings(max_examples=300, deadline=None)
@given(
    code=codes,
    value=st.integers(min_value=0, max_value=10**10),
    in_grace=st.booleans(),
    grace_days=st.integers(min_value=0, max_value=60),
    months_held=st.integers(min_value=1, max_value=40),
)
def test_a_review_moves_forward_and_downgrades_only_after_grace(
    code: str, value: int, in_grace: bool, grace_days: int, months_held: int
) -> None:
    program = replace(PROGRAM, downgrade=replace(PROGRAM.downgrade, grace_days=grace_days))
    due = shift_months(T0, months_held)
    state = MemberState(code, T0, due, due if in_grace else None)
    after, change = review(program, state, value)
    held, reached = tier_rank(LADDER, code), qualifying_rank(LADDER, value)
    assert after.next_review_at is None or after.next_review_at > due
    if held == 0 or reached >= held:
        assert change is None
        assert after.tier_code == code
        assert after.grace_until is None
    elif not in_grace and grace_days > 0:
        assert change is None
        assert after.grace_until == due + timedelta(days=grace_days)
    else:
        assert change is not None
        assert change.direction == "downgrade"
        assert after.tier_code == LADDER.tiers[reached].code
        assert after.tier_since == due
