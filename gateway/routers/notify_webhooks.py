"""Webhooks (notify service): signed deliveries of message events to the merchant's endpoints.

- `POST /v1/notify/webhooks` `{"url", "events": ["message.delivered", ...]}` → 201
  `{"webhook_id", "secret", ...}`: the secret (`whsec_...`) is shown this once; notify keeps it
  sealed and never returns it again. 422 names `url` (not an https URL — plain http only in
  development —, or outside development a host resolving to a loopback, private or link-local
  address that is not allow-listed) and each unknown or repeated type (`events[1]`).
  Event types: message.sent, message.delivered, message.opened, message.clicked, message.failed,
  message.suppressed, message.converted. At most 20 webhooks a tenant (429 beyond).
- `GET /v1/notify/webhooks` pages them (oldest first); `GET|DELETE /v1/notify/webhooks/{webhook_id}`;
  `POST /v1/notify/webhooks/{webhook_id}/enable` turns a webhook disabled by failures back on.
- `GET /v1/notify/webhooks/{webhook_id}/deliveries` pages the delivery log, newest first: each
  delivery's event, status (`pending`, `delivered`, `failed`: retries exhausted, `cancelled`: the
  webhook was disabled) and every attempt with its status code or error and duration.

Deliveries follow Standard Webhooks: `POST` of `{"type", "timestamp", "data"}` with headers
`webhook-id` (the delivery id, the same on every retry), `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`. Retried on any answer but 2xx
at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h later (about a day); a webhook whose last 3
deliveries all failed every attempt is disabled (`disabled_reason` "failing"). docs/notify-webhooks.md has
the rules. An unknown or another tenant's id answers 404.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from gateway.auth import scoped
from gateway.dependencies import ERRORS, Notify
from gateway.limits import documented
from gateway.schemas import Cursor, Limit, Page, StrictBody
from patron.notify.v1 import webhooks_pb2
from services.notify.domain.webhooks import EVENT_TYPES
from services.notify.providers.ssrf import MAX_URL_LENGTH
from services.runtime.proto_convert import from_timestamp, optional_int, optional_time, text_or_none

router = APIRouter(prefix="/v1/notify/webhooks", tags=["webhooks"])

Url = Annotated[str, documented(minLength=1, maxLength=MAX_URL_LENGTH)]
EventType = Annotated[str, documented(enum=list(EVENT_TYPES))]
DeliveryStatus = Literal["pending", "delivered", "failed", "cancelled"]


class WebhookIn(StrictBody):
    # notify checks the URL and the types and names every fault (``events[1]``) in one 422.
    text_checked_elsewhere = frozenset({"url", "events"})

    url: Url = Field(description="https URL that receives the POSTs", examples=["https://shop.example/hooks"])
    events: list[EventType] = Field(
        max_length=len(EVENT_TYPES),
        json_schema_extra={"minItems": 1, "uniqueItems": True},  # notify names each fault (events[1])
        description="the event types delivered to it, each once",
    )


class WebhookOut(BaseModel):
    webhook_id: uuid.UUID
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None = Field(description='"failing" when disabled after repeated failure')
    disabled_at: datetime | None
    created_at: datetime

    @classmethod
    def from_proto(cls, message: webhooks_pb2.Webhook) -> WebhookOut:
        return cls(
            webhook_id=uuid.UUID(message.webhook_id),
            url=message.url,
            events=list(message.events),
            enabled=message.enabled,
            disabled_reason=text_or_none(message.disabled_reason),
            disabled_at=optional_time(message, "disabled_at"),
            created_at=from_timestamp(message.created_at),
        )


class CreatedWebhookOut(WebhookOut):
    secret: str = Field(description="the signing secret (whsec_...): shown this once, keep it")


class AttemptOut(BaseModel):
    attempt: int = Field(description="1 for the first attempt")
    attempted_at: datetime
    status_code: int | None = Field(description="the receiver's answer; null when there was none")
    error: str | None = Field(description="why there was no answer: timeout, connection, refused address")
    duration_ms: int


class DeliveryOut(BaseModel):
    delivery_id: uuid.UUID = Field(description="the webhook-id header of every attempt")
    event_id: str
    event_type: str
    status: DeliveryStatus
    next_attempt_at: datetime | None = Field(description="when a pending delivery is tried next")
    created_at: datetime
    finished_at: datetime | None
    attempts: list[AttemptOut]

    @classmethod
    def from_proto(cls, message: webhooks_pb2.Delivery) -> DeliveryOut:
        return cls(
            delivery_id=uuid.UUID(message.delivery_id),
            event_id=message.event_id,
            event_type=message.event_type,
            status=cast(DeliveryStatus, message.status),  # the service's closed vocabulary
            next_attempt_at=optional_time(message, "next_attempt_at"),
            created_at=from_timestamp(message.created_at),
            finished_at=optional_time(message, "finished_at"),
            attempts=[
                AttemptOut(
                    attempt=a.attempt,
                    attempted_at=from_timestamp(a.attempted_at),
                    status_code=optional_int(a, "status_code"),
                    error=text_or_none(a.error),
                    duration_ms=a.duration_ms,
                )
                for a in message.attempts
            ],
        )


@router.post("", status_code=201, response_model=CreatedWebhookOut, responses=ERRORS, **scoped("operate"))
async def create_webhook(body: WebhookIn, notify: Notify) -> CreatedWebhookOut:
    """Register an endpoint for message events; the answer carries its signing secret, once."""
    request = webhooks_pb2.CreateWebhookRequest(url=body.url, events=body.events)
    created = await notify.webhooks.CreateWebhook(request)
    webhook = WebhookOut.from_proto(created.webhook)
    return CreatedWebhookOut(**webhook.model_dump(), secret=created.secret)


@router.get("", response_model=Page[WebhookOut], responses=ERRORS, **scoped("operate"))
async def list_webhooks(notify: Notify, limit: Limit = 100, cursor: Cursor = None) -> Page[WebhookOut]:
    """The tenant's webhooks, oldest first (never their secrets)."""
    request = webhooks_pb2.ListWebhooksRequest(page_size=limit, page_token=cursor or "")
    page = await notify.webhooks.ListWebhooks(request)
    return Page[WebhookOut].of([WebhookOut.from_proto(w) for w in page.webhooks], page.next_page_token)


