"""CampaignService: campaigns defined, listed, moved through their statuses, their audience and report.
Converts and delegates only; the domain's errors are mapped by the service's interceptor as for every
servicer (a status the move forbids is FAILED_PRECONDITION, 409 ``CAMPAIGN_STATUS`` at the gateway)."""

from __future__ import annotations

import json
from typing import Any, TypeAlias

from grpc import aio

from patron.notify.v1 import campaigns_pb2, campaigns_pb2_grpc
from services.notify.domain.campaigns import CampaignDesk, CampaignView, RecipientView
from services.notify.transport.notify_servicer import document
from services.runtime.proto_convert import set_time, to_timestamp
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

CAMPAIGN_SERVICE = "patron.notify.v1.CampaignService"

Context: TypeAlias = "aio.ServicerContext[Any, Any]"


def campaign_to_proto(view: CampaignView) -> campaigns_pb2.Campaign:
    progress = view.progress
    message = campaigns_pb2.Campaign(
        campaign_id=str(view.campaign_id),
        name=view.name,
        status=view.status,
        document_json=json.dumps(view.document, ensure_ascii=False),
        progress=campaigns_pb2.CampaignProgress(
            recipients=progress.recipients,
            planned=progress.planned,
            sent=progress.sent,
            suppressed=progress.suppressed,
            deferred=progress.deferred,
            failed=progress.failed,
            holdout=progress.holdout,
            global_control=progress.global_control,
        ),
        created_at=to_timestamp(view.created_at),
        segment_version=view.segment_version or 0,
        global_control_percent=view.global_control_percent,
    )
    set_time(message, "started_at", view.started_at)
    set_time(message, "send_at", view.first_send_at)
    set_time(message, "snapshot_at", view.snapshot_at)
    set_time(message, "completed_at", view.completed_at)
    set_time(message, "cancelled_at", view.cancelled_at)
    return message


def recipient_to_proto(item: RecipientView) -> campaigns_pb2.CampaignRecipient:
    return campaigns_pb2.CampaignRecipient(
        customer_id=str(item.customer_id),
        group=item.group,
        message_id="" if item.message_id is None else str(item.message_id),
        status=item.status or "",
        reason=item.reason or "",
    )


class CampaignServicer(campaigns_pb2_grpc.CampaignServiceServicer):
    """Every call acts for the tenant of its metadata; another tenant's campaigns are not found."""

    def __init__(self, desk: CampaignDesk) -> None:
        self._desk = desk

    async def CreateCampaign(
        self, request: campaigns_pb2.CreateCampaignRequest, context: Context
    ) -> campaigns_pb2.Campaign:
        view = await self._desk.create(current_tenant(), document(request.document_json, "document"))
        return campaign_to_proto(view)

    async def GetCampaign(
        self, request: campaigns_pb2.CampaignRef, context: Context
    ) -> campaigns_pb2.Campaign:
        return campaign_to_proto(await self._desk.get(current_tenant(), request.campaign_id))

    async def ListCampaigns(
        self, request: campaigns_pb2.ListCampaignsRequest, context: Context
    ) -> campaigns_pb2.ListCampaignsResponse:
        views, token = await self._desk.page(current_tenant(), request.page_size, request.page_token)
        return campaigns_pb2.ListCampaignsResponse(
            campaigns=[campaign_to_proto(view) for view in views], next_page_token=token
        )

    async def _move(self, request: campaigns_pb2.CampaignRef, action: str) -> campaigns_pb2.Campaign:
        return campaign_to_proto(await self._desk.move(current_tenant(), request.campaign_id, action))

    async def StartCampaign(
        self, request: campaigns_pb2.CampaignRef, context: Context
    ) -> campaigns_pb2.Campaign:
        return await self._move(request, "start")

    async def PauseCampaign(
        self, request: campaigns_pb2.CampaignRef, context: Context
    ) -> campaigns_pb2.Campaign:
        return await self._move(request, "pause")

    async def ResumeCampaign(
        self, request: campaigns_pb2.CampaignRef, context: Context
    ) -> campaigns_pb2.Campaign:
        return await self._move(request, "resume")

    async def CancelCampaign(
        self, request: campaigns_pb2.CampaignRef, context: Context
    ) -> campaigns_pb2.Campaign:
        return await self._move(request, "cancel")

    async def ListRecipients(
        self, request: campaigns_pb2.ListRecipientsRequest, context: Context
    ) -> campaigns_pb2.ListRecipientsResponse:
        items, token = await self._desk.recipients(
            current_tenant(), request.campaign_id, request.page_size, request.page_token, request.group
        )
        return campaigns_pb2.ListRecipientsResponse(
            recipients=[recipient_to_proto(item) for item in items], next_page_token=token
        )

    async def GetReport(
        self, request: campaigns_pb2.CampaignRef, context: Context
    ) -> campaigns_pb2.CampaignReport:
        report = await self._desk.report(current_tenant(), request.campaign_id)
        return campaigns_pb2.CampaignReport(report_json=json.dumps(report, ensure_ascii=False))


def campaigns_registration(desk: CampaignDesk) -> Registration:
    """The CampaignService as served by the notify process."""
    return Registration(
        campaigns_pb2_grpc.add_CampaignServiceServicer_to_server, CampaignServicer(desk), CAMPAIGN_SERVICE
    )
