"""The audit log: who did what to which object, when, and how it ended; append-only.

The gateway records an audited action twice, linked by a request id it makes: a *requested* entry
before it lets the action run (no entry, no action) and an *outcome* entry after (succeeded or failed,
with the HTTP status). A reader sees one item per action; an action without an outcome entry (still
running, or its gateway died mid-way) reads as outcome ``unknown``.

Entries carry pseudonymous ids (customers, keys, segments, exports, operators), amounts and scopes,
never contacts, names, free text or secrets: the log is kept when a customer is erased, so it must
hold nothing that erasure would have to remove (docs/security.md "Audit log"). These rules check the
shape of what is written; what goes into ``detail`` is the gateway's choice, from its own values.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from services.runtime.errors import InvalidArgument, NotFound, ViolationCollector
from services.runtime.paging import Page, decode_cursor, page_size

# What the log records (docs/security.md "Audit log"); a new audited route adds its action here.
ACTIONS: tuple[str, ...] = (
    "customer.export",
    "customer.erase",
    "customer.merge",
    "points.adjust",
    "segment.export",
    "segment.export.download",
    "api_key.issue",
    "api_key.revoke",
    "api_key.roll",
    "operator.create",
    "operator.update",
    "merge_suggestion.accept",
    "merge_suggestion.dismiss",
    "identity_resolution.update",
)
REQUESTED = "requested"
OUTCOME = "outcome"
PHASES = (REQUESTED, OUTCOME)
SUCCEEDED = "succeeded"
FAILED = "failed"
UNKNOWN = "unknown"
OUTCOMES = (SUCCEEDED, FAILED)
ADMIN_ACTOR = "admin"
MAX_DETAIL_BYTES = 4096
MAX_ADDRESS_LENGTH = 64
_ACTOR = re.compile(
    r"^(?:admin|(?:key|operator):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
_PRINTABLE = re.compile(r"^[\x21-\x7e]*$")

# The order of listings, newest first: occurred_at, then the entry id to break ties.
AuditKey = tuple[datetime, uuid.UUID]


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry as the gateway asks to append it (validated)."""

    request_id: uuid.UUID
    phase: str
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    client_address: str
    outcome: str
    status: int | None


@dataclass(frozen=True, slots=True)
class RecordedEntry:
    entry_id: uuid.UUID
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class AuditedAction:
    """One action as the reader sees it: the requested entry with its outcome, if any."""

    entry_id: uuid.UUID
    request_id: uuid.UUID
    occurred_at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    client_address: str
    outcome: str
    status: int | None
    finished_at: datetime | None
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """A page of the log: newest first, after ``after``, narrowed by the filters given."""

    limit: int
    after: AuditKey | None
    action: str
    actor: str
    target: str
    occurred_from: datetime | None
    occurred_to: datetime | None


class AuditStore(Protocol):
    async def append_requested(self, tenant_id: uuid.UUID, entry: NewEntry) -> RecordedEntry | None:
        """None when the tenant does not exist."""
        ...

    async def append_outcome(self, tenant_id: uuid.UUID, entry: NewEntry) -> RecordedEntry | None:
        """None when the request has no requested entry in this tenant's log."""
        ...

    async def page(self, tenant_id: uuid.UUID, query: AuditQuery) -> Page[AuditedAction]: ...


def parse_detail(text: str, name: str = "detail_json") -> dict[str, Any]:
    """A JSON object of at most :data:`MAX_DETAIL_BYTES` bytes; "" is the empty object."""
    if not text:
        return {}
    if len(text.encode()) > MAX_DETAIL_BYTES:
        raise InvalidArgument.single(name, f"must be at most {MAX_DETAIL_BYTES} bytes")
    try:
        detail = json.loads(text)
    except ValueError:
        raise InvalidArgument.single(name, "must be a JSON object") from None
    if not isinstance(detail, dict):
        raise InvalidArgument.single(name, "must be a JSON object")
    return detail


def _uuid(text: str, name: str, errors: ViolationCollector) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        errors.add(name, "must be a UUID")
        return None


