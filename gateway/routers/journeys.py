"""Journeys (notify service): trigger → wait → check → act, defined as data (docs/journeys.md).

- `POST /v1/journeys` `{"name", "trigger", "steps", "goal"?, "reentry"?}` → 201 the journey in
  `draft` at version 1; or `{"from_template": "<classic>", "name"?, "parameters"?, "templates"?,
  "coupon_templates"?, "goal"?, "reentry"?}` builds one of `GET /v1/journey-templates`, creating the
  notify templates and loyalty coupon templates the overrides did not name.
- Every id must be the tenant's own (templates, coupon templates, tags, segments) and every `if`
  condition valid in the segment language: a 422 names each fault by its path, all at once
  (`steps[1].then[0].send.template_id`, `steps[1].if.all[0].op`).
- `PUT /v1/journeys/{journey_id}` saves the next version (immutable; instances finish on the version
  they started on, new entries take the new one); an archived journey answers 409.
- `POST /v1/journeys/{journey_id}/activate` (from draft or paused) | `/pause` (from active) |
  `/archive` (from draft, active or paused; final, and it stops the instances in flight); any other
  move is 409 naming the current `status`.
- `GET /v1/journeys` pages the journeys newest first (limit 1-100); `GET /v1/journeys/{journey_id}`.
- `GET /v1/journeys/{journey_id}/stats`: totals of the instances and, per step in document order
  (every step, zeros included), entered, completed, waiting, outcomes, sent, suppressed by reason,
  converted.
- `GET /v1/customers/{customer_id}/journeys`: the customer's journeys, newest entry first (a
  merged-away id answers for its survivor).
- Limits: a document of at most 256 KiB of JSON, 50 steps, branches 5 deep; pages of 1-100.
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
from gateway.limits import documented
from gateway.schemas import Cursor, JsonObject, Page, StrictBody
from patron.notify.v1 import journeys_pb2
from services.notify.domain.journey_definitions import MAX_NAME, MAX_STEPS
from services.notify.domain.journeys import DEFAULT_PAGE, MAX_PAGE
from services.runtime.proto_convert import from_timestamp, optional_time, text_or_none

router = APIRouter(tags=["journeys"])

SAVE_DEADLINE_SECONDS = 10.0
"""A save asks profile, scoring and loyalty about every id and condition (concurrently), and a
classic may create templates first: more than an ordinary call's time."""

JourneyLimit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"page size (1-{MAX_PAGE})")]
Name = Annotated[str, documented(minLength=1, maxLength=MAX_NAME)]
Duration = Annotated[str, documented(maxLength=20)]
STEPS_DESCRIPTION = (
    'wait {"wait": "PT24H"}, {"if": condition, "then": [...], "else"?: [...]}, {"send": {"template_id"}}, '
    '{"issue_coupon": {"template_id"}}, {"tag": {"tag_id"}}, {"exit": true}'
)
EXAMPLE_STEPS = [
    {"wait": "PT24H"},
    {"if": {"since_trigger": {"order": True}}, "then": [{"exit": True}]},
]


