"""Campaign definitions (issue 14 groundwork): every fault at once, by its path; send times."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notify.domain.campaign_definitions import parse_campaign
from services.runtime.errors import InvalidArgument

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SEGMENT, A, B = (str(uuid.uuid4()) for _ in range(3))


def campaign(**fields: Any) -> dict[str, Any]:
    return {
        "name": "双十二预热",
        "segment_id": SEGMENT,
        "variants": [
            {"name": "A", "template_id": A, "weight": 45},
            {"name": "B", "template_id": B, "weight": 45},
        ],
        "holdout_percent": 10,
        **fields,
    }


def faults(document: Any) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        parse_campaign(document, NOW)
    return {v.field: v.message for v in caught.value.violations}


def test_a_good_campaign_parses_with_its_defaults() -> None:
    parsed = parse_campaign(campaign(), NOW)
    assert [(v.name, str(v.template_id), v.weight) for v in parsed.variants] == [("A", A, 45), ("B", B, 45)]
    assert (parsed.holdout_percent, parsed.send_at, parsed.conversion_window) == (
        10.0,
        None,
        timedelta(days=7),
    )


def test_every_fault_is_named_by_its_path() -> None:
    document = campaign(
        variants=[
            {"name": "A", "template_id": "nope", "weight": 0},
            {"name": "A", "template_id": B, "weight": 101, "colour": "red"},
            {"name": "holdout", "template_id": A, "weight": 1},
        ],
        holdout_percent=50.5,
        conversion_window="P1Y",
        segment_id=7,
        extra=True,
    )
    assert set(faults(document)) == {
        "variants[0].template_id",
        "variants[0].weight",
        "variants[1].name",
        "variants[1].weight",
        "variants[1].colour",
        "variants[2].name",
        "holdout_percent",
        "conversion_window",
        "segment_id",
        "extra",
    }
    assert set(faults(campaign(variants=[]))) == {"variants"}
    assert set(faults(campaign(holdout_percent=0.25))) == {"holdout_percent"}
    assert set(faults([])) == {"campaign"}


def test_send_times_are_an_instant_or_a_local_wall_clock() -> None:
    instant = parse_campaign(campaign(send_at="2026-12-10T10:00:00+08:00"), NOW).send_at
    assert instant is not None
    assert instant.at == datetime(2026, 12, 10, 2, 0, tzinfo=UTC)
    local = parse_campaign(campaign(send_at="2026-12-10T10:00", send_at_zone="customer"), NOW).send_at
    assert local is not None
    assert (local.local, local.zone) == (datetime(2026, 12, 10, 10, 0), "customer")
    assert set(faults(campaign(send_at="2026-12-10T10:00:00+08:00", send_at_zone="customer"))) == {"send_at"}
    assert set(faults(campaign(send_at="2028-01-01T10:00"))) == {"send_at"}
    assert set(faults(campaign(send_at="soon", send_at_zone="moon"))) == {"send_at", "send_at_zone"}
