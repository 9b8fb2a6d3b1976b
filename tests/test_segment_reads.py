"""A segment's answer depends only on the kinds of fact ``facts_read`` names.

Live membership re-evaluates a segment only for customers whose facts of those kinds changed; a kind
missing from ``facts_read`` would leave members unmoved. Property: for random trees and two random
customers, a customer made of the first one's facts of the kinds the tree reads and the second one's
facts of every other kind gets the same answer from the reference evaluator as the first.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.scoring.domain.segments import evaluate, parse_condition, reads
from services.scoring.domain.segments.fields import FIELDS
from services.scoring.domain.segments.record import BehaviourFact, CustomerRecord, OrderFact
from services.scoring.domain.segments.tree import Condition, FieldLeaf
from tests.segment_histories import NOWS, histories
from tests.test_segment_sql import documents

# The record's fields of each kind (the events are split by type below).
KIND_FIELDS = {
    reads.ATTRIBUTES: (
        "gender",
        "province",
        "city",
        "registration_channel",
        "device",
        "birthday",
        "registered_at",
        "timezone",
    ),
    reads.SCORES: ("rfm_r", "rfm_f", "rfm_m", "rfm_group", "lifecycle_stage", "engagement", "last_seen_at"),
    reads.PREDICTIONS: ("p_alive", "expected_purchases_30d", "expected_avg_spend_minor", "clv_minor"),
    reads.LOYALTY: ("loyalty_tier", "loyalty_points"),
    reads.TAGS: ("tags",),
    reads.CONSENTS: ("consents",),
    reads.ORDERS: ("orders",),
    reads.REFUNDS: ("refunds",),
}


def blend(kept: CustomerRecord, other: CustomerRecord, read: frozenset[str]) -> CustomerRecord:
    """``kept``'s facts of the kinds read, ``other``'s of the rest."""
    changes: dict[str, Any] = {}
    for kind, names in KIND_FIELDS.items():
        if kind not in read:
            changes.update({name: getattr(other, name) for name in names})
    events = [e for e in kept.events if reads.behaviour(e.type) in read]
    events += [e for e in other.events if reads.behaviour(e.type) not in read]
    return dataclasses.replace(kept, events=tuple(events), **changes)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Condition, CustomerRecord, CustomerRecord, datetime]:
    now = draw(st.sampled_from(NOWS))
    condition = parse_condition(draw(documents(now)))
    first, second = draw(histories(now))[0][0], draw(histories(now))[0][0]
    return condition, first, second, now


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(cases())
def test_facts_not_read_never_change_the_answer(
    case: tuple[Condition, CustomerRecord, CustomerRecord, datetime],
) -> None:
    condition, first, second, now = case
    read = reads.facts_read(condition)
    blended = blend(first, dataclasses.replace(second, customer_id=first.customer_id), read)
    for zone in ("Asia/Shanghai", "UTC"):
        assert evaluate(condition, blended, now, ZoneInfo(zone)) == evaluate(
            condition, first, now, ZoneInfo(zone)
        )


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_every_field_has_a_kind(field: str) -> None:
    spec = FIELDS[field]
    op = sorted(spec.ops)[0]
    leaf = FieldLeaf(field=field, op=op, value=None)
    assert reads.facts_read(leaf) - {reads.ATTRIBUTES} or field.startswith("attributes.")


def test_a_follower_order_is_read() -> None:
    """The case random histories rarely build: an order after the cart decides the answer."""
    now = NOWS[0]
    cart = BehaviourFact("add_to_cart", now - timedelta(hours=1))
    first = CustomerRecord(
        uuid.UUID(int=1), events=(cart,), orders=(OrderFact(now - timedelta(minutes=30), 100),)
    )
    second = CustomerRecord(uuid.UUID(int=1))
    condition = parse_condition({"event": "add_to_cart", "within": "PT24H", "not_followed_by": "order"})
    blended = blend(first, second, reads.facts_read(condition))
    assert evaluate(condition, blended, now, ZoneInfo("UTC")) is evaluate(
        condition, first, now, ZoneInfo("UTC")
    )
