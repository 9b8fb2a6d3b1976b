"""Notify set-up: channels (one provider each, secrets in but never out), the policy, templates.

- `PUT /v1/notify/channels/{channel}` (`sms`, `email`, `push`, `wechat`) `{"provider", "settings",
  "enabled"?}` → the channel without its secrets (`secrets_set` names those stored). A PUT that omits
  a secret keeps the stored one. Providers: e-mail `smtp`, SMS `aliyun`, push `jpush`, WeChat
  `wechat`, and `http` on every channel (docs/notify.md lists each provider's settings).
  `GET /v1/notify/channels[/{channel}]`.
- `GET|PUT /v1/notify/policy` `{"frequency_caps": [{"max", "per"}], "quiet_hours": {"start", "end"} |
  null, "attribution_window"?, "global_control_percent"?}`: caps count marketing messages across
  every channel and sender; the global control group is kept out of every campaign.
- `POST /v1/notify/templates` `{"name", "channel", "purpose", "subject"?, "body", "html"?,
  "provider_template"?: {"id", "params"}}` → 201; Liquid with the personal fields `customer.nickname`,
  `loyalty.tier`, `loyalty.points`, `coupon.code`, `data.<key>`; a syntax error or an unknown
  variable is 422 naming the part. SMS templates report their length and segments.
  `GET /v1/notify/templates[/{template_id}]`; `POST /v1/notify/templates/{template_id}/preview`
  `{"customer_id", "data"?, "coupon_code"?}` renders for a real customer (`missing` lists the
  personal fields the customer lacks: such a message would be suppressed, never sent half-filled).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from gateway.auth import scoped
from gateway.dependencies import ERRORS, Notify
from gateway.schemas import Cursor, JsonObject, Limit, Page, StrictBody
from patron.notify.v1 import notify_pb2
from services.notify.domain.policy import MAX_GLOBAL_CONTROL
from services.notify.domain.template_documents import MAX_NAME
from services.notify.domain.templates import MAX_BODY, MAX_SUBJECT
from services.runtime.proto_convert import from_timestamp

router = APIRouter(tags=["notify"])

ChannelName = Annotated[Literal["sms", "email", "push", "wechat"], Path(description="the channel")]
Purpose = Literal["marketing", "service"]
DURATION_PATTERN = r"^P(\d+D)?(T(\d+H)?(\d+M)?)?$"


class ChannelIn(StrictBody):
    provider: Literal["smtp", "aliyun", "jpush", "wechat", "http"] = Field(
        description="e-mail smtp, SMS aliyun, push jpush, WeChat wechat, or http on any channel"
    )
    settings: JsonObject = Field(description="the provider's settings, secrets included (never returned)")
    enabled: bool = True


class ChannelOut(BaseModel):
    channel: str
    provider: str
    settings: dict[str, Any] = Field(description="without secrets")
    secrets_set: list[str] = Field(description="names of the secrets stored")
    enabled: bool
    updated_at: datetime

    @classmethod
    def from_proto(cls, channel: notify_pb2.Channel) -> ChannelOut:
        return cls(
            channel=channel.channel,
            provider=channel.provider,
            settings=json.loads(channel.settings_json),
            secrets_set=list(channel.secrets_set),
            enabled=channel.enabled,
            updated_at=from_timestamp(channel.updated_at),
        )


class CapIn(StrictBody):
    max: int = Field(ge=1, le=1000, description="at most this many marketing messages")
    per: str = Field(
        max_length=20,
        pattern=DURATION_PATTERN,
        description="in any window of this ISO 8601 duration (PT1H to P90D)",
    )


class QuietHoursIn(StrictBody):
    start: str = Field(pattern=r"^\d\d:\d\d$", description="HH:MM, the customer's local time")
    end: str = Field(pattern=r"^\d\d:\d\d$", description="HH:MM; before start spans midnight")


class PolicyIn(StrictBody):
    frequency_caps: list[CapIn] = Field(default_factory=list, max_length=5, description="[] turns caps off")
    quiet_hours: QuietHoursIn | None = Field(default=None, description="null turns quiet hours off")
    attribution_window: str = Field(
        default="P7D",
        max_length=20,
        pattern=DURATION_PATTERN,
        description="an order this long after a message converts it (PT1H to P90D)",
    )
    global_control_percent: float = Field(
        default=0,
        ge=0,
        le=MAX_GLOBAL_CONTROL,
        description="the share of customers (0 to 20 %, steps of 0.1) no marketing campaign reaches: "
        "the global control group, for long-run lift (docs/campaigns.md)",
    )


class PolicyOut(BaseModel):
    frequency_caps: list[dict[str, Any]]
    quiet_hours: dict[str, str] | None
    attribution_window: str
    global_control_percent: float = 0.0
    updated_at: datetime | None = None

    @classmethod
    def from_proto(cls, policy: notify_pb2.Policy) -> PolicyOut:
        document = json.loads(policy.document_json)
        updated = from_timestamp(policy.updated_at) if policy.HasField("updated_at") else None
        return cls(**document, updated_at=updated)


class ProviderTemplateIn(StrictBody):
    id: str = Field(
        min_length=1, max_length=100, description="the provider's template (TemplateCode, template_id)"
    )
    params: dict[str, str] = Field(default_factory=dict, description="name → Liquid, rendered per customer")


class TemplateIn(StrictBody):
    name: str = Field(min_length=1, max_length=MAX_NAME)
    channel: Literal["sms", "email", "push", "wechat"]
    purpose: Purpose
    subject: str | None = Field(default=None, max_length=MAX_SUBJECT)
    body: str = Field(min_length=1, max_length=max(MAX_BODY.values()))
    html: str | None = Field(default=None, max_length=MAX_BODY["email"])
    provider_template: ProviderTemplateIn | None = None


class SmsSizeOut(BaseModel):
    characters: int
    segments: int
    encoding: str


class TemplateOut(BaseModel):
    template_id: uuid.UUID
    name: str
    channel: str
    purpose: str
    subject: str | None
    body: str
    html: str | None
    provider_template: dict[str, Any] | None
    personal_fields: list[str]
    sms: SmsSizeOut | None = Field(description="SMS: the body's length and segments as written")
    created_at: datetime

    @classmethod
    def from_proto(cls, template: notify_pb2.Template) -> TemplateOut:
        sms = None
        if template.channel == "sms":
            sms = SmsSizeOut(
                characters=template.sms_characters,
                segments=template.sms_segments,
                encoding=template.sms_encoding,
            )
        return cls(
            template_id=uuid.UUID(template.template_id),
            name=template.name,
            channel=template.channel,
            purpose=template.purpose,
            subject=template.subject or None,
            body=template.body,
            html=template.html or None,
            provider_template=json.loads(template.provider_template_json)
            if template.provider_template_json
            else None,
            personal_fields=list(template.personal_fields),
            sms=sms,
            created_at=from_timestamp(template.created_at),
        )


class PreviewIn(StrictBody):
    customer_id: uuid.UUID
    data: JsonObject = Field(default_factory=dict)
    coupon_code: str | None = Field(default=None, max_length=64)


class PreviewOut(BaseModel):
    subject: str | None
    body: str | None
    html: str | None
    missing: list[str] = Field(description="personal fields the customer lacks: a send would be suppressed")
    sms: SmsSizeOut | None
    to: str | None = Field(description="the contact the message would go to, masked")


@router.put("/v1/notify/channels/{channel}", response_model=ChannelOut, responses=ERRORS, **scoped("operate"))
async def put_channel(channel: ChannelName, body: ChannelIn, notify: Notify) -> ChannelOut:
    """Configure the channel's provider (secrets sealed at rest, never returned)."""
    request = notify_pb2.PutChannelRequest(channel=channel, document_json=json.dumps(body.model_dump()))
    return ChannelOut.from_proto(await notify.setup.PutChannel(request))


