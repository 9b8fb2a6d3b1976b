"""NotifyService: channels, the policy, templates and messages. Converts and delegates only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeAlias

from grpc import aio

from patron.notify.v1 import notify_pb2, notify_pb2_grpc
from services.notify.domain.messages import CustomerExport, MessageDesk, MessageView, parse_send
from services.notify.domain.setup_desk import ChannelView, SetupDesk
from services.notify.domain.templates import sms_size
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.paging import decode_cursor, encode_cursor, page_from_rows, page_size
from services.runtime.privacy import export_value
from services.runtime.proto_convert import set_time, to_timestamp
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

NOTIFY_SERVICE = "patron.notify.v1.NotifyService"
MAX_DOCUMENT_BYTES = 256 * 1024

Context: TypeAlias = "aio.ServicerContext[Any, Any]"
_CURSOR = (datetime, uuid.UUID)


def document(text: str, name: str) -> Any:
    """A JSON document of a request; a fault names ``name``."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise InvalidArgument.single(name, f"at most {MAX_DOCUMENT_BYTES} bytes")
    try:
        return json.loads(text) if text else None
    except ValueError as error:
        raise InvalidArgument.single(name, f"is not JSON: {error}") from error


def _uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument.single(name, "must be a UUID") from None


def channel_to_proto(view: ChannelView) -> notify_pb2.Channel:
    return notify_pb2.Channel(
        channel=view.channel,
        provider=view.provider,
        settings_json=json.dumps(view.settings, ensure_ascii=False),
        secrets_set=view.secrets_set,
        enabled=view.enabled,
        updated_at=to_timestamp(view.updated_at),
    )


def template_to_proto(row: Any) -> notify_pb2.Template:
    provider = (
        {"id": row.provider_template, "params": dict(row.provider_params)} if row.provider_template else None
    )
    message = notify_pb2.Template(
        template_id=str(row.template_id),
        name=row.name,
        channel=row.channel,
        purpose=row.purpose,
        subject=row.subject or "",
        body=row.body,
        html=row.html or "",
        provider_template_json=json.dumps(provider, ensure_ascii=False) if provider else "",
        personal_fields=list(row.personal_fields),
        created_at=to_timestamp(row.created_at),
    )
    if row.channel == "sms":
        size = sms_size(row.body)
        message.sms_characters, message.sms_segments, message.sms_encoding = (
            size.units,
            size.segments,
            size.encoding,
        )
    return message


def message_to_proto(view: MessageView) -> notify_pb2.Message:
    message = notify_pb2.Message(
        message_id=str(view.message_id),
        customer_id=str(view.customer_id),
        template_id=str(view.template_id),
        channel=view.channel,
        purpose=view.purpose,
        status=view.status,
        reason=view.reason or "",
        to_masked=view.to_masked or "",
        sender=view.sender,
        error=view.error or "",
        attempts=view.attempts,
        conversion_order_id=view.conversion_order_id or "",
        deduplicated=view.deduplicated,
    )
    for name in (
        "created_at",
        "due_at",
        "sent_at",
        "delivered_at",
        "opened_at",
        "clicked_at",
        "failed_at",
        "converted_at",
    ):
        set_time(message, name, getattr(view, name))
    return message


