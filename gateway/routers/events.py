"""Behaviour events (profile service): record a batch, list a customer's.

The batch is checked in two steps so that one bad event never rejects the others: the call as a whole
(JSON, ``events`` a list of 1 to 1,000, the body within ``PATRON_GATEWAY_MAX_BODY_BYTES``) is checked
here and refused with 422/413; each event's shape is checked here too but only rejects that event;
the rules (type, time, properties, the customer) are the profile service's, also per event.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, SkipValidation, TypeAdapter, ValidationError

from gateway.dependencies import ERRORS, Clients, Tenant
from gateway.problems import field_path
from gateway.schemas import IdentityIn, StrictBody
from patron.profile.v1 import behaviour_pb2, profile_pb2

router = APIRouter(prefix="/v1", tags=["events"])

MAX_EVENTS_PER_CALL = 1000
# A batch may name up to 1,000 unknown customers by identities, each created on the way: it gets
# more time than the configured deadline of ordinary calls.
RECORD_DEADLINE_SECONDS = 10.0


Outcome = Literal["accepted", "duplicate", "rejected"]

_OUTCOME_NAMES: dict[int, Outcome] = {
    behaviour_pb2.EVENT_OUTCOME_ACCEPTED: "accepted",
    behaviour_pb2.EVENT_OUTCOME_DUPLICATE: "duplicate",
    behaviour_pb2.EVENT_OUTCOME_REJECTED: "rejected",
}


class EventIn(StrictBody):
    event_id: str = Field(description="your id of the event, 1 to 128 characters; stored once per id")
    type: str = Field(
        description="view, search, favorite, add_to_cart, order_paid, order_refunded, review, share, "
        "sign_in, survey_response, message_opened, message_clicked, or custom.<name> ([a-z0-9_.]{1,64})"
    )
    occurred_at: str = Field(description="RFC 3339 with an offset; at most 5 minutes ahead, not before 2000")
    customer_id: str | None = Field(default=None, description="the customer, or give identities instead")
    identities: list[IdentityIn] | None = Field(
        default=None, max_length=20, description="resolved like identify; an unknown customer is created"
    )
    properties: dict[str, Any] | None = Field(
        default=None, description="free-form, no personal data: depth <= 5, <= 100 keys, <= 8 KiB as JSON"
    )


_EVENT_LIST = TypeAdapter(list[EventIn])


class EventsIn(StrictBody):
    # SkipValidation: the schema documents each event, but an event of the wrong shape must be
    # rejected alone (below), not fail the whole call.
    events: list[SkipValidation[EventIn]] = Field(min_length=1, max_length=MAX_EVENTS_PER_CALL)


class FieldError(BaseModel):
    field: str
    message: str


class RejectedEvent(BaseModel):
    index: int
    errors: list[FieldError]


class EventsRecorded(BaseModel):
    accepted: int = Field(description="events stored by this call")
    duplicates: int = Field(description="events whose event_id was already stored (or came earlier)")
    rejected: list[RejectedEvent]
    results: list[Outcome] = Field(description="what became of each event, in request order")


class EventOut(BaseModel):
    event_id: str
    type: str
    occurred_at: datetime
    received_at: datetime
    properties: dict[str, Any]


class EventList(BaseModel):
    customer_id: str = Field(description="the customer the events belong to (the survivor of a merge)")
    items: list[EventOut]
    next_cursor: str | None


def _shape_errors(index: int, error: ValidationError) -> list[FieldError]:
    messages = {"missing": "is required", "extra_forbidden": "is not a known field"}
    return [
        FieldError(
            field=field_path(("body", "events", index, *e["loc"])),
            message=messages.get(e["type"], e["msg"]),
        )
        for e in error.errors()
    ]


def _event_to_proto(event: EventIn) -> behaviour_pb2.BehaviourEvent:
    message = behaviour_pb2.BehaviourEvent(
        event_id=event.event_id,
        type=event.type,
        occurred_at=event.occurred_at,
        customer_id=event.customer_id or "",
        identities=[profile_pb2.Identity(type=i.type, value=i.value) for i in event.identities or ()],
    )
    if event.properties is not None:
        message.properties_json = json.dumps(event.properties, ensure_ascii=False, separators=(",", ":"))
    return message


def _renumber(field: str, sent_index: int, index: int) -> str:
    """A service field path about the ``sent_index``-th event sent, as the client numbered it."""
    sent = f"events[{sent_index}]"
    return f"events[{index}]{field[len(sent) :]}" if field.startswith(sent) else field


@router.post("/events", response_model=EventsRecorded, responses=ERRORS)
async def record_events(body: EventsIn, tenant: Tenant, clients: Clients) -> EventsRecorded:
    """Store a batch of behaviour events, each once per ``event_id``; say what became of each.

    Answers 200 whenever the call itself is sound, also when some events are rejected: the good ones
    are stored, and ``rejected`` names each bad event's faults.
    """
    results: list[Outcome] = ["rejected"] * len(body.events)
    rejected: dict[int, list[FieldError]] = {}
    sent: list[behaviour_pb2.BehaviourEvent] = []
    positions: list[int] = []
    raw_events = cast(list[object], body.events)
    try:  # one pass over the whole list when every event is well formed (the usual case) ...
        sound: list[tuple[int, EventIn]] = list(enumerate(_EVENT_LIST.validate_python(raw_events)))
    except ValidationError:  # ... else event by event, so that each bad one is rejected alone
        sound = []
        for index, raw in enumerate(raw_events):
            try:
                sound.append((index, EventIn.model_validate(raw)))
            except ValidationError as error:
                rejected[index] = _shape_errors(index, error)
    for index, event in sound:
        sent.append(_event_to_proto(event))
        positions.append(index)
    accepted = duplicates = 0
    if sent:
        response = await clients.call(
            "profile",
            clients.behaviour.RecordEvents,
            behaviour_pb2.RecordEventsRequest(events=sent),
            tenant_id=tenant.tenant_id,
            deadline_seconds=RECORD_DEADLINE_SECONDS,
        )
        accepted, duplicates = response.accepted, response.duplicates
        for sent_index, outcome in enumerate(response.outcomes):
            results[positions[sent_index]] = _OUTCOME_NAMES[outcome]
        for item in response.rejected:
            index = positions[item.index]
            rejected[index] = [
                FieldError(field=_renumber(e.field, item.index, index), message=e.message)
                for e in item.errors
            ]
    return EventsRecorded(
        accepted=accepted,
        duplicates=duplicates,
        rejected=[RejectedEvent(index=i, errors=rejected[i]) for i in sorted(rejected)],
        results=results,
    )


@router.get("/customers/{customer_id}/events", response_model=EventList, responses=ERRORS)
async def list_customer_events(
    customer_id: str,
    tenant: Tenant,
    clients: Clients,
    event_type: Annotated[str | None, Query(alias="type", max_length=80)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> EventList:
    """The customer's behaviour events, newest first, a page at a time (``next_cursor``)."""
    response = await clients.call(
        "profile",
        clients.behaviour.ListCustomerEvents,
        behaviour_pb2.ListCustomerEventsRequest(
            customer_id=customer_id, type=event_type or "", limit=limit, cursor=cursor or ""
        ),
        tenant_id=tenant.tenant_id,
    )
    return EventList(
        customer_id=response.customer_id,
        items=[
            EventOut(
                event_id=e.event_id,
                type=e.type,
                occurred_at=e.occurred_at.ToDatetime(tzinfo=UTC),
                received_at=e.received_at.ToDatetime(tzinfo=UTC),
                properties=json.loads(e.properties_json or "{}"),
            )
            for e in response.items
        ],
        next_cursor=response.next_cursor or None,
    )
