"""The six classic journeys: each expands into a journey ``parse_journey`` accepts, its copy passes
the template checks on every channel it offers, its coupons pass loyalty's rules, and overrides and
their faults are named by path."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.loyalty.domain.coupons import TemplateSpec, validate_template
from services.notify.domain.journey_classics import Expansion, catalogue, expand, fill
from services.notify.domain.journey_classics_data import CLASSIC_CHANNELS
from services.notify.domain.journey_definitions import parse_journey
from services.notify.domain.template_documents import parse_template_document, render_message
from services.notify.domain.templates import MissingPersonalData
from services.runtime.errors import InvalidArgument, NotFound

SEGMENT = str(uuid.uuid4())
NAMES = [
    "abandoned_cart",
    "first_order_thanks",
    "birthday",
    "win_back",
    "tier_upgraded",
    "wrong_size_return",
]
REQUIRED: dict[str, dict[str, Any]] = {"win_back": {"parameters": {"segment_id": SEGMENT}}}
PERSONAL = {"coupon.code": "ABCD2345EFGH6789", "loyalty.tier": "金卡", "loyalty.points": 120}
DATA = {"benefits": "9.5折 · 包邮", "to_tier": "gold", "order_id": "O-1001"}


def expanded(classic: str, **overrides: Any) -> Expansion:
    return expand(classic, {**REQUIRED.get(classic, {}), **overrides})


def random_ids(expansion: Expansion) -> dict[str, str]:
    slots = [m.slot for m in expansion.messages] + [c.slot for c in expansion.coupons]
    return {slot: str(uuid.uuid4()) for slot in slots}


def faults(name: str, overrides: Any) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        expand(name, overrides)
    return {violation.field: violation.message for violation in caught.value.violations}


def test_the_catalogue_lists_the_six_with_parameters_slots_and_documents() -> None:
    items = {item["name"]: item for item in catalogue()}
    assert list(items) == NAMES
    for item in items.values():
        assert set(item["title"]) == set(item["description"]) == {"zh", "en"}
        assert item["parameters"]["channel"] == {"default": "email", "required": False}
    assert items["abandoned_cart"]["slots"] == {"reminder": "message", "coupon": "coupon"}
    assert items["abandoned_cart"]["parameters"]["wait"] == {"default": "PT24H", "required": False}
    assert items["win_back"]["parameters"]["segment_id"] == {"default": None, "required": True}
    assert items["birthday"]["document"]["trigger"] == {"date": "birthday", "days_before": 3}
    assert items["abandoned_cart"]["document"]["steps"][1]["else"] == [
        {"issue_coupon": {"template_id": "slot:coupon"}},
        {"send": {"template_id": "slot:reminder"}},
    ]


@pytest.mark.parametrize("name", NAMES)
def test_every_classic_is_a_valid_journey_once_filled(name: str) -> None:
    expansion = expanded(name)
    ids = random_ids(expansion)
    journey = parse_journey(fill(expansion.document, ids))
    message_ids = {uuid.UUID(ids[m.slot]) for m in expansion.messages}
    coupon_ids = {uuid.UUID(ids[c.slot]) for c in expansion.coupons}
    assert set(journey.references.templates.values()) == message_ids
    assert set(journey.references.coupon_templates.values()) == coupon_ids
    assert "slot:" in str(expansion.document)  # the placeholders stay until fill


@pytest.mark.parametrize("channel", CLASSIC_CHANNELS)
@pytest.mark.parametrize("name", NAMES)
def test_every_message_passes_the_template_checks_and_renders(name: str, channel: str) -> None:
    expansion = expanded(
        name, parameters={**REQUIRED.get(name, {}).get("parameters", {}), "channel": channel}
    )
    assert expansion.messages
    for message in expansion.messages:
        document = {"name": message.name, "channel": message.channel, "purpose": message.purpose}
        document["body"] = message.body
        if message.subject is not None:
            document["subject"] = message.subject
        template = parse_template_document(document)
        assert (message.subject is not None) == (channel in ("email", "push"))
        assert template.parts.personal_fields <= {"coupon.code", "loyalty.tier"}  # nothing a customer lacks
        rendered = render_message(template.parts, PERSONAL, DATA)
        assert not isinstance(rendered, MissingPersonalData)
        assert "$" not in rendered.body
        assert "{" not in rendered.body


@pytest.mark.parametrize("name", NAMES)
def test_every_coupon_passes_loyaltys_rules(name: str) -> None:
    for coupon in expanded(name).coupons:
        spec = TemplateSpec(
            name=coupon.name,
            kind=coupon.kind,
            threshold_minor=coupon.threshold_minor,
            discount_minor=coupon.discount_minor,
            percent_off=coupon.percent_off,
            valid_days=coupon.valid_days,
            per_customer_limit=coupon.per_customer_limit,
        )
        validate_template(spec, datetime.now(UTC))


def test_the_abandoned_cart_is_the_classic_of_the_issue() -> None:
    expansion = expanded("abandoned_cart")
    document = expansion.document
    assert document["trigger"] == {"event": "add_to_cart"}
    assert document["steps"][0] == {"wait": "PT24H"}
    assert document["steps"][1]["if"] == {"since_trigger": {"order": True}}
    assert document["goal"] == {"order": "paid"}
    assert document["reentry"] == "P7D"
    (coupon,) = expansion.coupons
    assert (coupon.kind, coupon.discount_minor, coupon.valid_days) == ("no_threshold", 500, 7)
    (reminder,) = expansion.messages
    assert "5 元无门槛券" in reminder.body
    assert "{{ coupon.code }}" in reminder.body
    assert reminder.purpose == "marketing"
    assert reminder.name == "购物车挽回 · 库存提醒"


def test_the_other_classics_keep_their_shape() -> None:
    first = expanded("first_order_thanks", parameters={"wait": "P3D"}).document
    assert first["trigger"] == {"order": "paid", "first": True}
    assert "goal" not in first
    assert first["reentry"] == "never"
    assert first["steps"][1] == {"wait": "P3D"}
    win_back = expanded("win_back").document
    assert win_back["trigger"] == {"segment_entered": SEGMENT}
    assert win_back["reentry"] == "P180D"
    assert win_back["steps"][1] == {"wait": "P60D"}
    tier = expanded("tier_upgraded")
    assert tier.document["reentry"] == "PT1H"
    assert "{{ data.benefits }}" in tier.messages[0].body
    size = expand(
        "wrong_size_return",
        {"parameters": {"reason": "太小", "exchange_url": "https://a.example/x?sku=1", "channel": "sms"}},
    )
    assert size.document["trigger"] == {"refund": {"reason": "太小"}}
    (guide,) = size.messages
    assert guide.purpose == "service"
    assert guide.channel == "sms"
    assert guide.subject is None
    assert "https://a.example/x?sku=1" in guide.body
    assert "https://shop.example/size-guide" in guide.body
    assert "{{ data.order_id }}" in guide.body
    assert "“太小”" in guide.body


def test_the_birthday_takes_the_tier_benefit_or_a_fixed_coupon() -> None:
    default = expanded("birthday")
    assert default.document["steps"][0] == {"issue_coupon": {"tier_benefit": "birthday"}}
    assert default.coupons == ()
    assert default.document["reentry"] == "P300D"
    fixed = str(uuid.uuid4())
    today = expand("birthday", {"parameters": {"coupon_template_id": fixed, "days_before": 0}})
    assert today.document["steps"][0] == {"issue_coupon": {"template_id": fixed}}
    assert today.document["trigger"]["days_before"] == 0
    assert "今天是您的生日" in today.messages[0].body
    assert "生日就快到了" in default.messages[0].body


def test_overridden_slots_carry_the_merchants_ids_and_are_not_created() -> None:
    mine, my_coupon = str(uuid.uuid4()), str(uuid.uuid4())
    expansion = expand(
        "abandoned_cart",
        {
            "name": "  我的购物车  ",
            "parameters": {"wait": "PT2H", "channel": "push"},
            "templates": {"reminder": mine},
            "coupon_templates": {"coupon": my_coupon},
            "reentry": "P30D",
            "goal": None,
        },
    )
    assert expansion.messages == ()
    assert expansion.coupons == ()
    document = expansion.document
    assert document["name"] == "我的购物车"
    assert document["reentry"] == "P30D"
    assert "goal" not in document
    assert document["steps"][0] == {"wait": "PT2H"}
    assert document["steps"][1]["else"] == [
        {"issue_coupon": {"template_id": my_coupon}},
        {"send": {"template_id": mine}},
    ]
    assert fill(document, {}) == document  # nothing left to fill
    # a message whose coupon is the merchant's own does not promise 5 yuan
    own_coupon = expand("abandoned_cart", {"coupon_templates": {"coupon": my_coupon}})
    assert "5 元" not in own_coupon.messages[0].body
    assert "专属优惠券" in own_coupon.messages[0].body


def test_fill_needs_every_placeholder_and_leaves_the_document_alone() -> None:
    document = expanded("first_order_thanks").document
    with pytest.raises(ValueError, match="repeat_offer"):
        fill(document, {"thanks": str(uuid.uuid4()), "repeat_coupon": str(uuid.uuid4())})
    ids = {"thanks": "a", "repeat_coupon": "b", "repeat_offer": "c"}
    assert fill(document, ids)["steps"][0] == {"send": {"template_id": "a"}}
    assert document["steps"][0] == {"send": {"template_id": "slot:thanks"}}


def test_an_unknown_classic_is_not_found() -> None:
    with pytest.raises(NotFound):
        expand("black_friday", {})


def test_every_bad_override_is_named_by_its_path_at_once() -> None:
    found = faults(
        "abandoned_cart",
        {
            "name": "",
            "steps": [],
            "parameters": {"wait": "PT30S", "channel": "wechat", "colour": "red"},
            "templates": {"reminder": "nope", "thanks": str(uuid.uuid4())},
            "coupon_templates": {"coupon": 7},
            "reentry": "P1D2",
            "goal": {"order": "refunded"},
        },
    )
    assert set(found) == {
        "name",
        "steps",
        "parameters.wait",
        "parameters.channel",
        "parameters.colour",
        "templates.reminder",
        "templates.thanks",
        "coupon_templates.coupon",
        "reentry",
        "goal",
    }
    assert "templates.<slot>" in found["parameters.channel"]


@pytest.mark.parametrize(
    ("name", "overrides", "path"),
    [
        ("win_back", {}, "parameters.segment_id"),
        ("win_back", {"parameters": {"segment_id": "segment-7"}}, "parameters.segment_id"),
        ("win_back", {"parameters": {"segment_id": SEGMENT, "wait": "P400D"}}, "parameters.wait"),
        ("birthday", {"parameters": {"days_before": 31}}, "parameters.days_before"),
        ("birthday", {"parameters": {"days_before": True}}, "parameters.days_before"),
        ("birthday", {"parameters": {"coupon_template_id": 12}}, "parameters.coupon_template_id"),
        ("birthday", {"coupon_templates": {"gift": str(uuid.uuid4())}}, "coupon_templates.gift"),
        ("wrong_size_return", {"parameters": {"reason": "{{ x }}"}}, "parameters.reason"),
        (
            "wrong_size_return",
            {"parameters": {"size_guide_url": "ftp://x.example"}},
            "parameters.size_guide_url",
        ),
        (
            "wrong_size_return",
            {"parameters": {"exchange_url": "https://x.example/{{a}}"}},
            "parameters.exchange_url",
        ),
        ("tier_upgraded", {"parameters": []}, "parameters"),
        ("tier_upgraded", {"templates": ["x"]}, "templates"),
        ("tier_upgraded", {"reentry": "PT30M"}, "reentry"),
    ],
)
def test_a_bad_override_names_its_path(name: str, overrides: dict[str, Any], path: str) -> None:
    assert path in faults(name, overrides)


def test_a_long_journey_name_still_fits_the_template_names() -> None:
    expansion = expanded("win_back", name="长" * 100)
    assert all(len(message.name) <= 100 for message in expansion.messages)
    assert all(len(coupon.name) <= 100 for coupon in expansion.coupons)
    assert expansion.messages[0].name.endswith(" · 想念您")