@router.get("/v1/notify/channels", response_model=list[ChannelOut], responses=ERRORS, **scoped("operate"))
async def list_channels(notify: Notify) -> list[ChannelOut]:
    """Every configured channel, without secrets."""
    answer = await notify.setup.ListChannels(notify_pb2.ListChannelsRequest())
    return [ChannelOut.from_proto(channel) for channel in answer.channels]


@router.get("/v1/notify/channels/{channel}", response_model=ChannelOut, responses=ERRORS, **scoped("operate"))
async def get_channel(channel: ChannelName, notify: Notify) -> ChannelOut:
    """One channel, without secrets (404 when not configured)."""
    return ChannelOut.from_proto(await notify.setup.GetChannel(notify_pb2.GetChannelRequest(channel=channel)))


@router.get("/v1/notify/policy", response_model=PolicyOut, responses=ERRORS, **scoped("operate"))
async def get_policy(notify: Notify) -> PolicyOut:
    """The tenant's policy (no caps, no quiet hours, a 7-day attribution window until one is set)."""
    return PolicyOut.from_proto(await notify.setup.GetPolicy(notify_pb2.GetPolicyRequest()))


@router.put("/v1/notify/policy", response_model=PolicyOut, responses=ERRORS, **scoped("operate"))
async def put_policy(body: PolicyIn, notify: Notify) -> PolicyOut:
    """Replace the policy; the next message decided follows it."""
    request = notify_pb2.PutPolicyRequest(document_json=json.dumps(body.model_dump()))
    return PolicyOut.from_proto(await notify.setup.PutPolicy(request))