def _target(text: str, errors: ViolationCollector) -> str:
    """A target is a UUID (every object the log names has one) in its canonical text, or ""."""
    if not text:
        return ""
    parsed = _uuid(text, "target", errors)
    return str(parsed) if parsed else ""


def validate_entry(
    request_id: str,
    phase: str,
    actor: str,
    action: str,
    target: str,
    detail_json: str,
    client_address: str,
    outcome: str,
    status: int,
) -> NewEntry:
    """The entry, checked: a requested entry names its actor and action and has no outcome; an
    outcome entry has an outcome and a status and leaves actor, action and address to its request."""
    errors = ViolationCollector()
    parsed_request = _uuid(request_id, "request_id", errors)
    if phase not in PHASES:
        errors.add("phase", f"must be one of {', '.join(PHASES)}")
    requested = phase == REQUESTED
    if requested:
        if not _ACTOR.match(actor):
            errors.add("actor", "must be admin, key:<uuid> or operator:<uuid>")
        if action not in ACTIONS:
            errors.add("action", "must be one of the audited actions")
        if len(client_address) > MAX_ADDRESS_LENGTH or not _PRINTABLE.match(client_address):
            errors.add("client_address", f"must be at most {MAX_ADDRESS_LENGTH} printable characters")
        if outcome or status:
            errors.add("outcome", "is given only in an outcome entry")
    elif phase == OUTCOME:
        if actor or action or client_address:
            errors.add("actor", "actor, action and client_address come from the requested entry")
        if outcome not in OUTCOMES:
            errors.add("outcome", f"must be one of {', '.join(OUTCOMES)}")
        if not 100 <= status <= 599:
            errors.add("status", "must be an HTTP status (100-599)")
    canonical_target = _target(target, errors)
    try:
        detail = parse_detail(detail_json)
    except InvalidArgument as error:
        errors.violations.extend(error.violations)
    errors.raise_if_any()
    assert parsed_request is not None
    return NewEntry(
        request_id=parsed_request,
        phase=phase,
        actor=actor,
        action=action,
        target=canonical_target,
        detail=detail,
        client_address=client_address,
        outcome=outcome,
        status=status if phase == OUTCOME else None,
    )


def build_query(
    limit: int,
    cursor: str,
    action: str,
    actor: str,
    target: str,
    occurred_from: datetime | None,
    occurred_to: datetime | None,
) -> AuditQuery:
    """A listing's page size, position and filters, each checked (a fault names its field). The
    time range is ``from`` inclusive to ``to`` exclusive; ``to`` at or before ``from`` is empty."""
    errors = ViolationCollector()
    if action and action not in ACTIONS:
        errors.add("action", "must be one of the audited actions")
    if actor and not _ACTOR.match(actor):
        errors.add("actor", "must be admin, key:<uuid> or operator:<uuid>")
    canonical_target = _target(target, errors)
    errors.raise_if_any()
    return AuditQuery(
        limit=page_size(limit),
        after=decode_cursor(cursor, (datetime, uuid.UUID)),
        action=action,
        actor=actor,
        target=canonical_target,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
    )


class AuditLog:
    """The tenant's audit log: append entries, read actions. Every call acts for one tenant."""

    def __init__(self, store: AuditStore) -> None:
        self._store = store

    async def record(self, tenant_id: uuid.UUID, entry: NewEntry) -> RecordedEntry:
        """Append the entry; a requested entry for an unknown tenant, or an outcome without its
        requested entry, is not found; a second entry of the same phase for a request is a conflict
        (the store raises AlreadyExists)."""
        if entry.phase == REQUESTED:
            recorded = await self._store.append_requested(tenant_id, entry)
            if recorded is None:
                raise NotFound("tenant not found")
            return recorded
        recorded = await self._store.append_outcome(tenant_id, entry)
        if recorded is None:
            raise NotFound("no requested entry for this request id")
        return recorded

    async def page(self, tenant_id: uuid.UUID, query: AuditQuery) -> Page[AuditedAction]:
        """Actions newest first, each with its outcome (``unknown`` without one)."""
        return await self._store.page(tenant_id, query)
