"""Consent (profile service): per channel and purpose, with how and when, and its history.

- Channels: `sms`, `email`, `push`, `wechat`; purposes: `marketing`, `service`.
- `source` says how consent was given or withdrawn (`checkout_form`, `unsubscribe_link`; 1-64
  characters, `api` when absent); the time is when Patron recorded it.
- Setting the state a channel and purpose already has changes nothing: no history entry, no
  `consent.changed` event, `changed: false` (a different `source` alone is not a change).
- Every change is kept in the history, newest first. A channel and purpose never recorded shows
  `granted: null`; senders treat that as no consent.
- A customer that is unknown or another tenant's answers 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StrictBool

from gateway.auth import scoped
from gateway.dependencies import ERRORS, Profile
from gateway.limits import enum_of, one_of
from gateway.schemas import Cursor, Limit, Page, StrictBody
from patron.profile.v1 import tags_pb2
from services.profile.domain.consent import CHANNELS, MAX_SOURCE_LENGTH, PURPOSES
from services.runtime.proto_convert import from_timestamp, optional_bool, optional_time

router = APIRouter(prefix="/v1/customers", tags=["consent"])

Channel = Annotated[str, one_of(CHANNELS), enum_of(CHANNELS)]
Purpose = Annotated[str, one_of(PURPOSES), enum_of(PURPOSES)]


class ConsentIn(StrictBody):
    channel: Channel
    purpose: Purpose
    granted: StrictBool
    source: Annotated[
        str | None, Field(max_length=MAX_SOURCE_LENGTH, description='how (printable); absent or blank: "api"')
    ] = None


class ConsentOut(BaseModel):
    channel: Channel
    purpose: Purpose
    granted: bool | None = Field(description="null: never recorded (no consent)")
    source: str | None
    changed_at: datetime | None

    @classmethod
    def from_proto(cls, message: tags_pb2.ConsentState) -> ConsentOut:
        granted = optional_bool(message, "granted")
        return cls(
            channel=message.channel,
            purpose=message.purpose,
            granted=granted,
            source=message.source if granted is not None else None,
            changed_at=optional_time(message, "changed_at"),
        )


class ConsentSet(ConsentOut):
    changed: bool = Field(description="false: it was already so; no history entry, no event")


class ConsentChangeOut(BaseModel):
    channel: Channel
    purpose: Purpose
    granted: bool
    source: str
    changed_at: datetime

    @classmethod
    def from_proto(cls, message: tags_pb2.ConsentChange) -> ConsentChangeOut:
        return cls(
            channel=message.channel,
            purpose=message.purpose,
            granted=message.granted,
            source=message.source,
            changed_at=from_timestamp(message.changed_at),
        )


@router.put(
    "/{customer_id}/consents",
    response_model=ConsentSet,
    responses=ERRORS,
    **scoped("ingest", roles=("support",)),
)
async def set_consent(customer_id: str, body: ConsentIn, profile: Profile) -> ConsentSet:
    """Grant or withdraw consent for a channel and purpose.

    A change is recorded with its source (``api`` when absent) and time, kept in the history and
    announced as ``consent.changed``. Setting the state already held changes nothing: no history
    entry, no event, ``changed: false`` (a different source alone is not a change).
    """
    request = tags_pb2.SetConsentRequest(
        customer_id=customer_id,
        channel=body.channel,
        purpose=body.purpose,
        granted=body.granted,
        source=body.source or "",
    )
    response = await profile.consents.SetConsent(request)
    state = ConsentOut.from_proto(response.consent)
    return ConsentSet(**state.model_dump(), changed=response.changed)


@router.get("/{customer_id}/consents", response_model=Page[ConsentOut], responses=ERRORS, **scoped("read"))
async def list_consents(customer_id: str, profile: Profile) -> Page[ConsentOut]:
    """The current state of every channel and purpose (eight entries, in a fixed order; one page)."""
    request = tags_pb2.ListConsentsRequest(customer_id=customer_id)
    response = await profile.consents.ListConsents(request)
    return Page[ConsentOut].of([ConsentOut.from_proto(c) for c in response.consents], "")


@router.get(
    "/{customer_id}/consents/history",
    response_model=Page[ConsentChangeOut],
    responses=ERRORS,
    **scoped("read"),
)
async def consent_history(
    customer_id: str,
    profile: Profile,
    channel: Annotated[Channel | None, Query()] = None,
    purpose: Annotated[Purpose | None, Query()] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[ConsentChangeOut]:
    """Every change, newest first, optionally of one channel and/or purpose."""
    request = tags_pb2.ConsentHistoryRequest(
        customer_id=customer_id,
        channel=channel or "",
        purpose=purpose or "",
        limit=limit,
        cursor=cursor or "",
    )
    page = await profile.consents.ConsentHistory(request)
    return Page[ConsentChangeOut].of([ConsentChangeOut.from_proto(c) for c in page.changes], page.next_cursor)
