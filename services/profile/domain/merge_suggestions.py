"""Merge suggestions, and the tenant's identity-resolution settings that decide when one is made.

A suggestion records two customers that one call's identities pointed at but that were not merged
(``domain.identity_resolution``). An operator accepts it (the two are merged, the older surviving, as
an identify with trusted identities would have done) or dismisses it (the pair is never suggested
again). Either happens once: a suggestion that is no longer open answers 409 naming why. It closes
by itself when its customers are merged some other way or one of them is erased.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.profile.domain.identity_resolution import ResolutionSettings, validate_auto_merge_types
from services.runtime.errors import Conflict, InvalidArgument, NotFound
from services.runtime.paging import Page, decode_cursor, encode_cursor, page_size

STATUSES: tuple[str, ...] = ("open", "accepted", "dismissed", "closed")
# Why a suggestion closed by itself.
CLOSE_REASONS: dict[str, str] = {
    "merged": "its two customers were merged meanwhile",
    "customer_erased": "one of its customers was erased",
    "duplicate": "a merge made it the same pair as an older open suggestion",
}
MAX_ACTOR_LENGTH = 200


@dataclass(frozen=True, slots=True)
class MergeSuggestion:
    """Two customers that may be one person, the identity that showed it (masked), and its fate."""

    suggestion_id: uuid.UUID
    status: str
    customer_id: uuid.UUID  # the customer the call went to
    other_customer_id: uuid.UUID  # the customer left apart
    identity_type: str
    identity_masked: str | None  # None once a customer of the pair was erased
    occurrences: int  # how many calls showed this pair while it was open
    created_at: datetime
    last_seen_at: datetime
    decided_at: datetime | None
    decided_by: str | None  # "operator:<id>" or "key:<id>"; None when it closed by itself
    close_reason: str | None
    survivor_id: uuid.UUID | None  # the customer that survived an accepted (or merged) pair


@dataclass(frozen=True, slots=True)
class Decision:
    """What accepting or dismissing did: ``applied`` False when the suggestion was no longer open
    (``suggestion`` then shows its status, possibly just closed because its customers had changed)."""

    suggestion: MergeSuggestion
    applied: bool


class MergeSuggestionStore(Protocol):
    async def page(
        self, tenant_id: uuid.UUID, status: str | None, limit: int, after: tuple[datetime, uuid.UUID] | None
    ) -> list[MergeSuggestion]:
        """Up to ``limit`` suggestions, newest first, after the given (created_at, id)."""
        ...

    async def accept(self, tenant_id: uuid.UUID, suggestion_id: uuid.UUID, actor: str) -> Decision | None: ...

    async def dismiss(
        self, tenant_id: uuid.UUID, suggestion_id: uuid.UUID, actor: str
    ) -> Decision | None: ...


class ResolutionSettingsStore(Protocol):
    async def get(self, tenant_id: uuid.UUID) -> ResolutionSettings: ...

    async def put(self, tenant_id: uuid.UUID, auto_merge_types: Sequence[str]) -> ResolutionSettings: ...


class IdentityResolution:
    """A tenant's choice of the identity types that merge customers without being verified."""

    def __init__(self, store: ResolutionSettingsStore) -> None:
        self._store = store

    async def get(self, tenant_id: uuid.UUID) -> ResolutionSettings:
        """The settings in force (the defaults until the tenant sets them)."""
        return await self._store.get(tenant_id)

    async def put(self, tenant_id: uuid.UUID, auto_merge_types: Sequence[str]) -> ResolutionSettings:
        """Replace the auto-merge types (unknown ones are 422 by index; repeats count once). The
        next identify applies them: they are read in its transaction, never cached."""
        return await self._store.put(tenant_id, validate_auto_merge_types(auto_merge_types))


class MergeSuggestions:
    """List, accept and dismiss a tenant's merge suggestions."""

    def __init__(self, store: MergeSuggestionStore) -> None:
        self._store = store

    async def list_page(
        self, tenant_id: uuid.UUID, status: str, limit: int, cursor: str
    ) -> Page[MergeSuggestion]:
        """A page of suggestions, newest first; ``status`` "" for all of them."""
        if status and status not in STATUSES:
            raise InvalidArgument.single("status", f"must be one of {', '.join(STATUSES)}")
        size = page_size(limit)
        after = decode_cursor(cursor, (datetime, uuid.UUID))
        rows = await self._store.page(
            tenant_id, status or None, size + 1, (after[0], after[1]) if after else None
        )
        items = rows[:size]
        more = len(rows) > size
        last = items[-1] if items else None
        next_cursor = encode_cursor([last.created_at, last.suggestion_id]) if more and last else None
        return Page(items, next_cursor)

    async def accept(self, tenant_id: uuid.UUID, suggestion_id: str, actor: str) -> MergeSuggestion:
        """Merge the pair (once, however many operators accept at the same moment)."""
        decision = await self._store.accept(tenant_id, _suggestion_id(suggestion_id), _actor(actor))
        return _applied(decision)

    async def dismiss(self, tenant_id: uuid.UUID, suggestion_id: str, actor: str) -> MergeSuggestion:
        """Keep the pair apart; the same pair is not suggested again."""
        decision = await self._store.dismiss(tenant_id, _suggestion_id(suggestion_id), _actor(actor))
        return _applied(decision)


def _suggestion_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("merge suggestion not found") from None


def _actor(value: str) -> str:
    if not value or len(value) > MAX_ACTOR_LENGTH:
        raise InvalidArgument.single("actor", f"must be 1 to {MAX_ACTOR_LENGTH} characters")
    return value


def _applied(decision: Decision | None) -> MergeSuggestion:
    """The decided suggestion; NotFound or Conflict (naming why it is no longer open) otherwise."""
    if decision is None:
        raise NotFound("merge suggestion not found")
    suggestion = decision.suggestion
    if decision.applied:
        return suggestion
    # "suggestion_status", not "status": a problem's status is its HTTP code.
    metadata = {"suggestion_id": str(suggestion.suggestion_id), "suggestion_status": suggestion.status}
    if suggestion.status == "closed":
        reason = suggestion.close_reason or "merged"
        metadata["close_reason"] = reason
        raise Conflict(
            f"the merge suggestion is closed: {CLOSE_REASONS.get(reason, reason)}",
            reason="MERGE_SUGGESTION_CLOSED",
            metadata=metadata,
        )
    raise Conflict(
        f"the merge suggestion was already {suggestion.status}",
        reason="MERGE_SUGGESTION_DECIDED",
        metadata=metadata,
    )
