"""Messages (notify): one message to one customer, judged by the tenant's policy, sent by a worker.

- `POST /v1/messages` `{"customer_id", "template_id", "data"?, "dedupe_key"?, "coupon_code"?}` → 202
  `{"message_id", "status", "reason"?}`. `status` is `queued` (a worker sends it now), `deferred`
  (quiet hours: sent when they end, `due_at`) or `suppressed` with `reason` — `no_consent`,
  `capped`, `no_contact`, `unsubscribed`, `erased`, `missing_data` (the template prints a personal
  field the customer lacks). The same `dedupe_key` answers the first message again, never a second
  one (`deduplicated: true`). A template of a channel not configured or disabled is 409.
- `GET /v1/messages/{message_id}`: its status (`sent`, `delivered`, `opened`, `clicked`, `failed`
  with the provider's `error`, ...), attempts and times; the contact only masked.
- `GET /v1/customers/{customer_id}/messages`: the customer's messages, newest first (a merged-away
  id answers for its survivor).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway.auth import scoped
from gateway.dependencies import ERRORS, Notify
from gateway.schemas import Cursor, JsonObject, Limit, Page, StrictBody
from patron.notify.v1 import notify_pb2
from services.notify.domain.messages import MAX_COUPON_CODE, MAX_DEDUPE_KEY
from services.runtime.proto_convert import from_timestamp

router = APIRouter(tags=["messages"])

_TIMES = ("due_at", "sent_at", "delivered_at", "opened_at", "clicked_at", "failed_at", "converted_at")


class MessageIn(StrictBody):
    customer_id: uuid.UUID
    template_id: uuid.UUID
    data: JsonObject = Field(default_factory=dict, description="the template's data.<key> values")
    dedupe_key: str | None = Field(default=None, min_length=1, max_length=MAX_DEDUPE_KEY)
    coupon_code: str | None = Field(default=None, min_length=1, max_length=MAX_COUPON_CODE)


class MessageOut(BaseModel):
    message_id: uuid.UUID
    customer_id: uuid.UUID
    template_id: uuid.UUID
    channel: str
    purpose: str
    status: str
    reason: str | None = None
    to: str | None = Field(default=None, description="the contact, masked")
    sender: str
    error: str | None = None
    attempts: int
    deduplicated: bool = False
    created_at: datetime
    due_at: datetime | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    opened_at: datetime | None = None
    clicked_at: datetime | None = None
    failed_at: datetime | None = None
    converted_at: datetime | None = None
    conversion_order_id: str | None = None

    @classmethod
    def from_proto(cls, message: notify_pb2.Message) -> MessageOut:
        times = {name: from_timestamp(getattr(message, name)) for name in _TIMES if message.HasField(name)}
        return cls(
            message_id=uuid.UUID(message.message_id),
            customer_id=uuid.UUID(message.customer_id),
            template_id=uuid.UUID(message.template_id),
            channel=message.channel,
            purpose=message.purpose,
            status=message.status,
            reason=message.reason or None,
            to=message.to_masked or None,
            sender=message.sender,
            error=message.error or None,
            attempts=message.attempts,
            deduplicated=message.deduplicated,
            created_at=from_timestamp(message.created_at),
            conversion_order_id=message.conversion_order_id or None,
            **times,
        )


@router.post(
    "/v1/messages", status_code=202, response_model=MessageOut, responses=ERRORS, **scoped("operate")
)
async def send_message(body: MessageIn, notify: Notify) -> MessageOut:
    """Judge the message by the policy and commit it; a worker delivers it (202)."""
    request = notify_pb2.SendMessageRequest(
        customer_id=str(body.customer_id),
        template_id=str(body.template_id),
        data_json=json.dumps(body.data, ensure_ascii=False),
        dedupe_key=body.dedupe_key or "",
        coupon_code=body.coupon_code or "",
        sender="api",
    )
    return MessageOut.from_proto(await notify.setup.SendMessage(request))


@router.get("/v1/messages/{message_id}", response_model=MessageOut, responses=ERRORS, **scoped("operate"))
async def get_message(message_id: uuid.UUID, notify: Notify) -> MessageOut:
    """One message and where it is in its life."""
    answer = await notify.setup.GetMessage(notify_pb2.GetMessageRequest(message_id=str(message_id)))
    return MessageOut.from_proto(answer)


@router.get(
    "/v1/customers/{customer_id}/messages",
    response_model=Page[MessageOut],
    responses=ERRORS,
    **scoped("read"),
)
async def customer_messages(
    customer_id: uuid.UUID, notify: Notify, limit: Limit = 100, cursor: Cursor = None
) -> Page[MessageOut]:
    """The customer's messages, newest first."""
    request = notify_pb2.ListCustomerMessagesRequest(
        customer_id=str(customer_id), page_size=limit, page_token=cursor or ""
    )
    page = await notify.setup.ListCustomerMessages(request)
    return Page[MessageOut].of([MessageOut.from_proto(m) for m in page.messages], page.next_page_token)
