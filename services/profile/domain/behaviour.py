"""Behaviour events: what a customer did (viewed, searched, added to cart, signed in, ...).

A storefront sends events in batches of up to 1,000. Every event is checked on its own, so that one
bad event is rejected alone and the good ones of the same call are still stored; each event is
stored once per tenant and ``event_id`` however often it is sent (a retry after a timeout is safe).
Events name their customer by ``customer_id`` or by identities; identities are resolved as
``identify`` does (the customer is created when none matches), each distinct set once per call.

Properties are the merchant's free-form data. Keeping personal data (phone, e-mail, names) out of
them is the merchant's responsibility: they are stored as given and travel in ``event.recorded``.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from services.profile.domain.behaviour_rules import (
    MAX_EVENTS_PER_CALL,
    CheckedEvent,
    EventInput,
    IdentityNormalizer,
    check_event,
    is_event_type,
)
from services.profile.domain.directory import TenantRegistry
from services.profile.domain.identities import NormalizedIdentity
from services.runtime.errors import FieldViolation, InvalidArgument, NotFound
from services.runtime.paging import cursor_key, encode_cursor

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class Outcome(enum.Enum):
    """What became of one event of a call."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class NewBehaviourEvent:
    """A checked event, ready to store; ``customer_id`` may be merged away (the store follows it)."""

    event_id: str
    type: str
    occurred_at: datetime
    customer_id: uuid.UUID
    properties_json: str


@dataclass(frozen=True, slots=True)
class StoredBehaviourEvent:
    """An event as stored, for listings."""

    event_id: str
    type: str
    occurred_at: datetime
    received_at: datetime
    customer_id: uuid.UUID
    properties_json: str


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What the store did with a batch: the ids it inserted now, the customers it could not find."""

    inserted: frozenset[str]
    missing_customers: frozenset[uuid.UUID]


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    violations: list[FieldViolation]


@dataclass(frozen=True, slots=True)
class RecordResult:
    """The answer to a batch: counts, the rejected events with their faults, and one outcome each."""

    accepted: int
    duplicates: int
    rejected: list[Rejection]
    outcomes: list[Outcome]


@dataclass(frozen=True, slots=True)
class PageKey:
    """Where a page of a customer's events ends (events are listed newest first)."""

    occurred_at: datetime
    event_id: str

    def encode(self) -> str:
        """An opaque cursor: clients pass it back, never build it."""
        return encode_cursor([self.occurred_at, self.event_id])

    @classmethod
    def decode(cls, cursor: str) -> PageKey:
        """The page key inside a cursor; InvalidArgument on ``cursor`` when it is not one of ours."""
        return cls(*cursor_key(cursor, (datetime, str)))


@dataclass(frozen=True, slots=True)
class EventPage:
    customer_id: uuid.UUID
    items: list[StoredBehaviourEvent]
    next_cursor: str | None


class BehaviourStore(Protocol):
    async def record(self, tenant_id: uuid.UUID, events: Sequence[NewBehaviourEvent]) -> StoreResult: ...

    async def list_for_customer(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        event_type: str | None,
        limit: int,
        after: PageKey | None,
    ) -> tuple[uuid.UUID, list[StoredBehaviourEvent]] | None: ...


class IdentitySetResolver(Protocol):
    """Resolves a batch's identity sets together, with the outcome a sequence of ``identify`` calls
    would give (``domain.batch_identities.BatchIdentityResolver`` implements it)."""

    async def resolve(
        self, tenant_id: uuid.UUID, sets: Collection[frozenset[NormalizedIdentity]]
    ) -> dict[frozenset[NormalizedIdentity], uuid.UUID]: ...


