"""The rules one behaviour event must meet, each fault named by its REST path (``events[3].type``).

Pure functions over one event at a time: ``BehaviourLog`` applies them to every event of a batch,
so that a bad event is rejected alone.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.profile.domain.identities import IdentityInput, NormalizedIdentity, normalize_identities
from services.runtime.errors import FieldViolation, InvalidArgument

EVENT_TYPES: frozenset[str] = frozenset(
    {
        "view",
        "search",
        "favorite",
        "add_to_cart",
        "order_paid",
        "order_refunded",
        "review",
        "share",
        "sign_in",
        "survey_response",
        "message_opened",
        "message_clicked",
    }
)
CUSTOM_TYPE = re.compile(r"custom\.[a-z0-9_.]{1,64}")
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
MAX_EVENTS_PER_CALL = 1000
MAX_EVENT_ID_LENGTH = 128
MAX_PROPERTIES_BYTES = 8 * 1024
MAX_PROPERTIES_DEPTH = 5
MAX_PROPERTIES_KEYS = 100
CLOCK_SKEW = timedelta(minutes=5)
EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class EventInput:
    """An event as the caller wrote it; nothing is trusted yet."""

    event_id: str
    type: str
    occurred_at: str
    customer_id: str = ""
    identities: Sequence[IdentityInput] = ()
    properties_json: str | None = None


def is_event_type(value: str) -> bool:
    """A behaviour type of docs/product.md, or the merchant's own under ``custom.``."""
    return value in EVENT_TYPES or CUSTOM_TYPE.fullmatch(value) is not None


def parse_occurred_at(value: str) -> datetime:
    """An RFC 3339 time with an offset (``Z`` or ``±hh:mm``); ValueError otherwise."""
    text = value.strip().upper()
    if RFC3339.fullmatch(text):
        try:
            return datetime.fromisoformat(text)  # also refuses month 13, second 60, offset +25:00
        except ValueError:
            pass
    raise ValueError("must be an RFC 3339 time with an offset, e.g. 2024-05-01T12:00:00+08:00")


def _depth_and_widest(value: Any) -> tuple[int, int]:
    """Nesting depth of a parsed JSON value (arrays count as a level) and the most keys of any object.

    Iterative, and it stops one level past the limit: a hostile document costs no more than a legal one.
    """
    depth = widest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, level = pending.pop()
        depth = max(depth, level)
        if depth > MAX_PROPERTIES_DEPTH:
            break
        children = node.values() if isinstance(node, dict) else node
        if isinstance(node, dict):
            widest = max(widest, len(node))
        pending.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return depth, widest


def check_properties(properties_json: str) -> str | None:
    """Why the properties are refused, or None (size first: it bounds the cost of parsing)."""
    # A character is 1 to 4 bytes in UTF-8: short text needs no encoding to be measured.
    if (
        len(properties_json) * 4 > MAX_PROPERTIES_BYTES
        and len(properties_json.encode()) > MAX_PROPERTIES_BYTES
    ):
        return f"must be at most {MAX_PROPERTIES_BYTES} bytes as JSON"
    try:
        value = json.loads(properties_json)
    except ValueError:
        return "must be a JSON object"
    if not isinstance(value, dict):
        return "must be an object"
    if not any(isinstance(v, (dict, list)) for v in value.values()):
        depth, widest = 1, len(value)  # flat, the common case
    else:
        depth, widest = _depth_and_widest(value)
    if depth > MAX_PROPERTIES_DEPTH:
        return f"must nest at most {MAX_PROPERTIES_DEPTH} levels"
    if widest > MAX_PROPERTIES_KEYS:
        return f"must have at most {MAX_PROPERTIES_KEYS} keys in any object"
    return None


@dataclass(slots=True)
class CheckedEvent:
    """One event after the per-event rules: either its faults, or what is needed to store it."""

    index: int
    violations: list[FieldViolation] = field(default_factory=list)
    event_id: str = ""
    type: str = ""
    occurred_at: datetime = EARLIEST_OCCURRED_AT
    customer_id: uuid.UUID | None = None
    identity_key: frozenset[NormalizedIdentity] | None = None
    properties_json: str = "{}"


class IdentityNormalizer:
    """Normalises identity lists once per distinct input in a call (phone parsing is not cheap)."""

    def __init__(self, default_region: str) -> None:
        self._region = default_region
        self._seen: dict[tuple[IdentityInput, ...], frozenset[NormalizedIdentity] | InvalidArgument] = {}

    def normalize(
        self, items: Sequence[IdentityInput], path: str
    ) -> tuple[frozenset[NormalizedIdentity] | None, list[FieldViolation]]:
        key = tuple(items)
        found = self._seen.get(key)
        if found is None:
            try:
                found = frozenset(normalize_identities(items, self._region))
            except InvalidArgument as error:
                found = error
            self._seen[key] = found
        if isinstance(found, InvalidArgument):
            return None, [FieldViolation(f"{path}.{v.field}", v.message) for v in found.violations]
        return found, []


def check_event(index: int, event: EventInput, identities: IdentityNormalizer, now: datetime) -> CheckedEvent:
    """Apply every per-event rule and name each fault by its REST path (``events[3].occurred_at``)."""
    checked = CheckedEvent(index, event_id=event.event_id, type=event.type)
    faults = checked.violations

    def fault(name: str, message: str) -> None:
        faults.append(FieldViolation(f"events[{index}]{name}", message))

    if not 1 <= len(event.event_id) <= MAX_EVENT_ID_LENGTH or not event.event_id.strip():
        fault(".event_id", f"must be 1 to {MAX_EVENT_ID_LENGTH} characters")
    if not is_event_type(event.type):
        fault(".type", "must be a known event type or custom.<name> ([a-z0-9_.]{1,64})")
    try:
        checked.occurred_at = parse_occurred_at(event.occurred_at)
    except ValueError as error:
        fault(".occurred_at", str(error))
    else:
        if checked.occurred_at > now + CLOCK_SKEW:
            fault(".occurred_at", "must not be in the future")
        elif checked.occurred_at < EARLIEST_OCCURRED_AT:
            fault(".occurred_at", "must not be before 2000-01-01")
    if event.customer_id and event.identities:
        fault("", "must carry customer_id or identities, not both")
    elif event.customer_id:
        try:
            checked.customer_id = uuid.UUID(event.customer_id)
        except ValueError:
            fault(".customer_id", "customer not found")
    elif event.identities:
        checked.identity_key, problems = identities.normalize(event.identities, f"events[{index}]")
        faults.extend(problems)
    else:
        fault("", "must carry customer_id or identities")
    if event.properties_json is not None:
        problem = check_properties(event.properties_json)
        if problem is None:
            checked.properties_json = event.properties_json
        else:
            fault(".properties", problem)
    return checked
