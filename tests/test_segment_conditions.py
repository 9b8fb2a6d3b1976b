"""The segment condition language (issue 11 item 2, groundwork): validation naming every fault's path,
the limits, the semantics of each operator in the reference evaluator, and the moment time alone
changes an answer. Pure domain: no database, no services."""

from __future__ import annotations

import inspect
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.profile.domain import behaviour_rules, consent, customers
from services.runtime.errors import InvalidArgument
from services.scoring.domain import lifecycle
from services.scoring.domain.segments import (
    dump_condition,
    evaluate,
    is_time_dependent,
    leaves,
    next_change,
    parse_condition,
)
from services.scoring.domain.segments import fields as catalogue
from services.scoring.domain.segments.durations import format_duration, parse_duration
from services.scoring.domain.segments.fields import FIELDS, Kind, Op
from services.scoring.domain.segments.limits import (
    MAX_DEPTH,
    MAX_DURATION,
    MAX_LEAVES,
    MAX_LIST_SIZE,
    MAX_REPORTED_FAULTS,
    MAX_STRING_LENGTH,
    MAX_WHERE_PROPERTIES,
)
from services.scoring.domain.segments.record import (
    BehaviourFact,
    CustomerRecord,
    OrderFact,
    RefundFact,
    TagHolding,
)
from services.scoring.domain.segments.tree import (
    AllOf,
    AnyOf,
    Between,
    Condition,
    EventLeaf,
    FieldLeaf,
    Not,
    OrdersLeaf,
    RefundLeaf,
)

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
TAG = uuid.UUID("0b6a0c1e-5a3f-4f7e-9d2b-1c3e5f7a9b0d")
CART_24H = {"event": "add_to_cart", "within": "PT24H", "not_followed_by": "order"}


def faults_of(document: Any) -> dict[str, str]:
    """Path → message of every fault parse_condition reports for ``document``."""
    with pytest.raises(InvalidArgument) as raised:
        parse_condition(document)
    return {v.field: v.message for v in raised.value.violations}


def customer(**facts: Any) -> CustomerRecord:
    return CustomerRecord(customer_id=uuid.uuid4(), **facts)


def holds(document: Any, record: CustomerRecord, now: datetime = NOW, zone: ZoneInfo = SHANGHAI) -> bool:
    return evaluate(parse_condition(document), record, now, zone)


# --- Validation ------------------------------------------------------------------------------------


def test_the_examples_of_the_contract_parse() -> None:
    parsed = parse_condition(
        {
            "all": [
                CART_24H,
                {"field": "rfm.group", "op": "eq", "value": "to_keep"},
                {"field": "attributes.province", "op": "in", "value": ["Zhejiang", "浙江"]},
                {"field": "loyalty.tier", "op": "eq", "value": "gold"},
                {"field": "predictions.clv_minor", "op": "gt", "value": 50_000},
                {"refund": {"within": "P30D", "reason": "size"}},
                {"not": {"field": "tags", "op": "has", "value": str(TAG)}},
                {"orders": {"within": "P90D", "min_count": 2, "min_spend_minor": 10_000}},
            ]
        }
    )
    assert isinstance(parsed, AllOf)
    assert parsed.children[0] == EventLeaf("add_to_cart", timedelta(hours=24), 1, (), "order")
    assert parsed.children[6] == Not(FieldLeaf("tags", Op.HAS, TAG))
    assert len(leaves(parsed)) == 8


def test_every_fault_is_listed_with_its_path() -> None:
    faults = faults_of(
        {
            "all": [
                {"field": "attributes.gendr", "op": "eq", "value": "male"},
                {"field": "engagement", "op": "lt", "value": "high"},
                {"field": "attributes.gender", "op": "gt", "value": "male"},
                {"any": [{"field": "rfm.group", "op": "eq", "value": "vip"}, {"not": {"event": "buy"}}]},
                {"orders": {"within": "P1M", "limit": 3}},
            ]
        }
    )
    assert faults.keys() == {
        "condition.all[0].field",
        "condition.all[1].value",
        "condition.all[2].op",
        "condition.all[3].any[0].value",
        "condition.all[3].any[1].not.event",
        "condition.all[3].any[1].not.within",
        "condition.all[4].orders.within",
        "condition.all[4].orders.limit",
    }
    assert "did you mean attributes.gender" in faults["condition.all[0].field"]
    assert "use eq, ne, in, not_in, exists, not_exists" in faults["condition.all[2].op"]
    assert "years and months" in faults["condition.all[4].orders.within"]


