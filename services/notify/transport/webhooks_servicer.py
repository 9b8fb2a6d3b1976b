"""WebhookService: register, list, see, delete and re-enable webhooks, and read their delivery log.
Converts and delegates only."""

from __future__ import annotations

from typing import Any

from grpc import aio

from patron.notify.v1 import webhooks_pb2, webhooks_pb2_grpc
from services.notify.domain.webhooks import Delivery, Webhook, Webhooks
from services.runtime.proto_convert import set_optional, set_time, to_timestamp
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

WEBHOOK_SERVICE = "patron.notify.v1.WebhookService"


def webhook_to_proto(webhook: Webhook) -> webhooks_pb2.Webhook:
    """The domain's webhook as the contract's message."""
    message = webhooks_pb2.Webhook(
        webhook_id=str(webhook.webhook_id),
        url=webhook.url,
        events=list(webhook.events),
        enabled=webhook.enabled,
        disabled_reason=webhook.disabled_reason or "",
        created_at=to_timestamp(webhook.created_at),
    )
    set_time(message, "disabled_at", webhook.disabled_at)
    return message


def delivery_to_proto(delivery: Delivery) -> webhooks_pb2.Delivery:
    """A delivery with its attempts as the contract's message."""
    message = webhooks_pb2.Delivery(
        delivery_id=str(delivery.delivery_id),
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=delivery.status,
        created_at=to_timestamp(delivery.created_at),
    )
    set_time(message, "next_attempt_at", delivery.next_attempt_at)
    set_time(message, "finished_at", delivery.finished_at)
    for attempt in delivery.attempts:
        item = message.attempts.add(
            attempt=attempt.attempt,
            attempted_at=to_timestamp(attempt.attempted_at),
            error=attempt.error or "",
            duration_ms=attempt.duration_ms,
        )
        set_optional(item, "status_code", attempt.status_code)
    return message


class WebhookServicer(webhooks_pb2_grpc.WebhookServiceServicer):
    """Every call acts for the tenant of its metadata; another tenant's ids are not found."""

    def __init__(self, webhooks: Webhooks) -> None:
        self._webhooks = webhooks

    async def CreateWebhook(
        self, request: webhooks_pb2.CreateWebhookRequest, context: aio.ServicerContext[Any, Any]
    ) -> webhooks_pb2.CreatedWebhook:
        webhook, secret = await self._webhooks.create(current_tenant(), request.url, list(request.events))
        return webhooks_pb2.CreatedWebhook(webhook=webhook_to_proto(webhook), secret=secret)

    async def ListWebhooks(
        self, request: webhooks_pb2.ListWebhooksRequest, context: aio.ServicerContext[Any, Any]
    ) -> webhooks_pb2.ListWebhooksResponse:
        page = await self._webhooks.page(current_tenant(), request.page_token, request.page_size)
        return webhooks_pb2.ListWebhooksResponse(
            webhooks=[webhook_to_proto(w) for w in page.items], next_page_token=page.next_cursor or ""
        )

    async def GetWebhook(
        self, request: webhooks_pb2.GetWebhookRequest, context: aio.ServicerContext[Any, Any]
    ) -> webhooks_pb2.Webhook:
        return webhook_to_proto(await self._webhooks.get(current_tenant(), request.webhook_id))

    async def DeleteWebhook(
        self, request: webhooks_pb2.DeleteWebhookRequest, context: aio.ServicerContext[Any, Any]
    ) -> webhooks_pb2.DeleteWebhookResponse:
        await self._webhooks.delete(current_tenant(), request.webhook_id)
        return webhooks_pb2.DeleteWebhookResponse()

    async def EnableWebhook(
        self, request: webhooks_pb2.EnableWebhookRequest, context: aio.ServicerContext[Any, Any]
    ) -> webhooks_pb2.Webhook:
        return webhook_to_proto(await self._webhooks.enable(current_tenant(), request.webhook_id))

    async def ListDeliveries(
        self, request: webhooks_pb2.ListDeliveriesRequest, context: aio.ServicerContext[Any, Any]
    ) -> webhooks_pb2.ListDeliveriesResponse:
        page = await self._webhooks.deliveries(
            current_tenant(), request.webhook_id, request.page_token, request.page_size
        )
        return webhooks_pb2.ListDeliveriesResponse(
            deliveries=[delivery_to_proto(d) for d in page.items], next_page_token=page.next_cursor or ""
        )


def webhooks_registration(webhooks: Webhooks) -> Registration:
    """The WebhookService registration for the notify service's server."""
    return Registration(
        webhooks_pb2_grpc.add_WebhookServiceServicer_to_server,
        WebhookServicer(webhooks),
        WEBHOOK_SERVICE,
    )
