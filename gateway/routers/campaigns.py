"""Campaigns (notify service): one message to a saved segment, variants, a sticky holdout, and lift
(docs/campaigns.md).

- `POST /v1/campaigns` `{"name", "segment_id", "variants": [{"name", "template_id", "weight"}],
  "holdout_percent"?: 0-50, "send_at"?, "send_at_zone"?: "tenant" | "customer", "conversion_window"?:
  "P7D"}` → 201 the campaign in `draft`. The segment and every template must be the tenant's own, each
  template a marketing one: a 422 names every fault by its path, all at once (`variants[1].weight`).
- `POST /v1/campaigns/{campaign_id}/start` (from draft) | `/pause` (from scheduled or running) |
  `/resume` (from paused) | `/cancel` (from draft, scheduled, running or paused; the messages not yet
  sent are suppressed, reason `cancelled`) → the campaign; any other move is 409 `CAMPAIGN_STATUS`
  naming the current `campaign_status`.
- `GET /v1/campaigns` pages the campaigns newest first (limit 1-100); `GET /v1/campaigns/{campaign_id}`
  → the campaign with its `progress`.
- `GET /v1/campaigns/{campaign_id}/recipients` (limit 1-1000, `group` filter) → the audience taken at
  start, in snapshot order, each with its group (fixed for the campaign) and its message.
- `GET /v1/campaigns/{campaign_id}/report` → per group counts and rates, and each variant's lift over
  the holdout with a 95 % interval and a p-value.
- Limits: a name of 1-100 characters; 1-10 variants (names 1-40 characters, weights 1-100); the
  document at most 256 KiB of JSON (the gateway's body limit applies first).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import scoped
from gateway.dependencies import ERRORS, Notify
from gateway.limits import documented, enum_of
from gateway.schemas import Cursor, Page, StrictBody
from patron.notify.v1 import campaigns_pb2
from services.notify.domain.campaign_definitions import (
    MAX_HOLDOUT,
    MAX_NAME,
    MAX_VARIANT_NAME,
    MAX_VARIANTS,
    MAX_WEIGHT,
    ZONES,
)
from services.notify.domain.campaigns import (
    DEFAULT_PAGE,
    DEFAULT_RECIPIENT_PAGE,
    MAX_PAGE,
    MAX_RECIPIENT_PAGE,
)
from services.runtime.proto_convert import from_timestamp, optional_time, text_or_none

router = APIRouter(tags=["campaigns"])

SAVE_DEADLINE_SECONDS = 10.0
"""A save asks scoring about the segment and reads every variant's template."""
LONG_DEADLINE_SECONDS = 30.0
"""Counting a large campaign's messages (its progress, its report) or suppressing the unsent ones of
a cancelled campaign may take longer than an ordinary call."""

CampaignLimit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"page size (1-{MAX_PAGE})")]
RecipientLimit = Annotated[
    int, Query(ge=1, le=MAX_RECIPIENT_PAGE, description=f"page size (1-{MAX_RECIPIENT_PAGE})")
]
GroupFilter = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=MAX_VARIANT_NAME,
        description='only this group: a variant\'s name, "holdout" or "global_control"',
    ),
]


class VariantIn(StrictBody):
    """One variant: its message template and its relative weight."""

    name: Annotated[str, documented(minLength=1, maxLength=MAX_VARIANT_NAME)] | None = Field(
        default=None, description='letters, digits and " _.-", unique, not "holdout"'
    )
    template_id: Annotated[str, documented(format="uuid")] | None = Field(
        default=None, description="a marketing template of the tenant"
    )
    weight: Annotated[int, documented(minimum=1, maximum=MAX_WEIGHT)] | None = Field(
        default=None, description=f"a whole number 1-{MAX_WEIGHT}, relative to the other variants'"
    )


