"""The customer-protection policy (``services/notify/domain/policy.py``): the document and its
faults, quiet hours across midnight and daylight-saving changes, the caps, and the order of reasons."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain.policy import (
    Cap,
    Decision,
    Policy,
    QuietHours,
    Recipient,
    capped,
    decide,
    parse_policy,
    quiet_until,
)
from services.runtime.errors import InvalidArgument

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = QuietHours(time(22, 0), time(8, 0))


def fault_paths(document: object) -> set[str]:
    with pytest.raises(InvalidArgument) as caught:
        parse_policy(document)
    return {violation.field for violation in caught.value.violations}


def test_the_contract_document_parses() -> None:
    policy = parse_policy(
        {"frequency_caps": [{"max": 2, "per": "P7D"}], "quiet_hours": {"start": "22:00", "end": "08:00"}}
    )
    assert policy == Policy((Cap(2, timedelta(days=7)),), NIGHT)
    assert parse_policy({"frequency_caps": [], "quiet_hours": None}) == Policy()


def test_every_fault_is_named_by_its_path() -> None:
    assert fault_paths(
        {
            "frequency_caps": [
                {"max": 0, "per": "P7D"},
                {"max": 2, "per": "P1M"},
                {"max": True, "per": "PT30M"},
            ],
            "quiet_hours": {"start": "24:00", "end": "8:00"},
            "quiet": 1,
        }
    ) == {
        "frequency_caps[0].max",
        "frequency_caps[1].per",
        "frequency_caps[2].max",
        "frequency_caps[2].per",
        "quiet_hours.start",
        "quiet_hours.end",
        "quiet",
    }
    assert fault_paths({"quiet_hours": {"start": "22:00", "end": "22:00"}}) == {"quiet_hours.end"}
    assert fault_paths({"frequency_caps": [{"max": 1, "per": "P1D"}] * 6}) == {"frequency_caps"}
    assert fault_paths([]) == {"policy"}


def test_a_duration_beyond_any_clock_is_a_fault_not_a_crash() -> None:
    """Found by the fuzz test: minutes past timedelta's range raised OverflowError (a 500)."""
    huge = "PT4H3982894703729M"
    assert fault_paths({"attribution_window": huge, "frequency_caps": [{"max": 1, "per": huge}]}) == {
        "attribution_window",
        "frequency_caps[0].per",
    }


def at(text: str, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def test_quiet_hours_across_midnight_end_at_the_local_end() -> None:
    assert quiet_until(NIGHT, at("2026-12-04T23:30"), SHANGHAI) == at("2026-12-05T08:00")
    assert quiet_until(NIGHT, at("2026-12-05T07:59"), SHANGHAI) == at("2026-12-05T08:00")
    assert quiet_until(NIGHT, at("2026-12-05T08:00"), SHANGHAI) is None
    assert quiet_until(NIGHT, at("2026-12-05T21:59"), SHANGHAI) is None
    lunch = QuietHours(time(12, 0), time(13, 30))
    assert quiet_until(lunch, at("2026-12-05T12:10"), SHANGHAI) == at("2026-12-05T13:30")
    assert quiet_until(lunch, at("2026-12-05T13:30"), SHANGHAI) is None
    assert quiet_until(None, at("2026-12-05T03:00"), SHANGHAI) is None


def test_an_end_in_a_daylight_saving_gap_is_the_first_instant_after_it() -> None:
    new_york = ZoneInfo("America/New_York")
    early = QuietHours(time(1, 0), time(2, 30))  # 2026-03-08 02:30 does not exist in New York
    end = quiet_until(early, at("2026-03-08T01:15", new_york), new_york)
    assert end is not None
    assert end.astimezone(UTC) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT


@given(
    st.integers(0, 23 * 60 + 59),
    st.integers(0, 23 * 60 + 59),
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    st.sampled_from(["Asia/Shanghai", "America/New_York", "Europe/London", "Pacific/Chatham"]),
)
def test_a_deferred_message_waits_exactly_until_the_end(
    start: int, end: int, naive: datetime, name: str
) -> None:
    if start == end:
        return
    zone = ZoneInfo(name)
    quiet = QuietHours(time(start // 60, start % 60), time(end // 60, end % 60))
    now = naive.replace(tzinfo=UTC)
    until = quiet_until(quiet, now, zone)
    if until is None:
        return
    assert now < until <= now + timedelta(hours=25)
    assert quiet_until(quiet, until, zone) is None  # sent when they end, not deferred again
    assert (
        quiet_until(quiet, until - timedelta(minutes=1), zone) is not None
        or until.astimezone(zone).time() != quiet.end
    )


def test_caps_count_a_sliding_window_across_everything_sent() -> None:
    now = at("2026-12-05T12:00")
    caps = [Cap(2, timedelta(days=7)), Cap(1, timedelta(hours=1))]
    assert not capped(caps, [now - timedelta(days=8), now - timedelta(days=3)], now)
    assert capped(caps, [now - timedelta(days=6), now - timedelta(days=3)], now)
    assert capped(caps, [now - timedelta(minutes=30)], now)
    assert not capped(caps, [now - timedelta(hours=1)], now)  # exactly one window ago: out
    assert not capped([], [now] * 100, now)


def recipient(**changes: object) -> Recipient:
    values: dict[str, object] = {
        "erased": False,
        "has_contact": True,
        "unsubscribed": False,
        "consent": True,
        "zone": SHANGHAI,
    }
    values.update(changes)
    return Recipient(**values)  # type: ignore[arg-type]


def test_the_reasons_come_in_order_and_service_messages_are_neither_capped_nor_deferred() -> None:
    policy = Policy((Cap(1, timedelta(days=7)),), NIGHT)
    night, day = at("2026-12-05T23:00"), at("2026-12-05T12:00")
    sent = [day - timedelta(days=1)]
    assert decide("marketing", recipient(erased=True, has_contact=False), policy, [], day) == Decision(
        "suppress", "erased"
    )
    assert (
        decide("marketing", recipient(has_contact=False, unsubscribed=True), policy, [], day).reason
        == "no_contact"
    )
    assert (
        decide("marketing", recipient(unsubscribed=True, consent=None), policy, [], day).reason
        == "unsubscribed"
    )
    assert decide("marketing", recipient(consent=None), policy, [], day).reason == "no_consent"
    assert decide("marketing", recipient(consent=False), policy, [], day).reason == "no_consent"
    assert decide("service", recipient(consent=None), policy, sent, night) == Decision("send")
    assert decide("service", recipient(consent=False), policy, [], day).reason == "no_consent"
    assert decide("marketing", recipient(), policy, sent, night).reason == "capped"
    assert decide("marketing", recipient(), policy, [], night) == Decision(
        "defer", until=at("2026-12-06T08:00")
    )
    assert decide("marketing", recipient(), policy, [], day) == Decision("send")
