"""The six classic journeys of DOMAIN.md §4, ready to start from (``GET /v1/journey-templates``).

A classic is data: a journey document whose id positions carry placeholders (``"slot:reminder"``),
its parameters with their defaults (``wait``, ``channel`` …) and the content of each slot — the
message templates and coupon templates it needs, written here in Chinese. ``expand`` applies a
merchant's overrides (``POST /v1/journeys {"from_template", ...}``): a slot the merchant fills with
their own template keeps that id and is not created; every other slot is answered as content for the
caller to create, and ``fill`` then puts the created ids in place. The result is an ordinary journey
document: ``parse_journey`` accepts it, and nothing downstream knows it came from a classic.

Decisions recorded here:

- **Birthday without a tier benefit gets no greeting.** The greeting prints ``{{ coupon.code }}``;
  when the customer's tier has no birthday benefit the runner skips the coupon, the code is absent,
  and the send is suppressed ``missing_data``. A birthday greeting without its gift is not what the
  classic promises, and a template cannot branch on a coupon. A merchant who wants every customer
  greeted passes ``parameters.coupon_template_id``: the journey then issues that fixed coupon instead
  of the tier's benefit.
- **No personal field a customer may lack** (no ``customer.nickname``): a template that prints one
  is suppressed for every customer without it; the classics print only what their journey supplies
  (the coupon, the tier, the trigger's data).
- **Channels**: ``email`` (the default, with a subject), ``push`` (the subject is the title) or
  ``sms``. WeChat subscribe messages (and Aliyun SMS) need the merchant's own provider template, so
  on those a merchant passes ``templates.<slot>`` with their own templates.
- **Purpose**: marketing, except the size guide after a wrong-size return, which answers the
  customer's own after-sales request (service).
- **Birthday re-entry** is ``P300D``: a date trigger enters once per occurrence by its entry key
  (``birthday:<year>``) whatever the policy (store/journey_entry.py); ``P300D`` states the intent
  (yearly) for a reader, and two birthdays are at least 365 - 30 days apart, so it never contradicts.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.notify.domain.durations import parse_duration
from services.notify.domain.journey_classics_data import CLASSICS, Classic, CouponSpec
from services.notify.domain.journey_definitions import MAX_NAME, MAX_REENTRY, MIN_REENTRY, parse_journey
from services.runtime.errors import FieldViolation, InvalidArgument, NotFound

SLOT_PREFIX = "slot:"
OVERRIDES = ("name", "parameters", "templates", "coupon_templates", "reentry", "goal")
MAX_TEMPLATE_NAME = 100


@dataclass(frozen=True)
class MessageContent:
    """A message template a classic needs, as ``POST /v1/notify/templates`` takes it."""

    slot: str
    name: str
    channel: str
    purpose: str
    subject: str | None
    body: str


@dataclass(frozen=True)
class CouponContent:
    """A coupon template a classic needs, as loyalty's coupon templates take it."""

    slot: str
    name: str
    kind: str
    discount_minor: int | None
    threshold_minor: int | None
    percent_off: int | None
    valid_days: int
    per_customer_limit: int


@dataclass(frozen=True)
class Expansion:
    """A classic with the merchant's overrides: the document (placeholders at the slots still to be
    created) and the content of those slots."""

    document: dict[str, Any]
    messages: tuple[MessageContent, ...]
    coupons: tuple[CouponContent, ...]


def catalogue() -> list[dict[str, Any]]:
    """The classics as ``GET /v1/journey-templates`` lists them: what each does, what may be
    overridden (parameters with their defaults, slots by kind) and the document with defaults."""
    items = []
    for classic in CLASSICS.values():
        defaults = {name: parameter.default for name, parameter in classic.parameters.items()}
        slots = {slot.slot: "message" for slot in classic.messages}
        slots.update({coupon.slot: "coupon" for coupon in classic.coupons})
        items.append(
            {
                "name": classic.name,
                "title": dict(classic.title),
                "description": dict(classic.description),
                "parameters": {
                    name: {"default": parameter.default, "required": parameter.required}
                    for name, parameter in classic.parameters.items()
                },
                "slots": slots,
                "document": classic.build(defaults),
            }
        )
    return items