class CampaignIn(StrictBody):
    """A campaign's definition (notify checks it whole and names every fault by its path)."""

    name: Annotated[str, documented(minLength=1, maxLength=MAX_NAME)] | None = None
    segment_id: Annotated[str, documented(format="uuid")] | None = Field(
        default=None, description="a saved segment of the tenant: its members at start are the audience"
    )
    variants: Annotated[list[VariantIn], documented(minItems=1, maxItems=MAX_VARIANTS)] | None = Field(
        default=None, description=f"1-{MAX_VARIANTS} variants"
    )
    holdout_percent: Annotated[float, documented(minimum=0, maximum=MAX_HOLDOUT)] | None = Field(
        default=None, description="the share held out (gets nothing), 0-50 in steps of 0.1; default 0"
    )
    send_at: Annotated[str, documented(maxLength=40)] | None = Field(
        default=None,
        description="ISO 8601: with an offset, that instant for everyone; without, that wall-clock time "
        "in send_at_zone; absent, at start. At most a year ahead.",
        examples=["2026-12-10T10:00"],
    )
    send_at_zone: Annotated[str, enum_of(ZONES)] | None = Field(
        default=None, description="tenant (default) or customer: each customer's own time zone"
    )
    conversion_window: Annotated[str, documented(maxLength=20)] | None = Field(
        default=None, description="an order this long after the message converts (PT1H to P90D; default P7D)"
    )

    def document(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ProgressOut(BaseModel):
    recipients: int = Field(description="the audience taken at start (every group)")
    planned: int = Field(description="messages committed (queued, deferred, sent or suppressed ...)")
    sent: int = Field(description="messages that reached a provider (sent, delivered, opened, clicked)")
    suppressed: int = Field(description="messages the policy, a later check or a cancel suppressed")
    deferred: int = Field(description="messages waiting for quiet hours to end")
    failed: int
    holdout: int = Field(description="recipients held out (nothing is sent to them)")
    global_control: int = Field(description="recipients in the tenant's global control group")


class CampaignOut(BaseModel):
    campaign_id: uuid.UUID
    name: str
    status: str = Field(description="draft, scheduled, running, paused, completed, cancelled")
    definition: dict[str, Any] = Field(description="the definition as saved")
    progress: ProgressOut
    created_at: datetime
    started_at: datetime | None = Field(description="when /start was accepted")
    send_at: datetime | None = Field(description="the first send instant (null: at start, or not started)")
    snapshot_at: datetime | None = Field(description="when the audience was taken")
    segment_version: int | None = Field(description="the segment's version the audience was taken from")
    completed_at: datetime | None
    cancelled_at: datetime | None
    global_control_percent: float = Field(description="the tenant's global control share, fixed at start")

    @classmethod
    def from_proto(cls, message: campaigns_pb2.Campaign) -> CampaignOut:
        progress = message.progress
        snapshot_at = optional_time(message, "snapshot_at")
        return cls(
            campaign_id=uuid.UUID(message.campaign_id),
            name=message.name,
            status=message.status,
            definition=json.loads(message.document_json),
            progress=ProgressOut(
                recipients=progress.recipients,
                planned=progress.planned,
                sent=progress.sent,
                suppressed=progress.suppressed,
                deferred=progress.deferred,
                failed=progress.failed,
                holdout=progress.holdout,
                global_control=progress.global_control,
            ),
            created_at=from_timestamp(message.created_at),
            started_at=optional_time(message, "started_at"),
            send_at=optional_time(message, "send_at"),
            snapshot_at=snapshot_at,
            segment_version=message.segment_version if snapshot_at is not None else None,
            completed_at=optional_time(message, "completed_at"),
            cancelled_at=optional_time(message, "cancelled_at"),
            global_control_percent=message.global_control_percent,
        )


class RecipientOut(BaseModel):
    customer_id: uuid.UUID
    group: str = Field(description='a variant\'s name, "holdout" or "global_control"; fixed for the campaign')
    message_id: uuid.UUID | None = Field(description="null when none (held out, or not planned yet)")
    status: str | None = Field(description="the message's status; null when none")
    reason: str | None = Field(description="why the message was suppressed; null otherwise")

    @classmethod
    def from_proto(cls, message: campaigns_pb2.CampaignRecipient) -> RecipientOut:
        return cls(
            customer_id=uuid.UUID(message.customer_id),
            group=message.group,
            message_id=uuid.UUID(message.message_id) if message.message_id else None,
            status=text_or_none(message.status),
            reason=text_or_none(message.reason),
        )


class CampaignReportOut(BaseModel):
    """The report as notify computes it (docs/campaigns.md "Report"): every group with its counts and
    rates, each variant's lift over the holdout, the winner when there is one, and the methods."""

    model_config = ConfigDict(extra="allow")

    campaign_id: uuid.UUID
    status: str
    groups: list[dict[str, Any]]
    lift: list[dict[str, Any]] = Field(description="each variant against the holdout, 95 % intervals")
    winner: str | None = Field(description="a variant whose conversion lift interval is wholly above zero")


def _ref(campaign_id: uuid.UUID) -> campaigns_pb2.CampaignRef:
    return campaigns_pb2.CampaignRef(campaign_id=str(campaign_id))


@router.post(
    "/v1/campaigns", status_code=201, response_model=CampaignOut, responses=ERRORS, **scoped("operate")
)
async def create_campaign(body: CampaignIn, notify: Notify) -> CampaignOut:
    """A new campaign in draft: nothing is sent until it starts."""
    request = campaigns_pb2.CreateCampaignRequest(
        document_json=json.dumps(body.document(), ensure_ascii=False)
    )
    answer = await notify.campaigns.CreateCampaign(request, deadline_seconds=SAVE_DEADLINE_SECONDS)
    return CampaignOut.from_proto(answer)


@router.get("/v1/campaigns", response_model=Page[CampaignOut], responses=ERRORS, **scoped("operate"))
async def list_campaigns(
    notify: Notify, limit: CampaignLimit = DEFAULT_PAGE, cursor: Cursor = None
) -> Page[CampaignOut]:
    """The tenant's campaigns, newest first, each with its progress."""
    request = campaigns_pb2.ListCampaignsRequest(page_size=limit, page_token=cursor or "")
    page = await notify.campaigns.ListCampaigns(request, deadline_seconds=LONG_DEADLINE_SECONDS)
    return Page[CampaignOut].of([CampaignOut.from_proto(c) for c in page.campaigns], page.next_page_token)


@router.get("/v1/campaigns/{campaign_id}", response_model=CampaignOut, responses=ERRORS, **scoped("operate"))
async def get_campaign(campaign_id: uuid.UUID, notify: Notify) -> CampaignOut:
    """One campaign with its progress."""
    answer = await notify.campaigns.GetCampaign(_ref(campaign_id), deadline_seconds=LONG_DEADLINE_SECONDS)
    return CampaignOut.from_proto(answer)


@router.post(
    "/v1/campaigns/{campaign_id}/start", response_model=CampaignOut, responses=ERRORS, **scoped("operate")
)
async def start_campaign(campaign_id: uuid.UUID, notify: Notify) -> CampaignOut:
    """From draft: scheduled until its send time, then running (the audience is taken then)."""
    answer = await notify.campaigns.StartCampaign(_ref(campaign_id), deadline_seconds=LONG_DEADLINE_SECONDS)
    return CampaignOut.from_proto(answer)


@router.post(
    "/v1/campaigns/{campaign_id}/pause", response_model=CampaignOut, responses=ERRORS, **scoped("operate")
)
async def pause_campaign(campaign_id: uuid.UUID, notify: Notify) -> CampaignOut:
    """From scheduled or running: no new recipient is planned until it resumes."""
    answer = await notify.campaigns.PauseCampaign(_ref(campaign_id), deadline_seconds=LONG_DEADLINE_SECONDS)
    return CampaignOut.from_proto(answer)


@router.post(
    "/v1/campaigns/{campaign_id}/resume", response_model=CampaignOut, responses=ERRORS, **scoped("operate")
)
async def resume_campaign(campaign_id: uuid.UUID, notify: Notify) -> CampaignOut:
    """From paused: on where it stopped, no recipient planned twice or skipped."""
    answer = await notify.campaigns.ResumeCampaign(_ref(campaign_id), deadline_seconds=LONG_DEADLINE_SECONDS)
    return CampaignOut.from_proto(answer)


@router.post(
    "/v1/campaigns/{campaign_id}/cancel", response_model=CampaignOut, responses=ERRORS, **scoped("operate")
)
async def cancel_campaign(campaign_id: uuid.UUID, notify: Notify) -> CampaignOut:
    """For good: the messages not yet sent are suppressed (reason cancelled)."""
    answer = await notify.campaigns.CancelCampaign(_ref(campaign_id), deadline_seconds=LONG_DEADLINE_SECONDS)
    return CampaignOut.from_proto(answer)


@router.get(
    "/v1/campaigns/{campaign_id}/recipients",
    response_model=Page[RecipientOut],
    responses=ERRORS,
    **scoped("operate"),
)
async def campaign_recipients(
    campaign_id: uuid.UUID,
    notify: Notify,
    limit: RecipientLimit = DEFAULT_RECIPIENT_PAGE,
    cursor: Cursor = None,
    group: GroupFilter = None,
) -> Page[RecipientOut]:
    """The audience taken at start, in snapshot order, each with its group and message."""
    request = campaigns_pb2.ListRecipientsRequest(
        campaign_id=str(campaign_id), page_size=limit, page_token=cursor or "", group=group or ""
    )
    page = await notify.campaigns.ListRecipients(request)
    items = [RecipientOut.from_proto(item) for item in page.recipients]
    return Page[RecipientOut].of(items, page.next_page_token)


@router.get(
    "/v1/campaigns/{campaign_id}/report",
    response_model=CampaignReportOut,
    responses=ERRORS,
    **scoped("operate"),
)
async def campaign_report(campaign_id: uuid.UUID, notify: Notify) -> CampaignReportOut:
    """Per group results and each variant's lift over the holdout, with intervals and p-values."""
    answer = await notify.campaigns.GetReport(_ref(campaign_id), deadline_seconds=LONG_DEADLINE_SECONDS)
    return CampaignReportOut.model_validate(json.loads(answer.report_json))
