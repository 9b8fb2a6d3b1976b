"""Customers and their attributes, with the rules an attribute must meet."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.profile.domain.identities import NormalizedIdentity
from services.runtime.errors import ViolationCollector

GENDERS: tuple[str, ...] = ("female", "male", "other", "unknown")
DEVICES: tuple[str, ...] = ("app", "mini_program", "web")
MAX_TEXT_LENGTH = 100
MAX_CUSTOM_BYTES = 16 * 1024
MAX_CUSTOM_KEYS = 100
MAX_CUSTOM_DEPTH = 5
EARLIEST_BIRTHDAY = date(1900, 1, 1)
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class CustomerAttributes:
    """A customer's static attributes. ``None`` means "not given" (and, on update, "leave as is")."""

    nickname: str | None = None
    gender: str | None = None
    birthday: date | None = None
    province: str | None = None
    city: str | None = None
    registered_at: datetime | None = None
    registration_channel: str | None = None
    device: str | None = None
    custom: dict[str, Any] | None = None
    timezone: str | None = None  # an IANA zone name, e.g. "Asia/Shanghai"

    def given(self) -> dict[str, Any]:
        """Only the attributes that were given."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


ATTRIBUTE_NAMES: frozenset[str] = frozenset(f.name for f in fields(CustomerAttributes))


@dataclass(frozen=True, slots=True)
class Customer:
    """One person, as the profile service knows them."""

    customer_id: uuid.UUID
    attributes: CustomerAttributes
    identities: list[NormalizedIdentity]
    created_at: datetime
    updated_at: datetime
    merged_into: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class IdentifyResult:
    """The customer a call resolved to; ``unmerged_customer_ids``: customers its identities also
    point at, kept apart because those links were neither verified nor of an auto-merge type."""

    customer_id: uuid.UUID
    created: bool
    merged_customer_ids: list[uuid.UUID] = field(default_factory=list)
    unmerged_customer_ids: list[uuid.UUID] = field(default_factory=list)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


MAX_TIME_ZONE_LENGTH = 64


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is a zone of the IANA database as zoneinfo knows it (``Asia/Shanghai``,
    ``UTC``). Checked here so that a segment's local calendar (birthdays) never meets a zone the
    database cannot answer; paths and odd names are refused before zoneinfo reads any file."""
    if not name or len(name) > MAX_TIME_ZONE_LENGTH or name != name.strip():
        return False
    if name.startswith(("/", ".")) or ".." in name or "\\" in name or "\x00" in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def validate_attributes(attributes: CustomerAttributes, today: date, now: datetime) -> None:
    """Raise InvalidArgument naming each attribute that breaks a rule (``attributes.<name>``)."""
    errors = ViolationCollector()
    for name in ("nickname", "province", "city", "registration_channel"):
        value = getattr(attributes, name)
        if value is not None and (not value.strip() or len(value) > MAX_TEXT_LENGTH):
            errors.add(f"attributes.{name}", f"must be 1 to {MAX_TEXT_LENGTH} characters")
    if attributes.gender is not None and attributes.gender not in GENDERS:
        errors.add("attributes.gender", f"must be one of {', '.join(GENDERS)}")
    if attributes.device is not None and attributes.device not in DEVICES:
        errors.add("attributes.device", f"must be one of {', '.join(DEVICES)}")
    if attributes.birthday is not None and not EARLIEST_BIRTHDAY <= attributes.birthday <= today:
        errors.add("attributes.birthday", "must be a date between 1900-01-01 and today")
    if attributes.timezone is not None and not is_time_zone(attributes.timezone):
        errors.add("attributes.timezone", "must be an IANA time zone name such as Asia/Shanghai")
    if attributes.registered_at is not None:
        if attributes.registered_at.tzinfo is None:
            errors.add("attributes.registered_at", "must carry a time zone offset")
        elif attributes.registered_at > now + CLOCK_SKEW:
            errors.add("attributes.registered_at", "must not be in the future")
    if attributes.custom is not None:
        if not isinstance(attributes.custom, dict):
            errors.add("attributes.custom", "must be an object")
        elif len(attributes.custom) > MAX_CUSTOM_KEYS:
            errors.add("attributes.custom", f"must have at most {MAX_CUSTOM_KEYS} keys")
        elif _depth(attributes.custom) > MAX_CUSTOM_DEPTH:
            errors.add("attributes.custom", f"must nest at most {MAX_CUSTOM_DEPTH} levels")
        elif len(json.dumps(attributes.custom, ensure_ascii=False).encode()) > MAX_CUSTOM_BYTES:
            errors.add("attributes.custom", f"must be at most {MAX_CUSTOM_BYTES} bytes as JSON")
    errors.raise_if_any()
