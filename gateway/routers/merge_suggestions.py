"""Identity resolution (profile service): the tenant's auto-merge types, and merge suggestions.

Two existing customers are merged by a call's identities only when the identity linking each of them
is verified in that call or of a type the tenant auto-merges; otherwise they stay apart and a merge
suggestion is recorded for an operator (docs/security.md "Verified identities and merge suggestions").
Changing the types is ``operate`` (configuration); reading and deciding suggestions is ``privacy``,
the scope of merging by hand, which the support role is also let through for (DOMAIN.md: support
decides suggestions). Deciding a suggestion and changing the types are audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gateway.audit import Audit
from gateway.auth import scoped
from gateway.dependencies import ERRORS, Profile, Tenant
from gateway.limits import documented, enum_of, one_of
from gateway.schemas import Cursor, Limit, Page, StrictBody, Text
from patron.profile.v1 import merge_suggestions_pb2 as pb
from services.profile.domain.identities import IDENTITY_TYPES
from services.profile.domain.identity_resolution import DEFAULT_AUTO_MERGE_TYPES
from services.profile.domain.merge_suggestions import STATUSES
from services.runtime.proto_convert import from_timestamp, text_or_none

router = APIRouter(prefix="/v1", tags=["identity resolution"])

SUPPORT = ("support",)
"""Support operators decide merge suggestions although their role does not hold ``privacy``."""

SuggestionStatus = Annotated[str, one_of(STATUSES), enum_of(STATUSES)]


class IdentityResolutionIn(StrictBody):
    auto_merge_types: list[Annotated[Text, documented(enum=list(IDENTITY_TYPES))]] = Field(
        max_length=len(IDENTITY_TYPES),
        description="identity types that merge two existing customers even when the call does not "
        "mark them verified; [] merges only verified identities. Repeats count once.",
    )


class IdentityResolutionOut(BaseModel):
    auto_merge_types: list[str] = Field(
        description=f"in strength order; until set: {', '.join(DEFAULT_AUTO_MERGE_TYPES)}"
    )
    updated_at: datetime | None = Field(description="null: never set (the defaults)")

    @classmethod
    def from_proto(cls, message: pb.IdentityResolution) -> IdentityResolutionOut:
        return cls(
            auto_merge_types=list(message.auto_merge_types),
            updated_at=from_timestamp(message.updated_at) if message.HasField("updated_at") else None,
        )


class MergeSuggestionOut(BaseModel):
    suggestion_id: str
    status: str = Field(description="open, accepted, dismissed or closed (by itself)")
    customer_id: str = Field(description="the customer the identifying call went to")
    other_customer_id: str = Field(description="the customer left apart")
    identity_type: str = Field(description="the identity that pointed at the other customer")
    identity_value: str | None = Field(description="masked; null once a customer of the pair was erased")
    occurrences: int = Field(description="calls that showed this pair while the suggestion was open")
    created_at: datetime
    last_seen_at: datetime
    decided_at: datetime | None
    decided_by: str | None = Field(description="operator:<id> or key:<id>; null when it closed by itself")
    close_reason: str | None = Field(description="closed: merged, customer_erased or duplicate")
    survivor_id: str | None = Field(description="accepted, or closed as merged: the surviving customer")

    @classmethod
    def from_proto(cls, message: pb.MergeSuggestion) -> MergeSuggestionOut:
        return cls(
            suggestion_id=message.suggestion_id,
            status=message.status,
            customer_id=message.customer_id,
            other_customer_id=message.other_customer_id,
            identity_type=message.identity_type,
            identity_value=text_or_none(message.identity_masked),
            occurrences=message.occurrences,
            created_at=from_timestamp(message.created_at),
            last_seen_at=from_timestamp(message.last_seen_at),
            decided_at=from_timestamp(message.decided_at) if message.HasField("decided_at") else None,
            decided_by=text_or_none(message.decided_by),
            close_reason=text_or_none(message.close_reason),
            survivor_id=text_or_none(message.survivor_id),
        )


@router.get(
    "/identity-resolution", response_model=IdentityResolutionOut, responses=ERRORS, **scoped("operate")
)
async def get_identity_resolution(profile: Profile) -> IdentityResolutionOut:
    """Which identity types merge two existing customers without being verified."""
    answer = await profile.identity_resolution.GetIdentityResolution(pb.GetIdentityResolutionRequest())
    return IdentityResolutionOut.from_proto(answer)


@router.put(
    "/identity-resolution", response_model=IdentityResolutionOut, responses=ERRORS, **scoped("operate")
)
async def put_identity_resolution(
    body: IdentityResolutionIn, profile: Profile, audit: Audit
) -> IdentityResolutionOut:
    """Replace the auto-merge types; the next identifying call applies them."""
    request = pb.PutIdentityResolutionRequest(auto_merge_types=body.auto_merge_types)
    answer = await audit.call(
        "identity_resolution.update",
        profile.identity_resolution.PutIdentityResolution(request),
        auto_merge_types=list(body.auto_merge_types),
    )
    return IdentityResolutionOut.from_proto(answer)


@router.get(
    "/merge-suggestions",
    response_model=Page[MergeSuggestionOut],
    responses=ERRORS,
    **scoped("privacy", roles=SUPPORT),
)
async def list_merge_suggestions(
    profile: Profile,
    status: Annotated[SuggestionStatus | None, Query(description="only suggestions in this status")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[MergeSuggestionOut]:
    """Merge suggestions, newest first."""
    request = pb.ListMergeSuggestionsRequest(status=status or "", limit=limit, cursor=cursor or "")
    page = await profile.merge_suggestions.ListMergeSuggestions(request)
    return Page[MergeSuggestionOut].of(
        [MergeSuggestionOut.from_proto(s) for s in page.items], page.next_cursor
    )


@router.post(
    "/merge-suggestions/{suggestion_id}/accept",
    response_model=MergeSuggestionOut,
    responses=ERRORS,
    **scoped("privacy", roles=SUPPORT),
)
async def accept_merge_suggestion(
    suggestion_id: str, profile: Profile, tenant: Tenant, audit: Audit
) -> MergeSuggestionOut:
    """Merge the pair: the older customer survives and takes the other's identities and history.
    Exactly once: a suggestion no longer open is 409 with ``reason`` MERGE_SUGGESTION_DECIDED
    (``suggestion_status``: accepted, dismissed) or MERGE_SUGGESTION_CLOSED (``close_reason``: merged,
    customer_erased, duplicate)."""
    request = pb.DecideMergeSuggestionRequest(suggestion_id=suggestion_id, actor=tenant.actor)
    decided = await audit.call(
        "merge_suggestion.accept",
        profile.merge_suggestions.AcceptMergeSuggestion(request),
        target=suggestion_id,
    )
    return MergeSuggestionOut.from_proto(decided)


@router.post(
    "/merge-suggestions/{suggestion_id}/dismiss",
    response_model=MergeSuggestionOut,
    responses=ERRORS,
    **scoped("privacy", roles=SUPPORT),
)
async def dismiss_merge_suggestion(
    suggestion_id: str, profile: Profile, tenant: Tenant, audit: Audit
) -> MergeSuggestionOut:
    """Keep the pair apart: the same two customers are not suggested again. 409 as for accept."""
    request = pb.DecideMergeSuggestionRequest(suggestion_id=suggestion_id, actor=tenant.actor)
    decided = await audit.call(
        "merge_suggestion.dismiss",
        profile.merge_suggestions.DismissMergeSuggestion(request),
        target=suggestion_id,
    )
    return MergeSuggestionOut.from_proto(decided)
