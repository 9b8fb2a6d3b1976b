"""Journey definitions (issue 13 groundwork): shapes, limits, references and the paths of faults."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from services.notify.domain.journey_definitions import MAX_DEPTH, MAX_STEPS, parse_journey
from services.runtime.errors import InvalidArgument

TEMPLATE, COUPON, TAG, SEGMENT = (str(uuid.uuid4()) for _ in range(4))


def abandoned_cart() -> dict[str, Any]:
    return {
        "name": "Abandoned cart",
        "trigger": {"event": "add_to_cart"},
        "steps": [
            {"wait": "PT24H"},
            {
                "if": {"since_trigger": {"order": True}},
                "then": [{"exit": True}],
                "else": [
                    {"issue_coupon": {"template_id": COUPON}},
                    {"send": {"template_id": TEMPLATE}},
                    {
                        "if": {"field": "segments", "op": "contains", "value": SEGMENT},
                        "then": [{"tag": {"tag_id": TAG}}],
                    },
                ],
            },
        ],
        "goal": {"order": "paid"},
        "reentry": "P7D",
    }


def faults(document: Any) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        parse_journey(document)
    return {violation.field: violation.message for violation in caught.value.violations}


def test_a_classic_parses_with_every_reference_by_its_path() -> None:
    journey = parse_journey(abandoned_cart())
    assert journey.trigger.kind == "event"
    assert journey.reentry == timedelta(days=7)
    assert [step.kind for step in journey.steps] == ["wait", "if"]
    refs = journey.references
    assert refs.templates == {"steps[1].else[1].send.template_id": uuid.UUID(TEMPLATE)}
    assert refs.coupon_templates == {"steps[1].else[0].issue_coupon.template_id": uuid.UUID(COUPON)}
    assert refs.tags == {"steps[1].else[2].then[0].tag.tag_id": uuid.UUID(TAG)}
    assert list(refs.conditions) == ["steps[1].else[2].if"]


@pytest.mark.parametrize(
    "trigger",
    [
        {"order": "paid", "first": True},
        {"refund": {"reason": "尺寸不符"}},
        {"segment_entered": SEGMENT},
        {"tier": "upgraded"},
        {"date": "birthday", "days_before": 3},
        {"event": "custom.viewed_size_guide", "where": {"sku": "tea-1", "qty": 2}},
    ],
)
def test_every_trigger_of_the_contract_is_accepted(trigger: dict[str, Any]) -> None:
    document = {**abandoned_cart(), "trigger": trigger, "reentry": "never"}
    assert parse_journey(document).reentry is None


def test_faults_are_named_by_their_paths_all_at_once() -> None:
    document = abandoned_cart()
    document["steps"][1]["else"][1] = {"send": {"template_id": "nope"}}
    document["steps"][0] = {"wait": "PT30S"}
    document["trigger"] = {"date": "birthday", "days_before": 45}
    document["reentry"] = "P1W"
    document["extra"] = 1
    found = faults(document)
    assert set(found) == {
        "steps[1].else[1].send.template_id",
        "steps[0].wait",
        "trigger.days_before",
        "reentry",
        "extra",
    }


def test_steps_must_be_one_kind_each_and_exits_true() -> None:
    found = faults(
        {**abandoned_cart(), "steps": [{"wait": "PT1H", "exit": True}, {"exit": False}, {"jump": 1}]}
    )
    assert set(found) == {"steps[0]", "steps[1].exit", "steps[2]"}


def test_limits_on_steps_and_depth() -> None:
    many = {**abandoned_cart(), "steps": [{"wait": "PT1M"}] * (MAX_STEPS + 1)}
    assert "steps" in faults(many)
    nested: dict[str, Any] = {"exit": True}
    for _ in range(MAX_DEPTH + 1):
        nested = {"if": {"since_trigger": {"order": True}}, "then": [nested]}
    deep = faults({**abandoned_cart(), "steps": [nested]})
    assert any("nest" in message for message in deep.values())


def test_triggers_name_exactly_one_kind() -> None:
    assert set(faults({**abandoned_cart(), "trigger": {"tier": "upgraded", "order": "paid"}})) == {"trigger"}
    assert set(faults({**abandoned_cart(), "trigger": {"order": "refunded"}})) == {"trigger.order"}
    assert set(faults({**abandoned_cart(), "trigger": {"event": "Add To Cart"}})) == {"trigger.event"}
