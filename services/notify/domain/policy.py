"""The policy that protects customers: one decision, in one place, for every message of every sender.

A message is sent, deferred until quiet hours end, or suppressed with a reason. The order of the
checks is the order of the reasons a merchant's support team would give: an erased customer is never
reached (``erased``); a message with nowhere to go is not sent (``no_contact``); an unsubscribe from
the channel wins (``unsubscribed``); then consent for the channel and purpose (``no_consent``:
marketing needs a recorded grant — no record is no consent — while a service message, an order
confirmation, goes unless the customer withdrew it); then, for marketing only, the frequency caps
counted across every channel and every sender (``capped``) and the quiet hours in the customer's
time zone, else the tenant's (``deferred`` until they end, never dropped). Service messages are never
capped nor deferred.

This module decides from facts; counting the customer's recent marketing messages under a lock, so
that twenty concurrent sends against a cap of two send exactly two, is the store's part.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.notify.domain.durations import parse_duration
from services.runtime.errors import FieldViolation, InvalidArgument

MAX_CAPS = 5
MAX_CAP_COUNT = 1_000
MIN_ATTRIBUTION = timedelta(hours=1)
MAX_ATTRIBUTION = timedelta(days=90)
MAX_GLOBAL_CONTROL = 20.0
"""At most a fifth of a tenant's customers may be kept out of every marketing campaign (issue 14)."""
MIN_CAP_WINDOW, MAX_CAP_WINDOW = timedelta(hours=1), timedelta(days=90)
"""A cap counts marketing messages in a sliding window from one hour ("no more than one an hour") to
90 days (a quarter); the messages it counts are kept at least that long."""

POLICY_KEYS = ("frequency_caps", "quiet_hours", "attribution_window", "global_control_percent")

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class Cap:
    """At most ``max`` marketing messages in any window of ``per``."""

    max: int
    per: timedelta


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local wall-clock hours without marketing; ``start > end`` spans midnight (22:00-08:00)."""

    start: time
    end: time


@dataclass(frozen=True, slots=True)
class Policy:
    caps: tuple[Cap, ...] = ()
    quiet_hours: QuietHours | None = None
    # An order paid this long after a delivered marketing message converts it (attribution).
    attribution_window: timedelta = timedelta(days=7)
    # The share of customers (percent, 0 to 20) no marketing campaign reaches: the global control group.
    global_control_percent: float = 0.0


def _clock(text: Any) -> time | None:
    match = _CLOCK.match(text) if isinstance(text, str) else None
    return time(int(match.group(1)), int(match.group(2))) if match else None


def parse_policy(document: Any) -> Policy:
    """The tenant's policy from its JSON document (``GET|PUT /v1/notify/policy``); InvalidArgument
    naming every fault's path (``frequency_caps[1].per``, ``quiet_hours.start``)."""
    if not isinstance(document, dict):
        raise InvalidArgument.single("policy", "must be an object")
    faults: list[FieldViolation] = []
    for key in sorted(set(document) - set(POLICY_KEYS)):
        faults.append(FieldViolation(key, "is not a policy setting"))
    caps = _caps(document.get("frequency_caps", []), faults)
    quiet = _quiet(document.get("quiet_hours"), faults)
    window = parse_duration(document.get("attribution_window", "P7D"))
    if window is None or not MIN_ATTRIBUTION <= window <= MAX_ATTRIBUTION:
        faults.append(FieldViolation("attribution_window", "must be a duration from PT1H to P90D"))
    control = _global_control(document.get("global_control_percent", 0), faults)
    if faults:
        raise InvalidArgument(faults)
    return Policy(caps, quiet, window or timedelta(days=7), control)


