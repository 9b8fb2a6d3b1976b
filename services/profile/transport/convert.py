"""Conversions between profile protos and domain values. Parse faults name the REST field path.

What every service converts alike (times, optional fields) comes from ``services.runtime.proto_convert``;
what is here is the profile's own: tenants, identities, customers and their attributes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date

from patron.common.v1 import tenancy_pb2
from patron.profile.v1 import profile_pb2
from services.profile.domain.customers import Customer, CustomerAttributes, IdentifyResult
from services.profile.domain.identify_many import IdentifyOutcome, Unsettled
from services.profile.domain.identities import IdentityInput
from services.profile.domain.timeline import TimelineEntry
from services.runtime.errors import ViolationCollector
from services.runtime.proto_convert import optional_text, optional_time, set_optional, set_time, to_timestamp
from services.runtime.tenancy import Tenant


def tenant_to_proto(tenant: Tenant) -> tenancy_pb2.TenantSpec:
    return tenancy_pb2.TenantSpec(
        tenant_id=str(tenant.tenant_id),
        name=tenant.name,
        timezone=tenant.timezone,
        currency=tenant.currency,
        default_region=tenant.default_region,
    )


def identities_from_proto(items: Iterable[profile_pb2.Identity]) -> list[IdentityInput]:
    """The identities a request names, as the domain's unchecked inputs."""
    return [IdentityInput(type=i.type, value=i.value, verified=i.verified) for i in items]


def attributes_from_proto(message: profile_pb2.CustomerAttributes) -> CustomerAttributes:
    """Domain attributes from proto; malformed dates or JSON raise InvalidArgument."""
    errors = ViolationCollector()
    birthday = None
    if message.HasField("birthday"):
        try:
            birthday = date.fromisoformat(message.birthday)
        except ValueError:
            errors.add("attributes.birthday", "must be a date as YYYY-MM-DD")
    custom = None
    if message.HasField("custom_json"):
        try:
            custom = json.loads(message.custom_json)
        except ValueError:
            errors.add("attributes.custom", "must be a JSON object")
        else:
            if not isinstance(custom, dict):
                errors.add("attributes.custom", "must be a JSON object")
    errors.raise_if_any()

    return CustomerAttributes(
        nickname=optional_text(message, "nickname"),
        gender=optional_text(message, "gender"),
        birthday=birthday,
        province=optional_text(message, "province"),
        city=optional_text(message, "city"),
        registered_at=optional_time(message, "registered_at", "attributes.registered_at"),
        registration_channel=optional_text(message, "registration_channel"),
        device=optional_text(message, "device"),
        custom=custom,
        timezone=optional_text(message, "timezone"),
    )


def identify_result_to_proto(result: IdentifyResult) -> profile_pb2.IdentifyResponse:
    return profile_pb2.IdentifyResponse(
        customer_id=str(result.customer_id),
        created=result.created,
        merged_customer_ids=[str(c) for c in result.merged_customer_ids],
        unmerged_customer_ids=[str(c) for c in result.unmerged_customer_ids],
    )


def identify_outcome_to_proto(outcome: IdentifyOutcome) -> profile_pb2.IdentifyOutcome:
    """One call's answer in an IdentifyMany response: its result, or why it was left unsettled."""
    if isinstance(outcome, Unsettled):
        return profile_pb2.IdentifyOutcome(unsettled=outcome.reason)
    return profile_pb2.IdentifyOutcome(result=identify_result_to_proto(outcome))


def attributes_to_proto(attributes: CustomerAttributes) -> profile_pb2.CustomerAttributes:
    message = profile_pb2.CustomerAttributes()
    for name in ("nickname", "gender", "province", "city", "registration_channel", "device", "timezone"):
        set_optional(message, name, getattr(attributes, name))
    if attributes.birthday is not None:
        message.birthday = attributes.birthday.isoformat()
    set_time(message, "registered_at", attributes.registered_at)
    if attributes.custom is not None:
        message.custom_json = json.dumps(attributes.custom, ensure_ascii=False)
    return message


def customer_to_proto(customer: Customer) -> profile_pb2.Customer:
    return profile_pb2.Customer(
        customer_id=str(customer.customer_id),
        attributes=attributes_to_proto(customer.attributes),
        identities=[
            profile_pb2.Identity(type=i.type, value=i.masked, verified=i.verified)
            for i in customer.identities
        ],
        created_at=to_timestamp(customer.created_at),
        updated_at=to_timestamp(customer.updated_at),
        merged_into=str(customer.merged_into) if customer.merged_into else "",
    )


def timeline_to_proto(entries: Iterable[TimelineEntry]) -> list[profile_pb2.TimelineEntry]:
    """Timeline entries as the contract carries them (the detail as JSON text)."""
    return [
        profile_pb2.TimelineEntry(
            at=to_timestamp(entry.at),
            kind=entry.kind,
            ref=entry.ref,
            detail_json=json.dumps(entry.detail, default=str, ensure_ascii=False),
        )
        for entry in entries
    ]
