"""Request and response bodies of the REST API (docs/product.md), validated by pydantic.

These check shape and type so that a client learns at once which field is wrong; the services apply
the rules (a phone number's validity, a birthday in the past) and report violations the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

from fastapi import Header, Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
)

from gateway.limits import (
    CURRENCY_PATTERN,
    CURSOR_PATTERN,
    NOT_BLANK,
    REGION_PATTERN,
    documented,
    enum_of,
    one_of,
)
from gateway.validation import (
    DATE_MESSAGE,
    DATETIME_MESSAGE,
    TEXT_RULE,
    check_json,
    check_text,
    check_unicode,
    date_text,
    datetime_text,
)
from patron.profile.v1 import profile_pb2
from services.profile.domain.customers import DEVICES, GENDERS, MAX_CUSTOM_KEYS, MAX_TEXT_LENGTH
from services.profile.domain.identities import IDENTITY_TYPES, MAX_IDENTITIES_PER_CALL, MAX_IDENTITY_LENGTH
from services.runtime.paging import MAX_PAGE_SIZE
from services.runtime.proto_convert import (
    from_timestamp,
    optional_date,
    optional_time,
    text_or_none,
)

Gender = Annotated[str, one_of(GENDERS), enum_of(GENDERS)]
Device = Annotated[str, one_of(DEVICES), enum_of(DEVICES)]
# An attribute's text: 1-100 characters, not blank (the profile service trims it).
AttributeText = Annotated[str, Field(max_length=MAX_TEXT_LENGTH), documented(pattern=NOT_BLANK)]


class StrictBody(BaseModel):
    """A request body: unknown fields are refused, and every string in it (nested free JSON too)
    passes the one text rule of :mod:`gateway.validation`, whatever type its field declares."""

    model_config = ConfigDict(extra="forbid")

    # Fields checked elsewhere: a batch's items (each judged alone, gateway.batches), and text whose
    # service refuses every control character (NUL among them) and reports all of the request's faults
    # together — only what protobuf cannot carry is refused here, so that a NUL beside another fault
    # is reported with it in one answer (docs/api-conventions.md).
    text_checked_elsewhere: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name in cls.text_checked_elsewhere:
            return check_unicode(value)
        return check_json(value)


Item = TypeVar("Item")

# Query parameters of every list; each route keeps its own default page size.
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"page size (1-{MAX_PAGE_SIZE})")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=1024,
        description="next_cursor of the previous page (opaque: any other value is 422)",
        json_schema_extra={"pattern": CURSOR_PATTERN},
    ),
]

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255, description="a retry answers what the first call did"),
]


def _whole_number(value: object) -> object:
    """JSON Schema's ``integer`` admits ``72.0``: a number without a fraction is that integer (a
    fraction, a string or a boolean is still refused)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Bounds of the protobuf integers: anything outside is refused here; the services apply the rules.
Int64 = Annotated[StrictInt, BeforeValidator(_whole_number), Field(ge=-(2**63), le=2**63 - 1)]
Int32 = Annotated[StrictInt, BeforeValidator(_whole_number), Field(ge=-(2**31), le=2**31 - 1)]


Text = Annotated[str, AfterValidator(check_text), Field(description=TEXT_RULE)]
"""A string PostgreSQL and protobuf can carry (gateway.validation); lengths and content are the
services' rules unless a field says more."""

JsonObject = Annotated[dict[str, Any], AfterValidator(check_json)]
"""Free JSON (``custom``, event ``properties``, documents): every key and string in it is text."""


IsoDate = Annotated[date, BeforeValidator(date_text), Field(description=DATE_MESSAGE)]
"""A calendar date written ``YYYY-MM-DD``; a number is refused with our own message."""


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


UtcDatetime = Annotated[
    AwareDatetime,
    BeforeValidator(datetime_text),
    AfterValidator(_in_utc),
    Field(description=DATETIME_MESSAGE),
]
"""An aware time from a client written in RFC 3339, converted to UTC (a 422 naming the field when it
is a number or has no UTC equivalent)."""