def _global_control(value: Any, faults: list[FieldViolation]) -> float:
    """A percentage from 0 to 20 in steps of 0.1 (the global control group's share)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= MAX_GLOBAL_CONTROL
        or abs(round(value * 10) - value * 10) > 1e-9
    ):
        faults.append(
            FieldViolation(
                "global_control_percent", f"must be a number from 0 to {MAX_GLOBAL_CONTROL:g} in steps of 0.1"
            )
        )
        return 0.0
    return round(float(value), 1)


def policy_document(policy: Policy) -> dict[str, Any]:
    """The policy as its JSON document (what ``GET /v1/notify/policy`` answers)."""
    return {
        "frequency_caps": [{"max": cap.max, "per": _iso(cap.per)} for cap in policy.caps],
        "quiet_hours": None
        if policy.quiet_hours is None
        else {
            "start": policy.quiet_hours.start.strftime("%H:%M"),
            "end": policy.quiet_hours.end.strftime("%H:%M"),
        },
        "attribution_window": _iso(policy.attribution_window),
        "global_control_percent": policy.global_control_percent,
    }


def _iso(span: timedelta) -> str:
    days, rest = span.days, span.seconds
    hours, minutes = rest // 3600, rest % 3600 // 60
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return "P" + (f"{days}D" if days else "") + (f"T{clock}" if clock else "") if days or clock else "PT0M"


def _caps(items: Any, faults: list[FieldViolation]) -> tuple[Cap, ...]:
    if not isinstance(items, list):
        faults.append(FieldViolation("frequency_caps", "must be a list ([] turns caps off)"))
        return ()
    if len(items) > MAX_CAPS:
        faults.append(FieldViolation("frequency_caps", f"at most {MAX_CAPS} caps"))
    caps = []
    for index, item in enumerate(items[:MAX_CAPS]):
        path = f"frequency_caps[{index}]"
        if not isinstance(item, dict) or set(item) != {"max", "per"}:
            faults.append(FieldViolation(path, 'must be {"max": n, "per": duration}'))
            continue
        count, per = item["max"], parse_duration(item["per"])
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_CAP_COUNT:
            faults.append(FieldViolation(f"{path}.max", f"must be a whole number from 1 to {MAX_CAP_COUNT}"))
        if per is None or not MIN_CAP_WINDOW <= per <= MAX_CAP_WINDOW:
            faults.append(
                FieldViolation(f"{path}.per", "must be a duration from PT1H to P90D (days, hours, minutes)")
            )
        if per is not None and isinstance(count, int) and not isinstance(count, bool):
            caps.append(Cap(count, per))
    return tuple(caps)


def _quiet(item: Any, faults: list[FieldViolation]) -> QuietHours | None:
    if item is None:
        return None
    if not isinstance(item, dict) or set(item) != {"start", "end"}:
        faults.append(FieldViolation("quiet_hours", 'must be {"start": "HH:MM", "end": "HH:MM"} or null'))
        return None
    start, end = _clock(item["start"]), _clock(item["end"])
    for name, value in (("start", start), ("end", end)):
        if value is None:
            faults.append(FieldViolation(f"quiet_hours.{name}", "must be a time HH:MM (00:00-23:59)"))
    if start is not None and start == end:
        faults.append(FieldViolation("quiet_hours.end", "must differ from start"))
    return QuietHours(start, end) if start is not None and end is not None and start != end else None


def recipient_zone(customer_zone: str | None, tenant_zone: str | None) -> ZoneInfo:
    """The zone quiet hours are judged in: the customer's, else the tenant's, else UTC (a name this
    Python does not know falls through to the next rather than failing the send)."""
    for name in (customer_zone, tenant_zone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def quiet_until(quiet: QuietHours | None, now: datetime, zone: ZoneInfo) -> datetime | None:
    """When the quiet hours around ``now`` end (an aware instant), or None outside them. Local wall
    time in ``zone``: an end falling in a daylight-saving gap is taken at the first instant after it."""
    if quiet is None:
        return None
    local = now.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    spans_midnight = quiet.start > quiet.end
    inside = (wall >= quiet.start or wall < quiet.end) if spans_midnight else quiet.start <= wall < quiet.end
    if not inside:
        return None
    day = local.date() if wall < quiet.end else local.date() + timedelta(days=1)
    end = datetime.combine(day, quiet.end, tzinfo=zone)
    # A wall time skipped by a DST change does not exist: round-trip through UTC lands after the gap.
    return end.astimezone(ZoneInfo("UTC")).astimezone(zone)


def capped(caps: Sequence[Cap], sent: Sequence[datetime], now: datetime) -> bool:
    """Whether one more marketing message at ``now`` would break a cap, given the times of the
    customer's marketing messages already sent or queued (across every channel and sender)."""
    return any(sum(1 for at in sent if now - cap.per < at <= now) >= cap.max for cap in caps)


@dataclass(frozen=True, slots=True)
class Decision:
    """``send``, ``defer`` (``until``) or ``suppress`` (``reason``)."""

    action: str
    reason: str | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    """What the policy knows of a customer for one message's channel."""

    erased: bool
    has_contact: bool
    unsubscribed: bool
    consent: bool | None  # a recorded grant, a recorded withdrawal, or never recorded
    zone: ZoneInfo


def decide(
    purpose: str, recipient: Recipient, policy: Policy, sent: Sequence[datetime], now: datetime
) -> Decision:
    """The policy's answer for one message of ``purpose`` (``marketing`` or ``service``)."""
    if recipient.erased:
        return Decision("suppress", "erased")
    if not recipient.has_contact:
        return Decision("suppress", "no_contact")
    if recipient.unsubscribed:
        return Decision("suppress", "unsubscribed")
    allowed = recipient.consent is True if purpose == "marketing" else recipient.consent is not False
    if not allowed:
        return Decision("suppress", "no_consent")
    if purpose != "marketing":
        return Decision("send")
    if capped(policy.caps, sent, now):
        return Decision("suppress", "capped")
    until = quiet_until(policy.quiet_hours, now, recipient.zone)
    return Decision("defer", until=until) if until is not None else Decision("send")
