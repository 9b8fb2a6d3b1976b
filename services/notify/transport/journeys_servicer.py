"""JourneyService: journey definitions, their lifecycle, stats and a customer's journeys. Converts and
delegates only; the domain's errors are mapped by the service's interceptor as for every servicer."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, TypeAlias

from grpc import aio

from patron.notify.v1 import journeys_pb2, journeys_pb2_grpc
from services.notify.domain.journey_stats import CustomerJourney, JourneyStats
from services.notify.domain.journeys import JourneyDesk, JourneyView, page_limit
from services.notify.transport.notify_servicer import document
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.paging import decode_cursor, encode_cursor
from services.runtime.proto_convert import set_time, to_timestamp
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

JOURNEY_SERVICE = "patron.notify.v1.JourneyService"

Context: TypeAlias = "aio.ServicerContext[Any, Any]"
_CURSOR = (datetime, uuid.UUID)


def _journey_id(value: str) -> uuid.UUID:
    """A path's id: one that is not a UUID names no journey of the tenant (404, as elsewhere)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"journey {value} not found") from None


def _after(token: str) -> tuple[datetime, uuid.UUID] | None:
    key = decode_cursor(token, _CURSOR)
    return None if key is None else (key[0], key[1])


def journey_to_proto(view: JourneyView) -> journeys_pb2.Journey:
    return journeys_pb2.Journey(
        journey_id=str(view.journey_id),
        name=view.name,
        status=view.status,
        version=view.version,
        from_template=view.from_template or "",
        document_json=json.dumps(view.document, ensure_ascii=False),
        created_at=to_timestamp(view.created_at),
        updated_at=to_timestamp(view.updated_at),
    )


def stats_to_proto(stats: JourneyStats) -> journeys_pb2.JourneyStats:
    totals = stats.totals
    message = journeys_pb2.JourneyStats(
        journey_id=str(stats.journey_id),
        entered=totals.entered,
        active=totals.active,
        waiting=totals.waiting,
        completed=totals.completed,
        exited=totals.exited,
        converted=totals.converted,
        stopped=totals.stopped,
        failed=totals.failed,
        revenue_minor=totals.revenue_minor,
    )
    for step in stats.steps:
        message.steps.add(
            path=step.path,
            kind=step.kind,
            entered=step.entered,
            outcomes=step.outcomes,
            sent=step.sent,
            suppressed=step.suppressed,
            converted=step.converted,
            completed=step.completed,
            waiting=step.waiting,
        )
    return message


def customer_journey_to_proto(item: CustomerJourney) -> journeys_pb2.CustomerJourney:
    message = journeys_pb2.CustomerJourney(
        instance_id=str(item.instance_id),
        journey_id=str(item.journey_id),
        name=item.name,
        version=item.version,
        status=item.status,
        cursor=item.cursor or "",
        entered_at=to_timestamp(item.entered_at),
        end_reason=item.end_reason or "",
        converted_order_id=item.converted_order_id or "",
    )
    set_time(message, "due_at", item.due_at)
    set_time(message, "ended_at", item.ended_at)
    return message


class JourneyServicer(journeys_pb2_grpc.JourneyServiceServicer):
    """Every call acts for the tenant of its metadata; another tenant's journeys are not found."""

    def __init__(self, desk: JourneyDesk) -> None:
        self._desk = desk

    async def CreateJourney(
        self, request: journeys_pb2.CreateJourneyRequest, context: Context
    ) -> journeys_pb2.Journey:
        view = await self._desk.create(current_tenant(), document(request.document_json, "journey"))
        return journey_to_proto(view)

    async def UpdateJourney(
        self, request: journeys_pb2.UpdateJourneyRequest, context: Context
    ) -> journeys_pb2.Journey:
        view = await self._desk.update(
            current_tenant(), _journey_id(request.journey_id), document(request.document_json, "journey")
        )
        return journey_to_proto(view)

    async def GetJourney(self, request: journeys_pb2.JourneyRef, context: Context) -> journeys_pb2.Journey:
        return journey_to_proto(await self._desk.get(current_tenant(), _journey_id(request.journey_id)))

    async def ListJourneys(
        self, request: journeys_pb2.ListJourneysRequest, context: Context
    ) -> journeys_pb2.ListJourneysResponse:
        limit = page_limit(request.page_size)
        views = await self._desk.page(current_tenant(), _after(request.page_token), limit + 1)
        token = (
            encode_cursor((views[limit - 1].created_at, views[limit - 1].journey_id))
            if len(views) > limit
            else ""
        )
        return journeys_pb2.ListJourneysResponse(
            journeys=[journey_to_proto(view) for view in views[:limit]], next_page_token=token
        )

    async def _change(self, request: journeys_pb2.JourneyRef, action: str) -> journeys_pb2.Journey:
        view = await self._desk.change_status(current_tenant(), _journey_id(request.journey_id), action)
        return journey_to_proto(view)

    async def ActivateJourney(
        self, request: journeys_pb2.JourneyRef, context: Context
    ) -> journeys_pb2.Journey:
        return await self._change(request, "activate")

    async def PauseJourney(self, request: journeys_pb2.JourneyRef, context: Context) -> journeys_pb2.Journey:
        return await self._change(request, "pause")

    async def ArchiveJourney(
        self, request: journeys_pb2.JourneyRef, context: Context
    ) -> journeys_pb2.Journey:
        return await self._change(request, "archive")

    async def GetJourneyStats(
        self, request: journeys_pb2.JourneyRef, context: Context
    ) -> journeys_pb2.JourneyStats:
        return stats_to_proto(await self._desk.stats(current_tenant(), _journey_id(request.journey_id)))

    async def ListCustomerJourneys(
        self, request: journeys_pb2.CustomerJourneysRequest, context: Context
    ) -> journeys_pb2.CustomerJourneysResponse:
        limit = page_limit(request.page_size)
        try:
            customer_id = uuid.UUID(request.customer_id)
        except ValueError:
            raise InvalidArgument.single("customer_id", "must be a UUID") from None
        items = await self._desk.customer_journeys(
            current_tenant(), customer_id, _after(request.page_token), limit + 1
        )
        last = items[limit - 1] if len(items) > limit else None
        return journeys_pb2.CustomerJourneysResponse(
            journeys=[customer_journey_to_proto(item) for item in items[:limit]],
            next_page_token=encode_cursor((last.entered_at, last.instance_id)) if last else "",
        )

    async def ListJourneyTemplates(
        self, request: journeys_pb2.ListJourneyTemplatesRequest, context: Context
    ) -> journeys_pb2.ListJourneyTemplatesResponse:
        return journeys_pb2.ListJourneyTemplatesResponse(
            template_json=[json.dumps(item, ensure_ascii=False) for item in self._desk.catalogue()]
        )


def journeys_registration(desk: JourneyDesk) -> Registration:
    """The JourneyService as served by the notify process."""
    return Registration(
        journeys_pb2_grpc.add_JourneyServiceServicer_to_server, JourneyServicer(desk), JOURNEY_SERVICE
    )