class TenantCreate(StrictBody):
    name: str = Field(min_length=1, max_length=200, json_schema_extra={"pattern": NOT_BLANK})
    timezone: str = Field(
        default="Asia/Shanghai", min_length=1, max_length=64, description="an IANA time zone the server knows"
    )
    currency: str = Field(
        default="CNY",
        min_length=3,
        max_length=3,
        description="an ISO 4217 code that is money (not XXX, XAU...)",
        json_schema_extra={"pattern": CURRENCY_PATTERN},
    )
    default_region: str = Field(
        default="CN",
        min_length=2,
        max_length=2,
        description="an ISO 3166-1 region, for phone numbers without +",
        json_schema_extra={"pattern": REGION_PATTERN},
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
    """An identity as the client wrote it: the profile service checks type and value together, so a
    call with an unknown type beside a malformed phone is told both."""

    type: Annotated[Text, documented(enum=list(IDENTITY_TYPES))]
    value: Annotated[Text, documented(minLength=1, maxLength=MAX_IDENTITY_LENGTH, pattern=NOT_BLANK)] = Field(
        description="a phone must parse (numbers without + are read in the tenant's region), an "
        "e-mail must be well formed"
    )
    verified: StrictBool = Field(
        default=False,
        description="the person proved they control it (a code sent to the phone, a link opened from "
        "the mailbox, a signed-in session). Only a verified identity, or one of the tenant's auto-merge "
        "types (GET /v1/identity-resolution), merges two existing customers; other links leave them "
        "apart with a merge suggestion. A later true upgrades the stored identity; false never downgrades.",
    )

    def to_proto(self) -> profile_pb2.Identity:
        return profile_pb2.Identity(type=self.type, value=self.value, verified=self.verified)


class Attributes(StrictBody):
    nickname: AttributeText | None = None
    gender: Gender | None = None
    birthday: IsoDate | None = Field(default=None, description="from 1900-01-01 to today")
    province: AttributeText | None = None
    city: AttributeText | None = None
    registered_at: UtcDatetime | None = Field(default=None, description="not in the future")
    registration_channel: AttributeText | None = None
    device: Device | None = None
    custom: Annotated[JsonObject, documented(maxProperties=MAX_CUSTOM_KEYS)] | None = Field(
        default=None, description="free JSON: at most 5 levels deep and 16 KiB"
    )
    timezone: str | None = Field(
        default=None, max_length=64, description="IANA time zone name, e.g. Asia/Shanghai"
    )

    @classmethod
    def from_proto(cls, message: profile_pb2.CustomerAttributes) -> Attributes:
        """The attributes a customer has; unset ones are left out (not null) of the answer."""
        values: dict[str, Any] = {}
        for name in ("nickname", "gender", "province", "city", "registration_channel", "device", "timezone"):
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
    identities: list[IdentityIn] = Field(min_length=1, max_length=MAX_IDENTITIES_PER_CALL)
    attributes: Attributes | None = None


class IdentifyResponse(BaseModel):
    customer_id: str
    created: bool
    merged_customer_ids: list[str]
    unmerged_customer_ids: list[str] = Field(
        default_factory=list,
        description="customers the identities also point at, kept apart because the identity linking "
        "each was neither verified nor of an auto-merge type: a merge suggestion records the pair "
        "(GET /v1/merge-suggestions) unless an operator dismissed it. Ask the person to verify to merge.",
    )

    @classmethod
    def from_proto(cls, message: profile_pb2.IdentifyResponse) -> IdentifyResponse:
        return cls(
            customer_id=message.customer_id,
            created=message.created,
            merged_customer_ids=list(message.merged_customer_ids),
            unmerged_customer_ids=list(message.unmerged_customer_ids),
        )


class CustomerPatch(StrictBody):
    attributes: Attributes


class MergeRequest(StrictBody):
    other_customer_id: str = Field(
        min_length=1, max_length=64, description="a customer of this tenant (an unknown id is 422)"
    )


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
    verified: bool = Field(default=False, description="a call said the person proved it (never unset)")


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
            identities=[
                IdentityOut(type=i.type, value=i.value, verified=i.verified) for i in message.identities
            ],
            created_at=from_timestamp(message.created_at),
            updated_at=from_timestamp(message.updated_at),
            merged_into=text_or_none(message.merged_into),
        )


class FieldError(BaseModel):
    field: str = Field(description="the field at fault as the client wrote it: items[2].quantity")
    message: str


class Problem(BaseModel):
    """The error body (application/problem+json, RFC 9457).

    Every 422 has ``errors`` (each field at fault) and ``reason``; other problems may carry a
    ``reason`` and metadata members named by it (``remaining_minor``, ``balance``, ``run_id``…),
    numbers as JSON numbers.
    """

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    reason: str | None = Field(default=None, description="a stable machine-readable code")
    errors: list[FieldError] | None = Field(default=None, description="always present on a 422")
