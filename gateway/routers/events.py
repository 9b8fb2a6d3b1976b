"""Behaviour events (profile service): record a batch, list a customer's.

The batch is checked in two steps so that one bad event never rejects the others: the call as a whole
(JSON, ``events`` a list of 1 to 1,000, the body within ``PATRON_GATEWAY_MAX_BODY_BYTES``) is checked
here and refused with 422/413; each event's shape is checked here too but only rejects that event;
the rules (type, time, properties, the customer) are the profile service's, also per event.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Self, cast

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, SkipValidation, TypeAdapter

from gateway.auth import scoped
from gateway.batches import BatchRecorded, ItemShape, Outcome
from gateway.dependencies import ERRORS, Gathered, Profile, Tenant
from gateway.limits import NOT_BLANK, documented, event_type_pattern
from gateway.schemas import Cursor, IdentityIn, JsonObject, Limit, Page, StrictBody
from patron.profile.v1 import behaviour_pb2
from services.profile.domain.behaviour_rules import (
    MAX_EVENT_ID_LENGTH,
    MAX_EVENTS_PER_CALL,
    MAX_PROPERTIES_KEYS,
)
from services.profile.domain.identities import MAX_IDENTITIES_PER_CALL
from services.runtime.proto_convert import from_timestamp

router = APIRouter(prefix="/v1", tags=["events"])

_OUTCOME_NAMES: dict[int, Outcome] = {
    behaviour_pb2.EVENT_OUTCOME_ACCEPTED: "accepted",
    behaviour_pb2.EVENT_OUTCOME_DUPLICATE: "duplicate",
    behaviour_pb2.EVENT_OUTCOME_REJECTED: "rejected",
}


class EventIn(StrictBody):
    event_id: str = Field(
        description="your id of the event; stored once per id",
        json_schema_extra={"minLength": 1, "maxLength": MAX_EVENT_ID_LENGTH, "pattern": NOT_BLANK},
    )
    type: str = Field(
        description="a known event type, or the merchant's own as custom.<name>",
        json_schema_extra={"pattern": event_type_pattern()},
    )
    occurred_at: str = Field(
        description="RFC 3339 with an offset; at most 5 minutes ahead, not before 2000",
        json_schema_extra={"format": "date-time"},
    )
    customer_id: str | None = Field(default=None, description="the customer, or give identities instead")
    identities: list[IdentityIn] | None = Field(
        default=None,
        max_length=MAX_IDENTITIES_PER_CALL,
        description="resolved like identify; an unknown customer is created",
    )
    properties: Annotated[JsonObject, documented(maxProperties=MAX_PROPERTIES_KEYS)] | None = Field(
        default=None, description="free-form, no personal data: at most 5 levels deep and 8 KiB as JSON"
    )

    def to_proto(self) -> behaviour_pb2.BehaviourEvent:
        message = behaviour_pb2.BehaviourEvent(
            event_id=self.event_id,
            type=self.type,
            occurred_at=self.occurred_at,
            customer_id=self.customer_id or "",
            identities=[i.to_proto() for i in self.identities or ()],
        )
        if self.properties is not None:
            message.properties_json = json.dumps(self.properties, ensure_ascii=False, separators=(",", ":"))
        return message


class EventsIn(StrictBody):
    # SkipValidation: the schema documents each event, but an event of the wrong shape must be
    # rejected alone (below), not fail the whole call.
    text_checked_elsewhere = frozenset({"events"})
    events: list[SkipValidation[EventIn]] = Field(min_length=1, max_length=MAX_EVENTS_PER_CALL)


EVENTS = ItemShape("events", EventIn, TypeAdapter(list[EventIn]), _OUTCOME_NAMES)


class EventOut(BaseModel):
    event_id: str
    type: str
    occurred_at: datetime
    received_at: datetime
    properties: dict[str, Any]

    @classmethod
    def from_proto(cls, message: behaviour_pb2.StoredEvent) -> EventOut:
        return cls(
            event_id=message.event_id,
            type=message.type,
            occurred_at=from_timestamp(message.occurred_at),
            received_at=from_timestamp(message.received_at),
            properties=json.loads(message.properties_json or "{}"),
        )


class EventPage(Page[EventOut]):
    customer_id: str = Field(description="the customer the events belong to (the survivor of a merge)")

    @classmethod
    def from_proto(cls, message: behaviour_pb2.ListCustomerEventsResponse) -> Self:
        return cls(
            customer_id=message.customer_id,
            items=[EventOut.from_proto(e) for e in message.items],
            next_cursor=message.next_cursor or None,
        )


@router.post("/events", response_model=BatchRecorded, responses=ERRORS, **scoped("ingest"))
async def record_events(body: EventsIn, tenant: Tenant, gathered: Gathered) -> BatchRecorded:
    """Store a batch of behaviour events, each once per ``event_id``; say what became of each.

    Answers 200 whenever the call itself is sound, also when some events are rejected: the good ones
    are stored, and ``rejected`` names each bad event's faults. Small calls of the tenant are sent
    to the profile service together when it is busy (gateway.gathered_calls).
    """
    raw = cast(list[object], body.events)
    batch = EVENTS.sort(raw)
    response = None
    if batch.sound:
        events = [event.to_proto() for _, event in batch.sound]
        response = await gathered.record_events(tenant.tenant_id, events)
    return EVENTS.answer(len(raw), batch, response)


@router.get("/customers/{customer_id}/events", response_model=EventPage, responses=ERRORS, **scoped("read"))
async def list_customer_events(
    customer_id: str,
    profile: Profile,
    event_type: Annotated[
        str | None,
        Query(alias="type", max_length=80, json_schema_extra={"pattern": event_type_pattern()}),
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> EventPage:
    """The customer's behaviour events, newest first, a page at a time (``next_cursor``)."""
    request = behaviour_pb2.ListCustomerEventsRequest(
        customer_id=customer_id, type=event_type or "", limit=limit, cursor=cursor or ""
    )
    return EventPage.from_proto(await profile.behaviour.ListCustomerEvents(request))