@router.get("/{webhook_id}", response_model=WebhookOut, responses=ERRORS, **scoped("operate"))
async def get_webhook(webhook_id: str, notify: Notify) -> WebhookOut:
    """One webhook, enabled or disabled."""
    webhook = await notify.webhooks.GetWebhook(webhooks_pb2.GetWebhookRequest(webhook_id=webhook_id))
    return WebhookOut.from_proto(webhook)


@router.delete(
    "/{webhook_id}", status_code=204, response_class=Response, responses=ERRORS, **scoped("operate")
)
async def delete_webhook(webhook_id: str, notify: Notify) -> Response:
    """Delete the webhook with its pending deliveries and its log."""
    await notify.webhooks.DeleteWebhook(webhooks_pb2.DeleteWebhookRequest(webhook_id=webhook_id))
    return Response(status_code=204)


@router.post("/{webhook_id}/enable", response_model=WebhookOut, responses=ERRORS, **scoped("operate"))
async def enable_webhook(webhook_id: str, notify: Notify) -> WebhookOut:
    """Turn a webhook back on (events from now on; deliveries cancelled while disabled stay so)."""
    webhook = await notify.webhooks.EnableWebhook(webhooks_pb2.EnableWebhookRequest(webhook_id=webhook_id))
    return WebhookOut.from_proto(webhook)


@router.get(
    "/{webhook_id}/deliveries", response_model=Page[DeliveryOut], responses=ERRORS, **scoped("operate")
)
async def list_deliveries(
    webhook_id: str, notify: Notify, limit: Limit = 50, cursor: Cursor = None
) -> Page[DeliveryOut]:
    """The delivery log, newest first, each delivery with its attempts."""
    request = webhooks_pb2.ListDeliveriesRequest(
        webhook_id=webhook_id, page_size=limit, page_token=cursor or ""
    )
    page = await notify.webhooks.ListDeliveries(request)
    return Page[DeliveryOut].of([DeliveryOut.from_proto(d) for d in page.deliveries], page.next_page_token)