def _json_value(value: Any) -> str:
    """Times as ISO 8601 (what every other answer uses), anything else (UUIDs) as text."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _after(token: str) -> tuple[datetime, uuid.UUID] | None:
    key = decode_cursor(token, _CURSOR)
    return None if key is None else (key[0], key[1])


class NotifyServicer(notify_pb2_grpc.NotifyServiceServicer):
    """Every call acts for the tenant of its metadata."""

    def __init__(
        self,
        setup: SetupDesk,
        messages: MessageDesk,
        exports: CustomerExport,
        on_committed: Callable[[], None] = lambda: None,
    ) -> None:
        self._setup = setup
        self._messages = messages
        self._exports = exports
        self._on_committed = on_committed

    async def PutChannel(self, request: notify_pb2.PutChannelRequest, context: Context) -> notify_pb2.Channel:
        view = await self._setup.put_channel(
            current_tenant(), request.channel, document(request.document_json, "channel")
        )
        return channel_to_proto(view)

    async def GetChannel(self, request: notify_pb2.GetChannelRequest, context: Context) -> notify_pb2.Channel:
        return channel_to_proto(await self._setup.channel(current_tenant(), request.channel))

    async def ListChannels(
        self, request: notify_pb2.ListChannelsRequest, context: Context
    ) -> notify_pb2.ListChannelsResponse:
        views = await self._setup.channels(current_tenant())
        return notify_pb2.ListChannelsResponse(channels=[channel_to_proto(view) for view in views])

    async def GetPolicy(self, request: notify_pb2.GetPolicyRequest, context: Context) -> notify_pb2.Policy:
        policy, updated_at = await self._setup.policy(current_tenant())
        answer = notify_pb2.Policy(document_json=json.dumps(policy))
        set_time(answer, "updated_at", updated_at)
        return answer

    async def PutPolicy(self, request: notify_pb2.PutPolicyRequest, context: Context) -> notify_pb2.Policy:
        policy, updated_at = await self._setup.put_policy(
            current_tenant(), document(request.document_json, "policy")
        )
        return notify_pb2.Policy(document_json=json.dumps(policy), updated_at=to_timestamp(updated_at))

    async def CreateTemplate(
        self, request: notify_pb2.CreateTemplateRequest, context: Context
    ) -> notify_pb2.Template:
        row = await self._setup.create_template(current_tenant(), document(request.document_json, "template"))
        return template_to_proto(row)

    async def GetTemplate(
        self, request: notify_pb2.GetTemplateRequest, context: Context
    ) -> notify_pb2.Template:
        row = await self._setup.template_row(current_tenant(), _uuid(request.template_id, "template_id"))
        return template_to_proto(row)

    async def ListTemplates(
        self, request: notify_pb2.ListTemplatesRequest, context: Context
    ) -> notify_pb2.ListTemplatesResponse:
        limit = page_size(request.page_size)
        rows = await self._setup.templates_page(current_tenant(), _after(request.page_token), limit + 1)
        page = page_from_rows(rows, limit, template_to_proto, lambda row: (row.created_at, row.template_id))
        return notify_pb2.ListTemplatesResponse(templates=page.items, next_page_token=page.next_cursor or "")

    async def PreviewTemplate(
        self, request: notify_pb2.PreviewTemplateRequest, context: Context
    ) -> notify_pb2.Preview:
        data = document(request.data_json, "data")
        preview = await self._setup.preview(
            current_tenant(),
            _uuid(request.template_id, "template_id"),
            _uuid(request.customer_id, "customer_id"),
            {} if data is None else data,
            request.coupon_code or None,
        )
        answer = notify_pb2.Preview(missing=list(preview.missing), to_masked=preview.to_masked or "")
        if preview.rendered is not None:
            answer.subject = preview.rendered.subject or ""
            answer.body = preview.rendered.body
            answer.html = preview.rendered.html or ""
        if preview.size is not None:
            answer.sms_characters = preview.size.units
            answer.sms_segments = preview.size.segments
            answer.sms_encoding = preview.size.encoding
        return answer

    async def SendMessage(
        self, request: notify_pb2.SendMessageRequest, context: Context
    ) -> notify_pb2.Message:
        command = parse_send(
            request.customer_id,
            request.template_id,
            request.data_json,
            request.dedupe_key,
            request.coupon_code,
            request.sender,
            request.sender_ref,
        )
        view = await self._messages.send(current_tenant(), command)
        if view.status == "queued" and not view.deduplicated:
            self._on_committed()
        return message_to_proto(view)

    async def GetMessage(self, request: notify_pb2.GetMessageRequest, context: Context) -> notify_pb2.Message:
        message_id = _uuid(request.message_id, "message_id")
        view = await self._messages.get(current_tenant(), message_id)
        if view is None:
            raise NotFound(f"message {message_id} not found")
        return message_to_proto(view)

    async def ListCustomerMessages(
        self, request: notify_pb2.ListCustomerMessagesRequest, context: Context
    ) -> notify_pb2.ListCustomerMessagesResponse:
        limit = page_size(request.page_size)
        customer_id = _uuid(request.customer_id, "customer_id")
        views = await self._messages.for_customer(
            current_tenant(), customer_id, _after(request.page_token), limit + 1
        )
        more = len(views) > limit
        views = views[:limit]
        token = encode_cursor((views[-1].created_at, views[-1].message_id)) if more else ""
        return notify_pb2.ListCustomerMessagesResponse(
            messages=[message_to_proto(view) for view in views], next_page_token=token
        )

    async def ExportCustomer(
        self, request: notify_pb2.ExportCustomerRequest, context: Context
    ) -> notify_pb2.ExportCustomerResponse:
        customer_id = _uuid(request.customer_id, "customer_id")
        exported = await self._exports.export(current_tenant(), customer_id)
        return notify_pb2.ExportCustomerResponse(
            export_json=json.dumps(exported, ensure_ascii=False, default=export_value)
        )


def notify_registration(servicer: NotifyServicer) -> Registration:
    """The NotifyService as served by the notify process."""
    return Registration(notify_pb2_grpc.add_NotifyServiceServicer_to_server, servicer, NOTIFY_SERVICE)