def expand(name: str, overrides: dict[str, Any]) -> Expansion:
    """The classic ``name`` with ``overrides`` applied; NotFound for an unknown classic,
    InvalidArgument naming every bad override by its path (``parameters.wait``, ``templates.x``)."""
    classic = CLASSICS.get(name)
    if classic is None:
        raise NotFound(f"no journey template {name!r}: use one of {', '.join(CLASSICS)}")
    if not isinstance(overrides, dict):
        raise InvalidArgument.single("journey", "must be an object")
    faults = [
        FieldViolation(key, f"a journey from a template takes only {', '.join(OVERRIDES)}")
        for key in sorted(set(overrides) - set(OVERRIDES))
    ]
    parameters = _parameters(classic, overrides.get("parameters", {}), faults)
    message_slots = {slot.slot for slot in classic.messages}
    coupon_slots = {coupon.slot for coupon in classic.coupons}
    templates = _slot_ids(overrides.get("templates", {}), "templates", message_slots, faults)
    coupon_templates = _slot_ids(
        overrides.get("coupon_templates", {}), "coupon_templates", coupon_slots, faults
    )
    journey_name = overrides.get("name", classic.title["zh"])
    if not isinstance(journey_name, str) or not journey_name.strip() or len(journey_name) > MAX_NAME:
        faults.append(FieldViolation("name", f"must be text of 1 to {MAX_NAME} characters"))
    _check_reentry_and_goal(overrides, faults)
    if faults:
        raise InvalidArgument(faults)
    journey_name = str(journey_name).strip()
    document = classic.build(parameters)
    document["name"] = journey_name
    for key in ("reentry", "goal"):
        if key in overrides:
            document.pop(key, None)
            if overrides[key] is not None:
                document[key] = copy.deepcopy(overrides[key])
    document = _put(document, {**templates, **coupon_templates}, strict=False)
    coupons = tuple(
        _coupon_content(journey_name, spec) for spec in classic.coupons if spec.slot not in coupon_templates
    )
    described = {spec.slot: spec.describe() for spec in classic.coupons if spec.slot not in coupon_templates}
    messages = tuple(
        MessageContent(
            slot.slot,
            _template_name(journey_name, slot.label),
            str(parameters["channel"]),
            slot.purpose,
            slot.subject_text(parameters) if parameters["channel"] in ("email", "push") else None,
            slot.body_text(parameters, described),
        )
        for slot in classic.messages
        if slot.slot not in templates
    )
    stand_ins = {slot: str(uuid.uuid4()) for slot in (*message_slots, *coupon_slots)}
    parse_journey(fill(document, stand_ins))  # a classic is a valid journey once its ids are in
    return Expansion(document, messages, coupons)


def fill(document: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """A copy of ``document`` with every ``"slot:<name>"`` placeholder replaced by ``ids[name]``;
    ValueError naming a placeholder that ``ids`` lacks (a template the caller did not create)."""
    return _put(document, ids, strict=True)


def _put(document: dict[str, Any], ids: Mapping[str, str], *, strict: bool) -> dict[str, Any]:
    """Replace the placeholders at id positions (``template_id``) found in ``ids``; with ``strict``,
    a placeholder not in ``ids`` is a ValueError."""

    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(item) for item in value]
        if not isinstance(value, dict):
            return value
        result = {}
        for key, item in value.items():
            if key == "template_id" and isinstance(item, str) and item.startswith(SLOT_PREFIX):
                slot = item[len(SLOT_PREFIX) :]
                if slot in ids:
                    item = ids[slot]
                elif strict:
                    raise ValueError(f"no id for the slot {slot!r}")
            result[key] = walk(item)
        return result

    filled: dict[str, Any] = walk(document)
    return filled


def _parameters(classic: Classic, given: Any, faults: list[FieldViolation]) -> dict[str, Any]:
    """The classic's defaults with the merchant's parameters, each checked (faults by path)."""
    values = {name: parameter.default for name, parameter in classic.parameters.items()}
    if not isinstance(given, dict):
        faults.append(FieldViolation("parameters", "must be an object"))
        given = {}
    for key in sorted(set(given) - set(classic.parameters)):
        known = ", ".join(classic.parameters)
        faults.append(FieldViolation(f"parameters.{key}", f"is not a parameter of {classic.name} ({known})"))
    for key, parameter in classic.parameters.items():
        value = given.get(key, parameter.default)
        if value is None:
            if parameter.required:
                faults.append(FieldViolation(f"parameters.{key}", "is required"))
            values[key] = None
            continue
        problem = parameter.check(value)
        if problem is not None:
            faults.append(FieldViolation(f"parameters.{key}", problem))
        values[key] = value
    return values


def _slot_ids(given: Any, path: str, slots: set[str], faults: list[FieldViolation]) -> dict[str, str]:
    """The merchant's own template ids by slot (``templates.reminder``), each a UUID of a known slot."""
    if not isinstance(given, dict):
        faults.append(FieldViolation(path, "must map slots to template ids"))
        return {}
    ids: dict[str, str] = {}
    for slot, value in given.items():
        if slot not in slots:
            known = ", ".join(sorted(slots)) or "none"
            faults.append(
                FieldViolation(f"{path}.{slot}", f"is not a slot of this template (slots: {known})")
            )
            continue
        try:
            ids[slot] = str(uuid.UUID(str(value)))
        except ValueError:
            faults.append(FieldViolation(f"{path}.{slot}", "must be a template id (UUID)"))
    return ids


def _check_reentry_and_goal(overrides: dict[str, Any], faults: list[FieldViolation]) -> None:
    if "reentry" in overrides and overrides["reentry"] != "never":
        span = parse_duration(overrides["reentry"])
        if span is None or not MIN_REENTRY <= span <= MAX_REENTRY:
            faults.append(FieldViolation("reentry", '"never" or a duration from PT1H to P3650D'))
    if "goal" in overrides and overrides["goal"] not in (None, {"order": "paid"}):
        faults.append(FieldViolation("goal", 'must be {"order": "paid"} or null'))


def _template_name(journey_name: str, label: str) -> str:
    """``<journey> · <label>``, the journey's part shortened so the whole fits a template's name."""
    suffix = f" · {label}"
    return journey_name[: MAX_TEMPLATE_NAME - len(suffix)].rstrip() + suffix


def _coupon_content(journey_name: str, spec: CouponSpec) -> CouponContent:
    return CouponContent(
        spec.slot,
        _template_name(journey_name, spec.label),
        spec.kind,
        spec.discount_minor,
        spec.threshold_minor,
        spec.percent_off,
        spec.valid_days,
        spec.per_customer_limit,
    )