class JourneyDocumentIn(StrictBody):
    """A journey's definition (notify checks it whole and names every fault by its path)."""

    name: Name | None = None
    trigger: JsonObject | None = Field(
        default=None, description="one of event, order, refund, segment_entered, tier, date"
    )
    steps: list[JsonObject] | None = Field(
        default=None, max_length=MAX_STEPS, description=STEPS_DESCRIPTION, examples=[EXAMPLE_STEPS]
    )
    goal: JsonObject | None = Field(
        default=None, description='{"order": "paid"} ends an instance that converts'
    )
    reentry: Duration | None = Field(
        default=None, description='"never" (default) or a duration, PT1H to P3650D'
    )

    def document(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class JourneyCreateIn(JourneyDocumentIn):
    """A definition, or ``from_template`` with overrides of one of the classics."""

    from_template: str | None = Field(
        default=None, max_length=64, description="a GET /v1/journey-templates name"
    )
    parameters: JsonObject | None = Field(default=None, description="the classic's parameters")
    templates: dict[str, str] | None = Field(
        default=None, description="message slot → an existing notify template id"
    )
    coupon_templates: dict[str, str] | None = Field(
        default=None, description="coupon slot → an existing loyalty coupon template id"
    )


class JourneyOut(BaseModel):
    journey_id: uuid.UUID
    name: str
    status: str = Field(description="draft, active, paused, archived")
    version: int = Field(description="the version new entries start on")
    from_template: str | None
    trigger: dict[str, Any]
    steps: list[dict[str, Any]]
    goal: dict[str, Any] | None
    reentry: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_proto(cls, message: journeys_pb2.Journey) -> JourneyOut:
        document = json.loads(message.document_json)
        return cls(
            journey_id=uuid.UUID(message.journey_id),
            name=message.name,
            status=message.status,
            version=message.version,
            from_template=text_or_none(message.from_template),
            trigger=document["trigger"],
            steps=document["steps"],
            goal=document.get("goal"),
            reentry=document.get("reentry", "never"),
            created_at=from_timestamp(message.created_at),
            updated_at=from_timestamp(message.updated_at),
        )


class StepStatsOut(BaseModel):
    path: str
    kind: str
    entered: int = Field(description="instances that ran the step")
    completed: int = Field(description="of them, with an outcome other than failed")
    waiting: int = Field(description="active instances whose next step this is, not yet due")
    outcomes: dict[str, int] = Field(description="by outcome: waited, then, else, queued, issued, tagged ...")
    sent: int = Field(description="its messages that were sent (or delivered, opened, clicked)")
    suppressed: dict[str, int] = Field(description="suppressed sends by reason: capped, no_consent ...")
    converted: int = Field(description="converted instances that ran the step")


class JourneyStatsOut(BaseModel):
    journey_id: uuid.UUID
    entered: int
    active: int
    waiting: int = Field(description="active and due later")
    completed: int
    exited: int
    converted: int
    stopped: int
    failed: int
    revenue_minor: int = Field(description="orders of the converted instances, in the tenant's currency")
    steps: list[StepStatsOut]

    @classmethod
    def from_proto(cls, message: journeys_pb2.JourneyStats) -> JourneyStatsOut:
        return cls(
            journey_id=uuid.UUID(message.journey_id),
            entered=message.entered,
            active=message.active,
            waiting=message.waiting,
            completed=message.completed,
            exited=message.exited,
            converted=message.converted,
            stopped=message.stopped,
            failed=message.failed,
            revenue_minor=message.revenue_minor,
            steps=[
                StepStatsOut(
                    path=step.path,
                    kind=step.kind,
                    entered=step.entered,
                    completed=step.completed,
                    waiting=step.waiting,
                    outcomes=dict(step.outcomes),
                    sent=step.sent,
                    suppressed=dict(step.suppressed),
                    converted=step.converted,
                )
                for step in message.steps
            ],
        )


class CustomerJourneyOut(BaseModel):
    instance_id: uuid.UUID
    journey_id: uuid.UUID
    name: str
    version: int
    status: str = Field(description="active, completed, exited, converted, stopped, failed")
    cursor: str | None = Field(description="the path of the next step; null once ended")
    due_at: datetime | None
    entered_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    converted_order_id: str | None

    @classmethod
    def from_proto(cls, message: journeys_pb2.CustomerJourney) -> CustomerJourneyOut:
        return cls(
            instance_id=uuid.UUID(message.instance_id),
            journey_id=uuid.UUID(message.journey_id),
            name=message.name,
            version=message.version,
            status=message.status,
            cursor=text_or_none(message.cursor),
            due_at=optional_time(message, "due_at"),
            entered_at=from_timestamp(message.entered_at),
            ended_at=optional_time(message, "ended_at"),
            end_reason=text_or_none(message.end_reason),
            converted_order_id=text_or_none(message.converted_order_id),
        )


class JourneyTemplateOut(BaseModel):
    """A classic: its name for ``from_template``, what it does, its parameters and content slots."""

    model_config = ConfigDict(extra="allow")

    name: str


class JourneyTemplatesOut(BaseModel):
    items: list[JourneyTemplateOut]


def _create_request(body: JourneyDocumentIn) -> str:
    return json.dumps(body.document(), ensure_ascii=False)


@router.post(
    "/v1/journeys", status_code=201, response_model=JourneyOut, responses=ERRORS, **scoped("operate")
)
async def create_journey(body: JourneyCreateIn, notify: Notify) -> JourneyOut:
    """A new journey in draft, from a definition or from a classic."""
    request = journeys_pb2.CreateJourneyRequest(document_json=_create_request(body))
    answer = await notify.journeys.CreateJourney(request, deadline_seconds=SAVE_DEADLINE_SECONDS)
    return JourneyOut.from_proto(answer)


@router.get("/v1/journeys", response_model=Page[JourneyOut], responses=ERRORS, **scoped("operate"))
async def list_journeys(
    notify: Notify, limit: JourneyLimit = DEFAULT_PAGE, cursor: Cursor = None
) -> Page[JourneyOut]:
    """The tenant's journeys, newest first."""
    request = journeys_pb2.ListJourneysRequest(page_size=limit, page_token=cursor or "")
    page = await notify.journeys.ListJourneys(request)
    return Page[JourneyOut].of([JourneyOut.from_proto(j) for j in page.journeys], page.next_page_token)


@router.get("/v1/journeys/{journey_id}", response_model=JourneyOut, responses=ERRORS, **scoped("operate"))
async def get_journey(journey_id: uuid.UUID, notify: Notify) -> JourneyOut:
    """One journey at its current version."""
    answer = await notify.journeys.GetJourney(journeys_pb2.JourneyRef(journey_id=str(journey_id)))
    return JourneyOut.from_proto(answer)


@router.put("/v1/journeys/{journey_id}", response_model=JourneyOut, responses=ERRORS, **scoped("operate"))
async def update_journey(journey_id: uuid.UUID, body: JourneyDocumentIn, notify: Notify) -> JourneyOut:
    """The next version of the journey (409 once archived)."""
    request = journeys_pb2.UpdateJourneyRequest(
        journey_id=str(journey_id), document_json=_create_request(body)
    )
    answer = await notify.journeys.UpdateJourney(request, deadline_seconds=SAVE_DEADLINE_SECONDS)
    return JourneyOut.from_proto(answer)


@router.post(
    "/v1/journeys/{journey_id}/activate", response_model=JourneyOut, responses=ERRORS, **scoped("operate")
)
async def activate_journey(journey_id: uuid.UUID, notify: Notify) -> JourneyOut:
    """Start (or resume) entering customers: from draft or paused."""
    answer = await notify.journeys.ActivateJourney(journeys_pb2.JourneyRef(journey_id=str(journey_id)))
    return JourneyOut.from_proto(answer)


@router.post(
    "/v1/journeys/{journey_id}/pause", response_model=JourneyOut, responses=ERRORS, **scoped("operate")
)
async def pause_journey(journey_id: uuid.UUID, notify: Notify) -> JourneyOut:
    """Stop entering customers and hold the instances inside: from active."""
    answer = await notify.journeys.PauseJourney(journeys_pb2.JourneyRef(journey_id=str(journey_id)))
    return JourneyOut.from_proto(answer)


@router.post(
    "/v1/journeys/{journey_id}/archive", response_model=JourneyOut, responses=ERRORS, **scoped("operate")
)
async def archive_journey(journey_id: uuid.UUID, notify: Notify) -> JourneyOut:
    """End the journey for good; its instances in flight stop (end_reason archived)."""
    answer = await notify.journeys.ArchiveJourney(journeys_pb2.JourneyRef(journey_id=str(journey_id)))
    return JourneyOut.from_proto(answer)


@router.get(
    "/v1/journeys/{journey_id}/stats", response_model=JourneyStatsOut, responses=ERRORS, **scoped("operate")
)
async def journey_stats(journey_id: uuid.UUID, notify: Notify) -> JourneyStatsOut:
    """The journey's instances in totals and per step, every step of the current version listed."""
    answer = await notify.journeys.GetJourneyStats(journeys_pb2.JourneyRef(journey_id=str(journey_id)))
    return JourneyStatsOut.from_proto(answer)


@router.get(
    "/v1/customers/{customer_id}/journeys",
    response_model=Page[CustomerJourneyOut],
    responses=ERRORS,
    **scoped("read"),
)
async def customer_journeys(
    customer_id: uuid.UUID, notify: Notify, limit: JourneyLimit = DEFAULT_PAGE, cursor: Cursor = None
) -> Page[CustomerJourneyOut]:
    """The customer's journeys, newest entry first, with where each one stands."""
    request = journeys_pb2.CustomerJourneysRequest(
        customer_id=str(customer_id), page_size=limit, page_token=cursor or ""
    )
    page = await notify.journeys.ListCustomerJourneys(request)
    items = [CustomerJourneyOut.from_proto(item) for item in page.journeys]
    return Page[CustomerJourneyOut].of(items, page.next_page_token)


@router.get(
    "/v1/journey-templates", response_model=JourneyTemplatesOut, responses=ERRORS, **scoped("operate")
)
async def journey_templates(notify: Notify) -> JourneyTemplatesOut:
    """The classics, each ready for ``POST /v1/journeys {"from_template": name, ...}``."""
    answer = await notify.journeys.ListJourneyTemplates(journeys_pb2.ListJourneyTemplatesRequest())
    items = [JourneyTemplateOut.model_validate(json.loads(text)) for text in answer.template_json]
    return JourneyTemplatesOut(items=items)
