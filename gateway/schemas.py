"""Request and response bodies of the REST API (API.md), validated by pydantic.

These check shape and type so that a client learns at once which field is wrong; the services apply
the rules (a phone number's validity, a birthday in the past) and report violations the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from fastapi import Header, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from patron.profile.v1 import profile_pb2
from services.runtime.paging import MAX_PAGE_SIZE
from services.runtime.proto_convert import (
    from_timestamp,
    optional_date,
    optional_time,
    text_or_none,
)

IdentityType = Literal[
    "phone", "email", "wechat_openid", "wechat_unionid", "app_user_id", "platform_nick", "external_id"
]
Gender = Literal["female", "male", "other", "unknown"]
Device = Literal["app", "mini_program", "web"]


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


Item = TypeVar("Item")

# Query parameters of every list; each route keeps its own default page size.
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"page size (1-{MAX_PAGE_SIZE})")]
Cursor = Annotated[str | None, Query(max_length=1024, description="next_cursor of the previous page")]

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255, description="a retry answers what the first call did"),
]

# Bounds of the protobuf integers: anything outside is refused here; the services apply the rules.
Int64 = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
Int32 = Annotated[StrictInt, Field(ge=-(2**31), le=2**31 - 1)]


def _encodable(value: str) -> str:
    """JSON may carry lone surrogates ("\\ud800"), which no protobuf string can: refuse them here."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


Text = Annotated[str, AfterValidator(_encodable)]
"""A string a protobuf can carry (no lone surrogates); lengths and content are the services' rules."""


class Page(BaseModel, Generic[Item]):
    """One page of a list: its items and where the next page starts."""

    items: list[Item]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")

    @classmethod
    def of(cls, items: Sequence[Item], next_cursor: str) -> Self:
        """A page as the services answer it, where an empty cursor marks the last page."""
        return cls(items=list(items), next_cursor=next_cursor or None)


def _in_utc(value: datetime) -> datetime:
    """In UTC, as it travels on; a time that has no UTC equivalent (year 0) is refused here."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be a time between the years 1 and 9999 in UTC") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""An aware time from a client, converted to UTC (a 422 naming the field when it has no UTC equivalent)."""


class TenantCreate(StrictBody):
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default="Asia/Shanghai", min_length=1, max_length=64, description="IANA time zone")
    currency: str = Field(default="CNY", min_length=3, max_length=3, description="ISO 4217 code")
    default_region: str = Field(
        default="CN", min_length=2, max_length=2, description="ISO 3166-1 region for phone numbers without +"
    )


class TenantCreated(BaseModel):
    tenant_id: str
    api_key: str = Field(description="shown once; only its SHA-256 is stored")
    name: str
    timezone: str
    currency: str
    default_region: str
    created_at: datetime


class IdentityIn(StrictBody):
    type: IdentityType
    value: Text = Field(min_length=1, max_length=256)


class Attributes(StrictBody):
    nickname: str | None = Field(default=None, max_length=100)
    gender: Gender | None = None
    birthday: date | None = None
    province: str | None = Field(default=None, max_length=100)
    city: str | None = Field(default=None, max_length=100)
    registered_at: AwareDatetime | None = None
    registration_channel: str | None = Field(default=None, max_length=100)
    device: Device | None = None
    custom: dict[str, Any] | None = None

    @classmethod
    def from_proto(cls, message: profile_pb2.CustomerAttributes) -> Attributes:
        """The attributes a customer has; unset ones are left out (not null) of the answer."""
        values: dict[str, Any] = {}
        for name in ("nickname", "gender", "province", "city", "registration_channel", "device"):
            if message.HasField(name):
                values[name] = getattr(message, name)
        if message.HasField("birthday"):
            values["birthday"] = optional_date(message, "birthday")
        if message.HasField("registered_at"):
            values["registered_at"] = optional_time(message, "registered_at")
        if message.HasField("custom_json"):
            values["custom"] = json.loads(message.custom_json)
        return cls.model_construct(**values)


class IdentifyRequest(StrictBody):
    identities: list[IdentityIn] = Field(min_length=1, max_length=20)
    attributes: Attributes | None = None


class IdentifyResponse(BaseModel):
    customer_id: str
    created: bool
    merged_customer_ids: list[str]

    @classmethod
    def from_proto(cls, message: profile_pb2.IdentifyResponse) -> IdentifyResponse:
        return cls(
            customer_id=message.customer_id,
            created=message.created,
            merged_customer_ids=list(message.merged_customer_ids),
        )


class CustomerPatch(StrictBody):
    attributes: Attributes


class MergeRequest(StrictBody):
    other_customer_id: str = Field(min_length=1, max_length=64)


class MergeResponse(BaseModel):
    customer_id: str
    merged_customer_ids: list[str]


class TimelineItem(BaseModel):
    at: datetime
    kind: str
    ref: str
    detail: dict[str, Any]

    @classmethod
    def from_proto(cls, message: profile_pb2.TimelineEntry) -> TimelineItem:
        return cls(
            at=from_timestamp(message.at),
            kind=message.kind,
            ref=message.ref,
            detail=json.loads(message.detail_json),
        )


class ErasureResponse(BaseModel):
    customer_id: str
    erased_at: datetime


class IdentityOut(BaseModel):
    type: str
    value: str = Field(description="masked")


class CustomerOut(BaseModel):
    customer_id: str
    attributes: Attributes
    identities: list[IdentityOut]
    created_at: datetime
    updated_at: datetime
    merged_into: str | None = Field(
        default=None, description="set when the requested id was merged into this customer"
    )

    @classmethod
    def from_proto(cls, message: profile_pb2.Customer) -> CustomerOut:
        return cls(
            customer_id=message.customer_id,
            attributes=Attributes.from_proto(message.attributes),
            identities=[IdentityOut(type=i.type, value=i.value) for i in message.identities],
            created_at=from_timestamp(message.created_at),
            updated_at=from_timestamp(message.updated_at),
            merged_into=text_or_none(message.merged_into),
        )


class Problem(BaseModel):
    """The error body (application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None
