"""gRPC servicers of ``IdentityResolutionService`` and ``MergeSuggestionService``: convert, delegate."""

from __future__ import annotations

from grpc import aio

from patron.profile.v1 import merge_suggestions_pb2 as pb
from patron.profile.v1 import merge_suggestions_pb2_grpc as pb_grpc
from services.profile.domain.identity_resolution import ResolutionSettings
from services.profile.domain.merge_suggestions import IdentityResolution, MergeSuggestion, MergeSuggestions
from services.profile.store.merge_suggestions import SqlMergeSuggestionStore, SqlResolutionSettingsStore
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox
from services.runtime.proto_convert import set_time
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

IDENTITY_RESOLUTION_SERVICE = "patron.profile.v1.IdentityResolutionService"
MERGE_SUGGESTION_SERVICE = "patron.profile.v1.MergeSuggestionService"


def settings_to_proto(settings: ResolutionSettings) -> pb.IdentityResolution:
    message = pb.IdentityResolution(auto_merge_types=list(settings.auto_merge_types))
    set_time(message, "updated_at", settings.updated_at)
    return message


def suggestion_to_proto(suggestion: MergeSuggestion) -> pb.MergeSuggestion:
    message = pb.MergeSuggestion(
        suggestion_id=str(suggestion.suggestion_id),
        status=suggestion.status,
        customer_id=str(suggestion.customer_id),
        other_customer_id=str(suggestion.other_customer_id),
        identity_type=suggestion.identity_type,
        identity_masked=suggestion.identity_masked or "",
        occurrences=suggestion.occurrences,
        decided_by=suggestion.decided_by or "",
        close_reason=suggestion.close_reason or "",
        survivor_id=str(suggestion.survivor_id) if suggestion.survivor_id else "",
    )
    set_time(message, "created_at", suggestion.created_at)
    set_time(message, "last_seen_at", suggestion.last_seen_at)
    set_time(message, "decided_at", suggestion.decided_at)
    return message


class IdentityResolutionServicer(pb_grpc.IdentityResolutionServiceServicer):
    def __init__(self, resolution: IdentityResolution) -> None:
        self._resolution = resolution

    async def GetIdentityResolution(
        self, request: pb.GetIdentityResolutionRequest, context: aio.ServicerContext
    ) -> pb.IdentityResolution:
        return settings_to_proto(await self._resolution.get(current_tenant()))

    async def PutIdentityResolution(
        self, request: pb.PutIdentityResolutionRequest, context: aio.ServicerContext
    ) -> pb.IdentityResolution:
        settings = await self._resolution.put(current_tenant(), list(request.auto_merge_types))
        return settings_to_proto(settings)


class MergeSuggestionServicer(pb_grpc.MergeSuggestionServiceServicer):
    def __init__(self, suggestions: MergeSuggestions) -> None:
        self._suggestions = suggestions

    async def ListMergeSuggestions(
        self, request: pb.ListMergeSuggestionsRequest, context: aio.ServicerContext
    ) -> pb.ListMergeSuggestionsResponse:
        page = await self._suggestions.list_page(
            current_tenant(), request.status, request.limit, request.cursor
        )
        return pb.ListMergeSuggestionsResponse(
            items=[suggestion_to_proto(s) for s in page.items], next_cursor=page.next_cursor or ""
        )

    async def AcceptMergeSuggestion(
        self, request: pb.DecideMergeSuggestionRequest, context: aio.ServicerContext
    ) -> pb.MergeSuggestion:
        accepted = await self._suggestions.accept(current_tenant(), request.suggestion_id, request.actor)
        return suggestion_to_proto(accepted)

    async def DismissMergeSuggestion(
        self, request: pb.DecideMergeSuggestionRequest, context: aio.ServicerContext
    ) -> pb.MergeSuggestion:
        dismissed = await self._suggestions.dismiss(current_tenant(), request.suggestion_id, request.actor)
        return suggestion_to_proto(dismissed)


def merge_suggestion_registrations(database: Database, outbox: Outbox) -> list[Registration]:
    """Both services, assembled on the profile database and its outbox (accepting merges)."""
    return [
        Registration(
            pb_grpc.add_IdentityResolutionServiceServicer_to_server,
            IdentityResolutionServicer(IdentityResolution(SqlResolutionSettingsStore(database))),
            IDENTITY_RESOLUTION_SERVICE,
        ),
        Registration(
            pb_grpc.add_MergeSuggestionServiceServicer_to_server,
            MergeSuggestionServicer(MergeSuggestions(SqlMergeSuggestionStore(database, outbox))),
            MERGE_SUGGESTION_SERVICE,
        ),
    ]
