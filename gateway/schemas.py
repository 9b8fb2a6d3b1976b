"""Request and response bodies of the REST API (API.md), validated by pydantic.

These check shape and type so that a client learns at once which field is wrong; the services apply
the rules (a phone number's validity, a birthday in the past) and report violations the same way.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import Query
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

IdentityType = Literal[
    "phone", "email", "wechat_openid", "wechat_unionid", "app_user_id", "platform_nick", "external_id"
]
Gender = Literal["female", "male", "other", "unknown"]
Device = Literal["app", "mini_program", "web"]


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


Limit = Annotated[int, Query(ge=1, le=500, description="page size (1-500)")]
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")]


def _in_utc(value: datetime) -> datetime:
    """In UTC, as it travels on; a time that has no UTC equivalent (year 0) is refused here."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be a time between the years 1 and 9999 in UTC") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""An aware time from a client, converted to UTC (a 422 naming the field when it has no UTC equivalent)."""


def to_datetime(stamp: Timestamp) -> datetime:
    """A protobuf timestamp as an aware UTC datetime."""
    return stamp.ToDatetime(tzinfo=UTC)


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
    value: str = Field(min_length=1, max_length=256)


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


class IdentifyRequest(StrictBody):
    identities: list[IdentityIn] = Field(min_length=1, max_length=20)
    attributes: Attributes | None = None


class IdentifyResponse(BaseModel):
    customer_id: str
    created: bool
    merged_customer_ids: list[str]


class CustomerPatch(StrictBody):
    attributes: Attributes


class MergeRequest(StrictBody):
    other_customer_id: str = Field(min_length=1, max_length=64)


class MergeResponse(BaseModel):
    customer_id: str
    merged_customer_ids: list[str]


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


class TimelineItem(BaseModel):
    at: datetime
    kind: str
    ref: str
    detail: dict[str, Any]


class TimelinePage(BaseModel):
    items: list[TimelineItem]
    next_cursor: str | None


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


class Problem(BaseModel):
    """The error body (application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None
