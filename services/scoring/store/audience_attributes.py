"""The segment attributes on scoring's ``customers`` rows, from profile's ``SegmentAttributes``.

customer.created, customer.updated and customer.merged carry every segment attribute's current
value, so a handler sets all of them (an unset field is a cleared attribute). Events written before
profile carried the message have no ``attributes`` field: their handlers leave the columns alone.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from patron.events.v1 import profile_events_pb2
from services.runtime.proto_convert import from_timestamp, optional_text

# The text attributes a segment may test; with birthday and registered_at, every column set here.
TEXT_ATTRIBUTES = ("gender", "province", "city", "timezone", "registration_channel", "device")
ATTRIBUTE_COLUMNS = (*TEXT_ATTRIBUTES, "birthday", "registered_at")


def attribute_values(message: profile_events_pb2.SegmentAttributes) -> dict[str, Any]:
    """Every attribute column's value from the message (None where unset)."""
    values: dict[str, Any] = {name: optional_text(message, name) for name in TEXT_ATTRIBUTES}
    birthday = optional_text(message, "birthday")
    values["birthday"] = date.fromisoformat(birthday) if birthday else None
    values["registered_at"] = (
        from_timestamp(message.registered_at) if message.HasField("registered_at") else None
    )
    return values


def blank_attributes() -> dict[str, None]:
    """Every attribute column cleared: a merged-away or erased customer keeps none."""
    return dict.fromkeys(ATTRIBUTE_COLUMNS)