@pytest.mark.parametrize(
    ("document", "path", "message"),
    [
        ([], "condition", "must be an object"),
        ({}, "condition", "exactly one of"),
        ({"field": "engagement", "all": []}, "condition", "found all, field"),
        ({"all": []}, "condition.all", "list of 1 to"),
        ({"not": "x"}, "condition.not", "must be an object"),
        ({"field": "engagement", "op": "gt", "value": 1, "colour": "red"}, "condition.colour", "not a key"),
        ({"field": "engagement", "op": "gt", "value": 1, "; DROP": 1}, 'condition["; DROP"]', "not a key"),
        ({"field": "engagement", "value": 1}, "condition.op", "required"),
        ({"field": "engagement", "op": "like", "value": 1}, "condition.op", "must be one of"),
        ({"field": 7, "op": "exists"}, "condition.field", "must be text"),
        ({"field": "consent.fax.marketing", "op": "eq", "value": True}, "condition.field", "not a field"),
        ({"field": "consent.sms.marketing", "op": "eq", "value": "yes"}, "condition.value", "true or false"),
        ({"field": "consent.sms.marketing", "op": "ne", "value": True}, "condition.op", "does not apply"),
        ({"field": "attributes.city", "op": "exists", "value": "x"}, "condition.value", "takes no value"),
        ({"field": "attributes.city", "op": "eq"}, "condition.value", "required"),
        ({"field": "attributes.city", "op": "eq", "value": ""}, "condition.value", "1 to 200"),
        ({"field": "attributes.city", "op": "eq", "value": "a\x00b"}, "condition.value", "NUL"),
        ({"field": "attributes.city", "op": "in", "value": []}, "condition.value", "list of 1 to"),
        ({"field": "attributes.city", "op": "in", "value": "Hangzhou"}, "condition.value", "list of 1 to"),
        ({"field": "attributes.gender", "op": "in", "value": ["male", "m"]}, "condition.value[1]", "one of"),
        ({"field": "loyalty.tier", "op": "eq", "value": "Gold!"}, "condition.value", "code"),
        ({"field": "rfm.r", "op": "eq", "value": 6}, "condition.value", "between 1 and 5"),
        ({"field": "rfm.r", "op": "eq", "value": True}, "condition.value", "whole number"),
        ({"field": "orders.count", "op": "gt", "value": 1.5}, "condition.value", "whole number"),
        ({"field": "engagement", "op": "gt", "value": float("nan")}, "condition.value", "finite"),
        ({"field": "engagement", "op": "gt", "value": float("inf")}, "condition.value", "finite"),
        ({"field": "engagement", "op": "eq", "value": 1}, "condition.op", "does not apply"),
        ({"field": "predictions.p_alive", "op": "gt", "value": 1.5}, "condition.value", "between 0 and 1"),
        ({"field": "engagement", "op": "between", "value": [5, 1]}, "condition.value", "low must not"),
        ({"field": "engagement", "op": "between", "value": [1]}, "condition.value", "two values"),
        ({"field": "engagement", "op": "between", "value": [1, "x"]}, "condition.value[1]", "finite"),
        ({"field": "last_seen_at", "op": "gt", "value": "2026-01-01T00:00:00"}, "condition.value", "offset"),
        ({"field": "last_seen_at", "op": "gt", "value": "2026-13-01T00:00:00Z"}, "condition.value", "offset"),
        ({"field": "last_seen_at", "op": "older_than", "value": "30 days"}, "condition.value", "ISO 8601"),
        ({"field": "last_seen_at", "op": "older_than", "value": 30}, "condition.value", "ISO 8601"),
        (
            {"field": "attributes.birthday", "op": "in_next_days", "value": 367},
            "condition.value",
            "0 and 366",
        ),
        ({"field": "attributes.birthday", "op": "eq", "value": "01-01"}, "condition.op", "does not apply"),
        ({"field": "tags", "op": "has", "value": "vip"}, "condition.value", "tag id"),
        ({"field": "tags", "op": "exists"}, "condition.op", "does not apply"),
        ({"event": "purchase", "within": "PT1H"}, "condition.event", "behaviour type"),
        ({"event": "view"}, "condition.within", "required"),
        ({"event": "view", "within": "PT1H", "min_count": 0}, "condition.min_count", "between 1"),
        ({"event": "view", "within": "PT1H", "not_followed_by": "buy"}, "condition.not_followed_by", "order"),
        ({"event": "view", "within": "PT1H", "where": {"color": None}}, "condition.where.color", "text"),
        ({"event": "view", "within": "PT1H", "where": {"a b": [1]}}, 'condition.where["a b"]', "text"),
        ({"event": "view", "within": "PT1H", "where": {}}, "condition.where", "1 to 10"),
        ({"orders": "P30D"}, "condition.orders", "must be an object"),
        (
            {"orders": {"within": "P30D", "min_spend_minor": -1}},
            "condition.orders.min_spend_minor",
            "between",
        ),
        ({"refund": {"within": "P30D", "reason": "x" * 201}}, "condition.refund.reason", "1 to 200"),
        ({"refund": {"reason": "size"}}, "condition.refund.within", "required"),
    ],
)
def test_each_fault_names_its_path(document: Any, path: str, message: str) -> None:
    faults = faults_of(document)
    assert path in faults, faults
    assert message in faults[path]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT15M", timedelta(minutes=15)),
        ("PT24H", timedelta(hours=24)),
        ("PT2H30M", timedelta(hours=2, minutes=30)),
        ("P30D", timedelta(days=30)),
        ("P1W", timedelta(weeks=1)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("PT120S", timedelta(minutes=2)),
        ("PT1M", timedelta(minutes=1)),
        ("P1098D", MAX_DURATION),
    ],
)
def test_durations_parse_exactly(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("P1M", "years and months"),
        ("P1Y", "years and months"),
        ("P1Y2M3D", "years and months"),
        ("PT30S", "whole number of minutes"),
        ("PT0M", "between PT1M"),
        ("P1099D", "between PT1M"),
        ("P", "ISO 8601"),
        ("PT", "ISO 8601"),
        ("P1DT", "ISO 8601"),
        ("pt24h", "ISO 8601"),
        ("PT1.5H", "ISO 8601"),
        ("-PT1H", "ISO 8601"),
        ("P1W2D", "ISO 8601"),
        ("24h", "ISO 8601"),
        ("P99999999D", "ISO 8601"),
    ],
)
def test_durations_refuse_what_is_not_exact(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


def test_the_catalogue_repeats_the_owners_codes() -> None:
    """Scoring may not import profile, so the codes are copied: this test keeps the copies honest."""
    assert catalogue.GENDERS == customers.GENDERS
    assert catalogue.DEVICES == customers.DEVICES
    assert catalogue.CONSENT_CHANNELS == consent.CHANNELS
    assert catalogue.CONSENT_PURPOSES == consent.PURPOSES
    assert catalogue.EVENT_TYPES == behaviour_rules.EVENT_TYPES
    assert catalogue.CUSTOM_EVENT_TYPE.pattern == behaviour_rules.CUSTOM_TYPE.pattern
    stages = set(re.findall(r'StageDecision\("([a-z_]+)"', inspect.getsource(lifecycle)))
    assert stages == set(catalogue.LIFECYCLE_STAGES)
    assert set(catalogue.RFM_GROUPS) == {"core_value", "to_develop", "to_keep", "to_retain"} | {
        "active_low_spend",
        "new_light",
        "fading_regular",
        "lost",
    }


# --- Limits ----------------------------------------------------------------------------------------

LEAF = {"field": "engagement", "op": "gt", "value": 1}


def nested(levels: int) -> dict[str, Any]:
    document: dict[str, Any] = LEAF
    for _ in range(levels - 1):
        document = {"not": document}
    return document


def test_depth_is_limited() -> None:
    parse_condition(nested(MAX_DEPTH))
    faults = faults_of(nested(MAX_DEPTH + 1))
    assert faults == {"condition" + ".not" * MAX_DEPTH: f"nests deeper than {MAX_DEPTH} levels"}


def test_a_hostile_nesting_is_refused_without_recursing() -> None:
    assert list(faults_of(nested(100_000))) == ["condition" + ".not" * MAX_DEPTH]


def test_leaves_are_limited() -> None:
    parse_condition({"all": [LEAF] * MAX_LEAVES})
    assert faults_of({"all": [LEAF] * (MAX_LEAVES + 1)}) == {
        "condition.all": "must be a list of 1 to 50 conditions"
    }
    spread = {"any": [{"all": [LEAF] * 26}, {"all": [LEAF] * 25}]}
    assert faults_of(spread) == {"condition": f"must have at most {MAX_LEAVES} leaves"}


def test_lists_and_strings_are_limited() -> None:
    cities = {"field": "attributes.city", "op": "in", "value": [f"c{i}" for i in range(MAX_LIST_SIZE)]}
    parse_condition(cities)
    cities["value"] = [*cities["value"], "one more"]
    assert "condition.value" in faults_of(cities)
    parse_condition({"field": "attributes.city", "op": "eq", "value": "x" * MAX_STRING_LENGTH})
    assert "condition.value" in faults_of(
        {"field": "attributes.city", "op": "eq", "value": "x" * (MAX_STRING_LENGTH + 1)}
    )
    where = {f"p{i}": i for i in range(MAX_WHERE_PROPERTIES)}
    parse_condition({"event": "view", "within": "PT1H", "where": where})
    where["one_more"] = 1
    assert "condition.where" in faults_of({"event": "view", "within": "PT1H", "where": where})


def test_the_number_of_faults_listed_is_bounded() -> None:
    bad = {"field": "nope", "op": "eq", "value": 1, "x": 1, "y": 2}
    with pytest.raises(InvalidArgument) as raised:
        parse_condition({"all": [bad] * MAX_LEAVES})
    violations = raised.value.violations
    assert len(violations) == MAX_REPORTED_FAULTS + 1
    assert violations[-1].field == "condition"
    assert "first 100" in violations[-1].message


def test_injection_strings_are_just_values() -> None:
    hostile = [
        "; DROP TABLE customers; --",
        "${jndi:ldap://evil/a}",
        "' OR '1'='1",
        "{{7*7}}",
        "__import__('os')",
    ]
    document = {"field": "attributes.city", "op": "in", "value": hostile}
    assert dump_condition(parse_condition(document)) == document
    assert holds(document, customer(city="${jndi:ldap://evil/a}"))
    assert not holds(document, customer(city="Hangzhou"))
    where = {"event": "view", "within": "PT1H", "where": {"sku": "'; DROP TABLE x"}}
    recent = NOW - timedelta(minutes=5)
    assert holds(where, customer(events=(BehaviourFact("view", recent, {"sku": "'; DROP TABLE x"}),)))


# --- Semantics of each operator --------------------------------------------------------------------


def test_equality_and_membership_and_missing_values() -> None:
    male, unknown = customer(gender="male"), customer()
    eq = {"field": "attributes.gender", "op": "eq", "value": "male"}
    ne = {"field": "attributes.gender", "op": "ne", "value": "male"}
    not_in = {"field": "attributes.gender", "op": "not_in", "value": ["male", "other"]}
    assert holds(eq, male)
    assert not holds(eq, unknown)
    assert not holds(ne, male)
    assert holds(ne, customer(gender="female"))
    assert not holds(ne, unknown), "a comparison with a missing value is false, ne included"
    assert holds({"not": eq}, unknown), "not is two-valued: it takes in the customers without a gender"
    assert not holds(not_in, unknown)
    assert holds(not_in, customer(gender="female"))
    assert holds({"field": "attributes.gender", "op": "in", "value": ["female", "male"]}, male)
    assert holds({"field": "attributes.gender", "op": "exists"}, male)
    assert holds({"field": "attributes.gender", "op": "not_exists"}, unknown)
    assert not holds({"field": "attributes.city", "op": "eq", "value": "hangzhou"}, customer(city="Hangzhou"))


def test_ranges_on_numbers() -> None:
    scored = customer(rfm_r=3, engagement=2.5, p_alive=0.8, loyalty_points=0)
    assert holds({"field": "rfm.r", "op": "gte", "value": 3}, scored)
    assert not holds({"field": "rfm.r", "op": "gt", "value": 3}, scored)
    assert holds({"field": "rfm.r", "op": "lte", "value": 3}, scored)
    assert not holds({"field": "rfm.r", "op": "lt", "value": 3}, scored)
    assert holds({"field": "engagement", "op": "between", "value": [2.5, 3]}, scored)
    assert holds({"field": "engagement", "op": "between", "value": [1, 2.5]}, scored)
    assert not holds({"field": "engagement", "op": "between", "value": [2.6, 3]}, scored)
    assert holds({"field": "predictions.p_alive", "op": "gt", "value": 0.5}, scored)
    assert not holds({"field": "predictions.clv_minor", "op": "lt", "value": 10**9}, scored), "missing"
    assert holds({"field": "loyalty.points", "op": "eq", "value": 0}, scored), "0 is a value, not missing"


def test_order_fields_are_counted_up_to_now() -> None:
    orders = (
        OrderFact(NOW - timedelta(days=40), 10_000, refunded_minor=2_000),
        OrderFact(NOW - timedelta(days=1), 5_000),
        OrderFact(NOW + timedelta(minutes=3), 7_000),  # not yet paid at NOW
    )
    buyer, newcomer = customer(orders=orders), customer()
    assert holds({"field": "orders.count", "op": "eq", "value": 2}, buyer)
    assert holds({"field": "orders.net_spend_minor", "op": "eq", "value": 13_000}, buyer)
    assert holds({"field": "orders.last_at", "op": "newer_than", "value": "PT25H"}, buyer)
    assert holds({"field": "orders.count", "op": "eq", "value": 0}, newcomer)
    assert holds({"field": "orders.last_at", "op": "not_exists"}, newcomer)


def test_older_and_newer_than_split_at_the_exact_moment() -> None:
    registered = customer(registered_at=NOW - timedelta(days=30))
    assert holds({"field": "attributes.registered_at", "op": "older_than", "value": "P30D"}, registered)
    assert not holds({"field": "attributes.registered_at", "op": "newer_than", "value": "P30D"}, registered)
    assert holds({"field": "attributes.registered_at", "op": "newer_than", "value": "P31D"}, registered)
    assert not holds({"field": "attributes.registered_at", "op": "older_than", "value": "P30D"}, customer())
    early = "2026-05-16T20:00:00+08:00"  # = NOW - 30 days
    assert holds({"field": "attributes.registered_at", "op": "lte", "value": early}, registered)
    assert not holds({"field": "attributes.registered_at", "op": "lt", "value": early}, registered)


def test_tags_count_until_they_expire() -> None:
    tagged = customer(tags=(TagHolding(TAG, expires_at=NOW + timedelta(hours=1)),))
    has = {"field": "tags", "op": "has", "value": str(TAG)}
    has_not = {"field": "tags", "op": "has_not", "value": str(TAG)}
    assert holds(has, tagged)
    assert not holds(has_not, tagged)
    assert not holds(has, tagged, NOW + timedelta(hours=1)), "expired at expires_at"
    assert holds(has_not, customer())
    assert holds(has, customer(tags=(TagHolding(TAG),)))
    assert next_change(parse_condition(has), tagged, NOW, SHANGHAI) == NOW + timedelta(hours=1)


def test_consent_is_granted_withdrawn_or_never_recorded() -> None:
    granted = customer(consents={("sms", "marketing"): True})
    withdrawn = customer(consents={("sms", "marketing"): False})
    yes = {"field": "consent.sms.marketing", "op": "eq", "value": True}
    no = {"field": "consent.sms.marketing", "op": "eq", "value": False}
    assert holds(yes, granted)
    assert not holds(yes, withdrawn)
    assert not holds(yes, customer())
    assert holds(no, withdrawn)
    assert not holds(no, customer()), "never recorded is neither granted nor withdrawn"
    assert not holds({"field": "consent.email.marketing", "op": "eq", "value": True}, granted)


def at(hours_ago: float) -> datetime:
    return NOW - timedelta(hours=hours_ago)


def test_the_24_hour_abandoned_cart() -> None:
    cart = (BehaviourFact("add_to_cart", at(10)),)
    assert holds(CART_24H, customer(events=cart))
    assert not holds(CART_24H, customer(events=cart, orders=(OrderFact(at(9), 100),))), "ordered after"
    assert holds(CART_24H, customer(events=cart, orders=(OrderFact(at(11), 100),))), "ordered before"
    assert not holds(CART_24H, customer(events=cart, orders=(OrderFact(at(10), 100),))), "same instant"
    assert holds(CART_24H, customer(events=cart, orders=(OrderFact(NOW + timedelta(minutes=1), 100),)))
    assert not holds(CART_24H, customer(events=(BehaviourFact("add_to_cart", at(24)),))), "window is open"
    assert holds(CART_24H, customer(events=(BehaviourFact("add_to_cart", at(23.99)),)))
    # A second cart after the order qualifies again.
    again = (*cart, BehaviourFact("add_to_cart", at(2)))
    assert holds(CART_24H, customer(events=again, orders=(OrderFact(at(9), 100),)))
    # Time alone: the customer leaves when the cart is 24 hours old.
    abandoned = customer(events=cart)
    assert next_change(parse_condition(CART_24H), abandoned, NOW, SHANGHAI) == at(10) + timedelta(hours=24)
    assert not holds(CART_24H, abandoned, at(10) + timedelta(hours=24))


def test_not_followed_by_another_behaviour_and_min_count_and_where() -> None:
    events = (
        BehaviourFact("view", at(5), {"category": "shoes", "price": 300}),
        BehaviourFact("view", at(4), {"category": "shoes", "price": 300.0, "sale": True}),
        BehaviourFact("view", at(3), {"category": "bags", "sale": 1}),
        BehaviourFact("add_to_cart", at(4.5)),
    )
    record = customer(events=events)
    unfollowed = {"event": "view", "within": "PT6H", "not_followed_by": "add_to_cart"}
    assert holds({**unfollowed, "min_count": 2}, record)
    assert not holds({**unfollowed, "min_count": 3}, record)
    shoes = {"event": "view", "within": "P1D", "where": {"category": "shoes", "price": 300}}
    assert holds({**shoes, "min_count": 2}, record), "300 == 300.0"
    assert not holds({"event": "view", "within": "P1D", "where": {"sale": 1}, "min_count": 2}, record), (
        "true is not 1"
    )
    assert holds({"event": "view", "within": "P1D", "where": {"sale": True}}, record)
    assert not holds({"event": "view", "within": "PT3H", "where": {"category": "shoes"}}, record)
    views = {"event": "view", "within": "P1D", "not_followed_by": "view"}
    assert holds(views, record)
    assert not holds({**views, "min_count": 2}, record), "only the last view is not followed by a view"


def test_orders_and_refund_windows() -> None:
    orders = (OrderFact(at(24 * 10), 6_000), OrderFact(at(24 * 40), 9_000), OrderFact(at(1), 5_000, 1_000))
    refunds = (RefundFact(at(24 * 3), 1_000, "size"), RefundFact(at(24 * 45), 500, "colour"))
    record = customer(orders=orders, refunds=refunds)
    assert holds({"orders": {"within": "P30D", "min_count": 2}}, record)
    assert not holds({"orders": {"within": "P30D", "min_count": 3}}, record)
    assert holds({"orders": {"within": "P30D", "min_spend_minor": 10_000}}, record)
    assert not holds({"orders": {"within": "P30D", "min_spend_minor": 10_001}}, record)
    assert holds({"refund": {"within": "P30D", "reason": "size"}}, record)
    assert not holds({"refund": {"within": "P30D", "reason": "Size"}}, record)
    assert not holds({"refund": {"within": "P30D", "reason": "colour"}}, record)
    assert holds({"refund": {"within": "P60D"}}, record)
    assert not holds({"refund": {"within": "P1D"}}, record)


def birthday_in(days: int, born: date, now: datetime, zone: ZoneInfo = SHANGHAI) -> bool:
    field = {"field": "attributes.birthday", "op": "in_next_days", "value": days}
    return holds(field, customer(birthday=born), now, zone)


def test_birthdays_across_the_year_end() -> None:
    dec_28 = datetime(2026, 12, 28, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
    assert birthday_in(5, date(1990, 1, 2), dec_28)
    assert not birthday_in(4, date(1990, 1, 2), dec_28)
    assert birthday_in(0, date(1990, 12, 28), dec_28)
    assert birthday_in(364, date(1990, 12, 27), dec_28)
    assert not birthday_in(363, date(1990, 12, 27), dec_28)
    assert not birthday_in(3, date(1990, 12, 27), dec_28), "yesterday's birthday is next year's"
    new_year_in_shanghai = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)  # 2027-01-01 01:00 +08:00
    assert birthday_in(0, date(1990, 1, 1), new_year_in_shanghai)
    assert not birthday_in(0, date(1990, 1, 1), new_year_in_shanghai, ZoneInfo("UTC"))
    in_utc = customer(birthday=date(1990, 1, 1), timezone="UTC")
    field = {"field": "attributes.birthday", "op": "in_next_days", "value": 0}
    assert not holds(field, in_utc, new_year_in_shanghai), "the customer's own zone wins"


def test_birthdays_on_29_february() -> None:
    leap_born = date(2000, 2, 29)
    feb_28_2027 = datetime(2027, 2, 28, 1, 0, tzinfo=UTC)
    assert birthday_in(0, leap_born, feb_28_2027), "kept on 28 February in a non-leap year"
    assert not birthday_in(0, leap_born, feb_28_2027 + timedelta(days=1))
    feb_28_2028 = datetime(2028, 2, 28, 1, 0, tzinfo=UTC)
    assert not birthday_in(0, leap_born, feb_28_2028)
    assert birthday_in(1, leap_born, feb_28_2028)
    assert birthday_in(0, leap_born, feb_28_2028 + timedelta(days=1))
    assert not birthday_in(3, date(1990, 3, 1), datetime(2028, 2, 25, 1, 0, tzinfo=UTC)), "4 days: leap day"
    assert not birthday_in(0, leap_born, NOW)
    assert not holds({"field": "attributes.birthday", "op": "in_next_days", "value": 366}, customer(), NOW)


def test_the_next_change_of_a_birthday_window_is_local_midnight() -> None:
    condition = parse_condition({"field": "attributes.birthday", "op": "in_next_days", "value": 7})
    record = customer(birthday=date(1990, 7, 1))
    starts = next_change(condition, record, NOW, SHANGHAI)  # 15 June: 16 days away
    assert starts == datetime(2026, 6, 24, tzinfo=SHANGHAI)
    ends = next_change(condition, record, starts, SHANGHAI)
    assert ends == datetime(2026, 7, 2, tzinfo=SHANGHAI)


def test_time_dependence_and_static_answers() -> None:
    static = parse_condition(
        {"all": [{"field": "rfm.r", "op": "gt", "value": 2}, {"field": "attributes.gender", "op": "exists"}]}
    )
    assert not any(is_time_dependent(leaf) for leaf in leaves(static))
    assert next_change(static, customer(rfm_r=3, gender="male"), NOW, SHANGHAI) is None
    seen = parse_condition({"field": "last_seen_at", "op": "older_than", "value": "P30D"})
    record = customer(last_seen_at=at(24))
    assert next_change(seen, record, NOW, SHANGHAI) == at(24) + timedelta(days=30)
    # A tree whose answer never changes, although its leaf does, gives a moment to ask again.
    tautology = parse_condition(
        {
            "any": [
                {"field": "attributes.birthday", "op": "in_next_days", "value": 3},
                {"not": {"field": "attributes.birthday", "op": "in_next_days", "value": 3}},
            ]
        }
    )
    again = next_change(tautology, customer(birthday=date(1990, 1, 1)), NOW, SHANGHAI)
    assert again is not None
    assert again > NOW + timedelta(days=365 * 100)


def test_evaluation_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        evaluate(parse_condition(LEAF), customer(), datetime(2026, 1, 1), SHANGHAI)


# --- Properties ------------------------------------------------------------------------------------

OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(-timedelta(hours=5, minutes=30))])
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=40)
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=OFFSETS)
durations = st.integers(1, MAX_DURATION // timedelta(minutes=1)).map(lambda m: timedelta(minutes=m))
event_types = st.sampled_from(sorted(catalogue.EVENT_TYPES)) | st.from_regex(
    catalogue.CUSTOM_EVENT_TYPE, fullmatch=True
)
property_values = (
    texts
    | st.booleans()
    | st.integers(-(2**63) + 1, 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
)


def scalars(spec: catalogue.FieldSpec) -> st.SearchStrategy[Any]:
    if spec.kind is Kind.ENUM:
        return st.sampled_from(spec.choices)
    if spec.kind is Kind.TEXT:
        return st.from_regex(spec.pattern, fullmatch=True) if spec.pattern else texts
    if spec.kind is Kind.INTEGER:
        return st.integers(int(spec.minimum), int(spec.maximum))
    if spec.kind is Kind.NUMBER:
        return st.floats(spec.minimum, spec.maximum) | st.integers(int(spec.minimum), int(spec.maximum))
    if spec.kind is Kind.TIME:
        return instants
    return st.booleans()


def field_leaves(spec: catalogue.FieldSpec) -> st.SearchStrategy[FieldLeaf]:
    def value_for(op: Op) -> st.SearchStrategy[Any]:
        if op in (Op.EXISTS, Op.NOT_EXISTS):
            return st.none()
        if op in (Op.IN, Op.NOT_IN):
            return st.lists(scalars(spec), min_size=1, max_size=4).map(tuple)
        if op is Op.BETWEEN:
            return st.lists(scalars(spec), min_size=2, max_size=2).map(lambda pair: Between(*sorted(pair)))
        if op in (Op.HAS, Op.HAS_NOT):
            return st.uuids()
        if op in (Op.OLDER_THAN, Op.NEWER_THAN):
            return durations
        if op is Op.IN_NEXT_DAYS:
            return st.integers(0, 366)
        return scalars(spec)

    ops = st.sampled_from(sorted(spec.ops))
    return ops.flatmap(lambda op: value_for(op).map(lambda value: FieldLeaf(spec.name, op, value)))


leaf_nodes: st.SearchStrategy[Condition] = st.one_of(
    st.sampled_from(sorted(FIELDS.values(), key=lambda s: s.name)).flatmap(field_leaves),
    st.builds(
        EventLeaf,
        event_types,
        durations,
        st.integers(1, 10_000),
        st.dictionaries(texts, property_values, max_size=3).map(lambda d: tuple(d.items())),
        st.none() | st.just("order") | event_types,
    ),
    st.builds(OrdersLeaf, durations, st.integers(1, 10_000), st.none() | st.integers(0, 2**63 - 1)),
    st.builds(RefundLeaf, durations, st.none() | texts),
)


def depth(condition: Condition) -> int:
    if isinstance(condition, AllOf | AnyOf):
        return 1 + max(depth(child) for child in condition.children)
    if isinstance(condition, Not):
        return 1 + depth(condition.child)
    return 1


trees = st.recursive(
    leaf_nodes,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=4).map(lambda c: AllOf(tuple(c))),
        st.lists(children, min_size=1, max_size=4).map(lambda c: AnyOf(tuple(c))),
        children.map(Not),
    ),
    max_leaves=12,
).filter(lambda tree: depth(tree) <= MAX_DEPTH)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_valid_trees_round_trip(tree: Condition) -> None:
    assert parse_condition(dump_condition(tree)) == tree
    stored = json.dumps(dump_condition(tree), ensure_ascii=False, allow_nan=False)
    assert parse_condition(json.loads(stored)) == tree, "what is stored as JSON reads back the same"


