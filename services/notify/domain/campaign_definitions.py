"""Campaign definitions (issue 14 groundwork): the document checked, every fault named by its path.

A campaign sends one message to a saved segment, split into variants by weight, keeping a holdout
that gets nothing (API.md "Campaigns"). ``parse_campaign`` checks the shape and the limits and answers
every fault at once (``variants[1].weight``); the store then checks that the segment and every
template are the tenant's own, reported at the same paths.

When it sends (decided here, where API.md is silent): ``send_at`` absent — at start; an ISO 8601
time with an offset (``2026-12-10T10:00:00+08:00``) — at that instant for everyone; a local time
without an offset (``2026-12-10T10:00``) — at that wall-clock time in ``send_at_zone``: the tenant's
zone (the default) or each customer's own (their ``timezone`` attribute, else the tenant's), so a
"10:00" campaign reaches Ürümqi and Shanghai customers at their own ten o'clock.

Limits (explicit): a name of 1 to 100 characters; 1 to 10 variants, each named (1 to 40 characters, unique)
with a template and a whole weight 1 to 100 (relative); a holdout of 0 to 50 % in steps of 0.1; a
conversion window from PT1H to P90D (default P7D); a local send time at most a year ahead.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.notify.domain.durations import parse_duration
from services.runtime.errors import FieldViolation, InvalidArgument

MAX_NAME = 100
MAX_VARIANTS = 10
MAX_VARIANT_NAME = 40
MAX_WEIGHT = 100
MAX_HOLDOUT = 50.0
DEFAULT_WINDOW = timedelta(days=7)
MIN_WINDOW = timedelta(hours=1)
MAX_WINDOW = timedelta(days=90)
ZONES = ("tenant", "customer")
FIELDS = ("name", "segment_id", "variants", "holdout_percent", "send_at", "send_at_zone", "conversion_window")

_VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}$")


@dataclass(frozen=True)
class Variant:
    name: str
    template_id: uuid.UUID
    weight: int


@dataclass(frozen=True)
class SendAt:
    """An instant (``at`` with an offset) or a local wall-clock time (``local``) in ``zone``."""

    at: datetime | None = None
    local: datetime | None = None
    zone: str = "tenant"


@dataclass(frozen=True)
class CampaignDefinition:
    name: str
    segment_id: uuid.UUID
    variants: tuple[Variant, ...]
    holdout_percent: float
    send_at: SendAt | None  # None: at start
    conversion_window: timedelta


class _Faults:
    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(FieldViolation(path, message))

    def uuid(self, value: Any, path: str) -> uuid.UUID | None:
        if isinstance(value, str):
            try:
                return uuid.UUID(value)
            except ValueError:
                pass
        self.add(path, "must be a UUID")
        return None


def _variants(value: Any, faults: _Faults) -> tuple[Variant, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_VARIANTS:
        faults.add("variants", f"must be a list of 1 to {MAX_VARIANTS} variants")
        return ()
    parsed: list[Variant] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        path = f"variants[{index}]"
        if not isinstance(item, dict):
            faults.add(path, 'must be {"name", "template_id", "weight"}')
            continue
        for key in sorted(set(item) - {"name", "template_id", "weight"}):
            faults.add(f"{path}.{key}", "is not a variant field")
        name = item.get("name")
        if not isinstance(name, str) or not _VARIANT_NAME.match(name) or name == "holdout":
            faults.add(
                f"{path}.name", f'must be 1 to {MAX_VARIANT_NAME} letters, digits, " _.-" (not "holdout")'
            )
        elif name in seen:
            faults.add(f"{path}.name", "is used by another variant")
        else:
            seen.add(name)
        template = faults.uuid(item.get("template_id"), f"{path}.template_id")
        weight = item.get("weight")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= MAX_WEIGHT:
            faults.add(f"{path}.weight", f"must be a whole number from 1 to {MAX_WEIGHT}")
        elif template is not None and isinstance(name, str):
            parsed.append(Variant(name, template, weight))
    return tuple(parsed)


def _send_at(value: Any, zone: Any, now: datetime, faults: _Faults) -> SendAt | None:
    if zone not in ZONES:
        faults.add("send_at_zone", 'must be "tenant" or "customer"')
        zone = "tenant"
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        faults.add("send_at", "must be an ISO 8601 date and time (with an offset, or local to send_at_zone)")
        return None
    if moment.tzinfo is not None:
        if zone == "customer":
            faults.add("send_at", "must be a local time (no offset) when send_at_zone is customer")
        if moment > now + timedelta(days=365):
            faults.add("send_at", "must be within a year")
        return SendAt(at=moment, zone=zone)
    if moment > now.replace(tzinfo=None) + timedelta(days=365):
        faults.add("send_at", "must be within a year")
    return SendAt(local=moment, zone=zone)


def parse_campaign(document: Any, now: datetime) -> CampaignDefinition:
    """The definition of ``POST /v1/campaigns``; InvalidArgument naming the path of every fault."""
    if not isinstance(document, dict):
        raise InvalidArgument.single("campaign", "must be an object")
    faults = _Faults()
    for key in sorted(set(document) - set(FIELDS)):
        faults.add(key, "is not a campaign field")
    name = document.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        faults.add("name", f"must be text of 1 to {MAX_NAME} characters")
    segment = faults.uuid(document.get("segment_id"), "segment_id")
    variants = _variants(document.get("variants"), faults)
    holdout = document.get("holdout_percent", 0)
    if (
        not isinstance(holdout, int | float)
        or isinstance(holdout, bool)
        or not 0 <= holdout <= MAX_HOLDOUT
        or round(holdout * 10) != holdout * 10
    ):
        faults.add("holdout_percent", f"must be a number from 0 to {MAX_HOLDOUT:g} in steps of 0.1")
        holdout = 0
    send_at = _send_at(document.get("send_at"), document.get("send_at_zone", "tenant"), now, faults)
    window = DEFAULT_WINDOW
    if "conversion_window" in document:
        parsed = parse_duration(document["conversion_window"])
        if parsed is None or not MIN_WINDOW <= parsed <= MAX_WINDOW:
            faults.add("conversion_window", "must be a duration from PT1H to P90D")
        else:
            window = parsed
    if faults.items:
        raise InvalidArgument(faults.items)
    assert segment is not None
    return CampaignDefinition(str(name).strip(), segment, variants, float(holdout), send_at, window)