class BehaviourLog:
    """Records behaviour events and lists a customer's; the rules live here, the SQL in the store."""

    def __init__(
        self, store: BehaviourStore, customers: IdentitySetResolver, tenants: TenantRegistry
    ) -> None:
        self._store = store
        self._customers = customers
        self._tenants = tenants

    async def record(self, tenant_id: uuid.UUID, events: Sequence[EventInput]) -> RecordResult:
        """Store the good events of a batch once each; say per event what became of it.

        A fault of the call as a whole (no events, more than 1,000) raises InvalidArgument and stores
        nothing; a fault of one event rejects that event only.
        """
        if not events:
            raise InvalidArgument.single("events", "at least one event is required")
        if len(events) > MAX_EVENTS_PER_CALL:
            raise InvalidArgument.single("events", f"at most {MAX_EVENTS_PER_CALL} events per call")
        tenant = await self._tenants.get(tenant_id)
        now = datetime.now(UTC)
        normalizer = IdentityNormalizer(tenant.default_region)
        checked = [check_event(i, event, normalizer, now) for i, event in enumerate(events)]
        valid = [c for c in checked if not c.violations]
        await self._resolve_identities(tenant_id, valid)
        stored = await self._store.record(
            tenant_id,
            [
                NewBehaviourEvent(c.event_id, c.type, c.occurred_at, c.customer_id, c.properties_json)
                for c in valid
                if c.customer_id is not None
            ],
        )
        return self._answer(checked, stored)

    async def _resolve_identities(self, tenant_id: uuid.UUID, valid: Iterable[CheckedEvent]) -> None:
        """Give each event named by identities its customer. The batch's distinct sets are resolved
        together: the known ones in one read, the new ones created in one transaction, only the
        rest (a set that would attach, verify or merge) one ``identify`` at a time."""
        by_set: dict[frozenset[NormalizedIdentity], list[CheckedEvent]] = {}
        for item in valid:
            if item.identity_key is not None:
                by_set.setdefault(item.identity_key, []).append(item)
        if not by_set:
            return
        customers = await self._customers.resolve(tenant_id, list(by_set))
        for identity_set, items in by_set.items():
            for item in items:
                item.customer_id = customers[identity_set]

    @staticmethod
    def _answer(checked: list[CheckedEvent], stored: StoreResult) -> RecordResult:
        """Outcomes in request order: the first occurrence of an inserted id is the accepted one."""
        outcomes: list[Outcome] = []
        rejected: list[Rejection] = []
        claimed: set[str] = set()
        for item in checked:
            if not item.violations and item.customer_id in stored.missing_customers:
                # Unknown, another tenant's, or erased: all "not found", as for a read.
                named_by = "identities" if item.identity_key is not None else "customer_id"
                item.violations.append(
                    FieldViolation(f"events[{item.index}].{named_by}", "customer not found")
                )
            if item.violations:
                outcomes.append(Outcome.REJECTED)
                rejected.append(Rejection(item.index, item.violations))
            elif item.event_id in stored.inserted and item.event_id not in claimed:
                claimed.add(item.event_id)
                outcomes.append(Outcome.ACCEPTED)
            else:
                outcomes.append(Outcome.DUPLICATE)
        return RecordResult(
            accepted=len(claimed),
            duplicates=outcomes.count(Outcome.DUPLICATE),
            rejected=rejected,
            outcomes=outcomes,
        )

    async def list_for_customer(
        self, tenant_id: uuid.UUID, customer_id: str, event_type: str, limit: int, cursor: str
    ) -> EventPage:
        """A page of the customer's events, newest first; a merged-away id lists the survivor's."""
        problems: list[FieldViolation] = []
        if event_type and not is_event_type(event_type):
            problems.append(FieldViolation("type", "must be a known event type or custom.<name>"))
        limit = limit or DEFAULT_PAGE_SIZE
        if not 1 <= limit <= MAX_PAGE_SIZE:
            problems.append(FieldViolation("limit", f"must be between 1 and {MAX_PAGE_SIZE}"))
        if problems:
            raise InvalidArgument(problems)
        after = PageKey.decode(cursor) if cursor else None
        try:
            parsed = uuid.UUID(customer_id)
        except ValueError:
            raise NotFound("customer not found") from None
        found = await self._store.list_for_customer(tenant_id, parsed, event_type or None, limit + 1, after)
        if found is None:
            raise NotFound("customer not found")
        survivor, rows = found
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = PageKey(rows[-1].occurred_at, rows[-1].event_id).encode() if more else None
        return EventPage(survivor, rows, next_cursor)