@router.post(
    "/v1/notify/templates", status_code=201, response_model=TemplateOut, responses=ERRORS, **scoped("operate")
)
async def create_template(body: TemplateIn, notify: Notify) -> TemplateOut:
    """Save a template after checking every Liquid part (422 names the part and the fault)."""
    document = body.model_dump(exclude_none=True)
    request = notify_pb2.CreateTemplateRequest(document_json=json.dumps(document, ensure_ascii=False))
    return TemplateOut.from_proto(await notify.setup.CreateTemplate(request))


@router.get("/v1/notify/templates", response_model=Page[TemplateOut], responses=ERRORS, **scoped("operate"))
async def list_templates(notify: Notify, limit: Limit = 100, cursor: Cursor = None) -> Page[TemplateOut]:
    """The tenant's templates in creation order."""
    request = notify_pb2.ListTemplatesRequest(page_size=limit, page_token=cursor or "")
    page = await notify.setup.ListTemplates(request)
    return Page[TemplateOut].of([TemplateOut.from_proto(t) for t in page.templates], page.next_page_token)


@router.get(
    "/v1/notify/templates/{template_id}", response_model=TemplateOut, responses=ERRORS, **scoped("operate")
)
async def get_template(template_id: uuid.UUID, notify: Notify) -> TemplateOut:
    """One template."""
    answer = await notify.setup.GetTemplate(notify_pb2.GetTemplateRequest(template_id=str(template_id)))
    return TemplateOut.from_proto(answer)


@router.post(
    "/v1/notify/templates/{template_id}/preview",
    response_model=PreviewOut,
    responses=ERRORS,
    **scoped("operate"),
)
async def preview_template(template_id: uuid.UUID, body: PreviewIn, notify: Notify) -> PreviewOut:
    """Render the template for a real customer, exactly as a send would (nothing is sent)."""
    request = notify_pb2.PreviewTemplateRequest(
        template_id=str(template_id),
        customer_id=str(body.customer_id),
        data_json=json.dumps(body.data, ensure_ascii=False),
        coupon_code=body.coupon_code or "",
    )
    answer = await notify.setup.PreviewTemplate(request)
    sms = None
    if answer.sms_encoding:
        sms = SmsSizeOut(
            characters=answer.sms_characters, segments=answer.sms_segments, encoding=answer.sms_encoding
        )
    rendered = not answer.missing
    return PreviewOut(
        subject=answer.subject or None,
        body=answer.body if rendered else None,
        html=answer.html or None,
        missing=list(answer.missing),
        sms=sms,
        to=answer.to_masked or None,
    )
