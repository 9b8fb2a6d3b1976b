"""Consent per channel x purpose, with how and when it was given or withdrawn.

Rules decided here (the README records them):
- channels: sms, email, push, wechat; purposes: marketing, service; the source says how ("checkout_form",
  "unsubscribe_link"), 1-64 printable characters, "api" when not given; the time is when the service
  recorded it;
- the state is whether consent is granted; setting the state it already has changes nothing: no
  history row, no consent.changed event (a different source alone is not a change);
- a channel x purpose never recorded has no state (``granted`` None): senders treat it as no consent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.profile.domain.tags import path_id
from services.runtime.errors import ViolationCollector
from services.runtime.paging import Page, decode_cursor, page_size

CHANNELS: tuple[str, ...] = ("sms", "email", "push", "wechat")
PURPOSES: tuple[str, ...] = ("marketing", "service")
DEFAULT_SOURCE = "api"
MAX_SOURCE_LENGTH = 64


@dataclass(frozen=True, slots=True)
class ConsentState:
    """The current consent for one channel x purpose (``granted`` None: never recorded)."""

    channel: str
    purpose: str
    granted: bool | None
    source: str | None
    changed_at: datetime | None


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """One entry of a customer's consent history."""

    change_id: int
    channel: str
    purpose: str
    granted: bool
    source: str
    changed_at: datetime


class ConsentStore(Protocol):
    async def set(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        channel: str,
        purpose: str,
        granted: bool,
        source: str,
    ) -> tuple[ConsentState, bool]: ...
    async def current(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> list[ConsentState]: ...
    async def history(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        channel: str | None,
        purpose: str | None,
        limit: int,
        before: int | None,
    ) -> Page[ConsentChange]: ...


def _check_channel(value: str, errors: ViolationCollector) -> None:
    if value not in CHANNELS:
        errors.add("channel", f"must be one of {', '.join(CHANNELS)}")


def _check_purpose(value: str, errors: ViolationCollector) -> None:
    if value not in PURPOSES:
        errors.add("purpose", f"must be one of {', '.join(PURPOSES)}")


def clean_source(value: str, errors: ViolationCollector) -> str:
    """How the consent was given; free text, bounded, defaulting to "api"."""
    source = value.strip() or DEFAULT_SOURCE
    if len(source) > MAX_SOURCE_LENGTH or not source.isprintable():
        errors.add("source", f"must be 1 to {MAX_SOURCE_LENGTH} printable characters")
    return source


def complete(recorded: list[ConsentState]) -> list[ConsentState]:
    """Every channel x purpose in a fixed order, the unrecorded ones without state."""
    by_key = {(c.channel, c.purpose): c for c in recorded}
    return [
        by_key.get((channel, purpose), ConsentState(channel, purpose, None, None, None))
        for channel in CHANNELS
        for purpose in PURPOSES
    ]


class ConsentRegistry:
    """Who may be contacted on which channel for what, and the record of how that came to be."""

    def __init__(self, store: ConsentStore) -> None:
        self._store = store

    async def set(
        self, tenant_id: uuid.UUID, customer_id: str, channel: str, purpose: str, granted: bool, source: str
    ) -> tuple[ConsentState, bool]:
        """Record a grant or withdrawal; a change adds a history row and emits consent.changed."""
        customer = path_id(customer_id, "customer")
        errors = ViolationCollector()
        _check_channel(channel, errors)
        _check_purpose(purpose, errors)
        clean = clean_source(source, errors)
        errors.raise_if_any()
        return await self._store.set(tenant_id, customer, channel, purpose, granted, clean)

    async def current(self, tenant_id: uuid.UUID, customer_id: str) -> list[ConsentState]:
        """The state of every channel x purpose (senders check this before a message goes out)."""
        recorded = await self._store.current(tenant_id, path_id(customer_id, "customer"))
        return complete(recorded)

    async def history(
        self, tenant_id: uuid.UUID, customer_id: str, channel: str, purpose: str, limit: int, cursor: str
    ) -> Page[ConsentChange]:
        """Every change, newest first, optionally for one channel and/or purpose."""
        customer = path_id(customer_id, "customer")
        errors = ViolationCollector()
        if channel:
            _check_channel(channel, errors)
        if purpose:
            _check_purpose(purpose, errors)
        errors.raise_if_any()
        size = page_size(limit)
        before = decode_cursor(cursor, (int,))
        return await self._store.history(
            tenant_id, customer, channel or None, purpose or None, size, before[0] if before else None
        )