def test_the_dump_is_canonical() -> None:
    written = {"event": "view", "within": "P1W", "min_count": 1, "where": {"sku": "a"}}
    assert dump_condition(parse_condition(written)) == {
        "event": "view",
        "within": "P7D",
        "where": {"sku": "a"},
    }
    assert dump_condition(parse_condition({"refund": {"within": "PT90M"}})) == {
        "refund": {"within": "PT1H30M"}
    }
    at_noon = {"field": "last_seen_at", "op": "gt", "value": "2026-01-01T12:00:00z"}
    assert dump_condition(parse_condition(at_noon))["value"] == "2026-01-01T12:00:00+00:00"
    assert "condition.min_count" in faults_of({"event": "view", "within": "PT1H", "min_count": 10_001})


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
VOCABULARY = [
    "all",
    "any",
    "not",
    "field",
    "op",
    "value",
    "event",
    "within",
    "min_count",
    "where",
    "not_followed_by",
    "orders",
    "refund",
    "reason",
    "min_spend_minor",
    "eq",
    "in",
    "between",
    "has",
    "older_than",
    "in_next_days",
    "PT24H",
    "P1M",
    "view",
    "order",
    "tags",
    "engagement",
    "attributes.birthday",
    "consent.sms.marketing",
    "last_seen_at",
    "2026-01-01T00:00:00Z",
]
vocabulary = st.sampled_from([*VOCABULARY, str(TAG)])
json_documents = st.recursive(
    json_scalars | vocabulary,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(vocabulary | texts, children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_documents)
def test_any_json_is_a_tree_or_an_invalid_argument(document: Any) -> None:
    violations = []
    try:
        tree = parse_condition(document)
    except InvalidArgument as error:
        violations = error.violations
    else:
        assert parse_condition(dump_condition(tree)) == tree
        return
    assert violations
    assert all(v.field.startswith("condition") for v in violations)
    assert len(violations) <= MAX_REPORTED_FAULTS + 1


# Small histories around NOW and time-dependent conditions: next_change against evaluate.
hours = st.integers(-72, 72).map(lambda h: NOW + timedelta(hours=h, minutes=17 * (h % 3)))
records = st.builds(
    customer,
    birthday=st.none() | st.dates(date(1960, 1, 1), date(2008, 12, 31)),
    last_seen_at=st.none() | hours,
    tags=st.lists(st.builds(TagHolding, st.just(TAG), st.none() | hours), max_size=2).map(tuple),
    orders=st.lists(st.builds(OrderFact, hours, st.integers(1, 10_000)), max_size=3).map(tuple),
    refunds=st.lists(
        st.builds(RefundFact, hours, st.just(100), st.sampled_from([None, "size"])), max_size=2
    ).map(tuple),
    events=st.lists(
        st.builds(BehaviourFact, st.sampled_from(["view", "add_to_cart"]), hours), max_size=5
    ).map(tuple),
)
short = st.sampled_from(["PT2H", "PT24H", "P2D", "PT90M"])
timed_leaves = st.one_of(
    st.builds(
        lambda w, f: {"event": "add_to_cart", "within": w, "not_followed_by": f},
        short,
        st.sampled_from(["order", "view"]),
    ),
    st.builds(lambda w, n: {"event": "view", "within": w, "min_count": n}, short, st.integers(1, 2)),
    st.builds(lambda w: {"orders": {"within": w, "min_spend_minor": 5_000}}, short),
    st.builds(lambda w: {"refund": {"within": w, "reason": "size"}}, short),
    st.builds(lambda w: {"field": "last_seen_at", "op": "older_than", "value": w}, short),
    st.builds(lambda w: {"field": "orders.last_at", "op": "newer_than", "value": w}, short),
    st.builds(
        lambda n: {"field": "attributes.birthday", "op": "in_next_days", "value": n}, st.integers(0, 9)
    ),
    st.just({"field": "tags", "op": "has", "value": str(TAG)}),
)
timed_trees = st.recursive(
    timed_leaves,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda c: {"all": c}),
        st.lists(children, min_size=1, max_size=3).map(lambda c: {"any": c}),
        children.map(lambda c: {"not": c}),
    ),
    max_leaves=4,
).filter(lambda document: depth(parse_condition(document)) <= MAX_DEPTH)


@settings(max_examples=200, deadline=None)
@given(timed_trees, records, st.lists(st.floats(0.001, 0.999), min_size=3, max_size=3))
def test_the_answer_holds_until_the_next_change(
    document: dict[str, Any], record: CustomerRecord, fractions: list[float]
) -> None:
    condition = parse_condition(document)
    answer = evaluate(condition, record, NOW, SHANGHAI)
    due = next_change(condition, record, NOW, SHANGHAI)
    horizon = due if due is not None else NOW + timedelta(days=800)
    for fraction in fractions:
        assert evaluate(condition, record, NOW + (horizon - NOW) * fraction, SHANGHAI) == answer
    assert evaluate(condition, record, horizon - timedelta(microseconds=1), SHANGHAI) == answer
    if due is not None and due < NOW + timedelta(days=365 * 50):
        assert evaluate(condition, record, due, SHANGHAI) != answer
