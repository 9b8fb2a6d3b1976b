"""Journey definitions (issue 13 groundwork): the document checked, every fault named by its path.

A journey is data, never code: a trigger, a list of steps (which nest through ``if``), an optional
goal and a re-entry policy (API.md "Journeys"). ``parse_journey`` checks the shape and the limits
here and collects every id the document refers to, each with the path that names it, so that the
store can then check they are the tenant's own (templates, coupon templates, tags, segments) and
scoring can check each ``if`` condition in the segment language — a fault there is reported at the
same path (``steps[2].then[0].send.template_id``).

Limits (explicit, so a definition cannot grow without bound): at most ``MAX_STEPS`` steps in all,
branches nested at most ``MAX_DEPTH`` deep, waits from one minute to a year, a condition of at most
``MAX_CONDITION_BYTES`` of JSON, at most ``MAX_WHERE`` property filters on an event trigger.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from services.notify.domain.durations import parse_duration
from services.runtime.errors import FieldViolation, InvalidArgument

MAX_STEPS = 50
MAX_DEPTH = 5
MAX_WHERE = 10
MAX_CONDITION_BYTES = 16_384
MAX_NAME = 100
MIN_WAIT = timedelta(minutes=1)
MAX_WAIT = timedelta(days=365)
MIN_REENTRY = timedelta(hours=1)
MAX_REENTRY = timedelta(days=3650)
MAX_DAYS_BEFORE = 30
MAX_REASON = 100
STEP_KINDS = ("wait", "if", "send", "issue_coupon", "tag", "exit")
GOALS = ({"order": "paid"},)

_EVENT_TYPE = re.compile(r"^(?:[a-z][a-z0-9_]{0,39}|custom\.[a-z0-9_]{1,40})$")


@dataclass(frozen=True)
class Trigger:
    """What starts an instance: ``kind`` event / order / refund / segment_entered / tier / date."""

    kind: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class Step:
    """One step; ``then``/``otherwise`` only for ``if``."""

    kind: str
    path: str
    value: Any
    then: tuple[Step, ...] = ()
    otherwise: tuple[Step, ...] = ()


@dataclass
class References:
    """Every id and condition the document names, each by the path that names it."""

    templates: dict[str, uuid.UUID] = field(default_factory=dict)
    coupon_templates: dict[str, uuid.UUID] = field(default_factory=dict)
    tags: dict[str, uuid.UUID] = field(default_factory=dict)
    segments: dict[str, uuid.UUID] = field(default_factory=dict)
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class JourneyDefinition:
    name: str
    trigger: Trigger
    steps: tuple[Step, ...]
    goal: dict[str, Any] | None
    reentry: timedelta | None  # None: never again
    references: References


class _Checker:
    def __init__(self) -> None:
        self.faults: list[FieldViolation] = []
        self.references = References()
        self.count = 0

    def fault(self, path: str, message: str) -> None:
        self.faults.append(FieldViolation(path, message))

    def uuid_at(self, value: Any, path: str, into: dict[str, uuid.UUID]) -> None:
        try:
            into[path] = uuid.UUID(str(value))
        except ValueError:
            self.fault(path, "must be a UUID")

    def trigger(self, value: Any) -> Trigger | None:
        if not isinstance(value, dict) or len(value) == 0:
            self.fault("trigger", "must be an object: event, order, refund, segment_entered, tier or date")
            return None
        kinds = [k for k in ("event", "order", "refund", "segment_entered", "tier", "date") if k in value]
        if len(kinds) != 1:
            self.fault(
                "trigger", "must name exactly one of event, order, refund, segment_entered, tier, date"
            )
            return None
        kind = kinds[0]
        check = getattr(self, f"_trigger_{kind}")
        check(value)
        return Trigger(kind, dict(value))

    def _extra(self, value: dict[str, Any], allowed: set[str], path: str) -> None:
        for key in sorted(set(value) - allowed):
            self.fault(f"{path}.{key}", "is not allowed here")

    def _trigger_event(self, value: dict[str, Any]) -> None:
        self._extra(value, {"event", "where"}, "trigger")
        if not isinstance(value["event"], str) or not _EVENT_TYPE.match(value["event"]):
            self.fault("trigger.event", "must be an event type (view, add_to_cart, ... or custom.<name>)")
        where = value.get("where", {})
        if not isinstance(where, dict) or len(where) > MAX_WHERE:
            self.fault("trigger.where", f"must map at most {MAX_WHERE} properties to values")
            return
        for key, item in where.items():
            if not isinstance(item, str | int | float | bool) or (isinstance(item, str) and len(item) > 200):
                self.fault(f"trigger.where.{key}", "must be a text (≤ 200), number or boolean")

    def _trigger_order(self, value: dict[str, Any]) -> None:
        self._extra(value, {"order", "first"}, "trigger")
        if value["order"] != "paid":
            self.fault("trigger.order", 'must be "paid"')
        if not isinstance(value.get("first", False), bool):
            self.fault("trigger.first", "must be true or false")

    def _trigger_refund(self, value: dict[str, Any]) -> None:
        self._extra(value, {"refund"}, "trigger")
        refund = value["refund"]
        if not isinstance(refund, dict) or set(refund) - {"reason"}:
            self.fault("trigger.refund", 'must be {} or {"reason"}')
            return
        reason = refund.get("reason")
        if reason is not None and (
            not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON
        ):
            self.fault("trigger.refund.reason", f"must be text of 1 to {MAX_REASON} characters")

    def _trigger_segment_entered(self, value: dict[str, Any]) -> None:
        self._extra(value, {"segment_entered"}, "trigger")
        self.uuid_at(value["segment_entered"], "trigger.segment_entered", self.references.segments)

    def _trigger_tier(self, value: dict[str, Any]) -> None:
        self._extra(value, {"tier"}, "trigger")
        if value["tier"] != "upgraded":
            self.fault("trigger.tier", 'must be "upgraded"')

    def _trigger_date(self, value: dict[str, Any]) -> None:
        self._extra(value, {"date", "days_before"}, "trigger")
        if value["date"] != "birthday":
            self.fault("trigger.date", 'must be "birthday"')
        days = value.get("days_before", 0)
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= MAX_DAYS_BEFORE:
            self.fault("trigger.days_before", f"must be a whole number from 0 to {MAX_DAYS_BEFORE}")

    def steps(self, value: Any, path: str, depth: int) -> tuple[Step, ...]:
        if not isinstance(value, list) or not value:
            self.fault(path, "must be a non-empty list of steps")
            return ()
        parsed: list[Step] = []
        for index, item in enumerate(value):
            self.count += 1
            if self.count == MAX_STEPS + 1:
                self.fault(path, f"a journey has at most {MAX_STEPS} steps in all")
            step = self.step(item, f"{path}[{index}]", depth)
            if step is not None:
                parsed.append(step)
        return tuple(parsed)

    def step(self, value: Any, path: str, depth: int) -> Step | None:
        kinds = [k for k in STEP_KINDS if isinstance(value, dict) and k in value]
        if len(kinds) != 1:
            self.fault(path, f"must be an object with exactly one of {', '.join(STEP_KINDS)}")
            return None
        kind = kinds[0]
        if kind == "if":
            return self._if(value, path, depth)
        self._extra(value, {kind}, path)
        item = value[kind]
        where = f"{path}.{kind}"
        if kind == "wait":
            span = parse_duration(item)
            if span is None or not MIN_WAIT <= span <= MAX_WAIT:
                self.fault(where, "must be a duration from PT1M to P365D")
        elif kind == "exit":
            if item is not True:
                self.fault(where, "must be true")
        elif kind == "issue_coupon" and isinstance(item, dict) and set(item) == {"tier_benefit"}:
            if item["tier_benefit"] != "birthday":
                self.fault(f"{where}.tier_benefit", 'must be "birthday"')
        else:
            key = "tag_id" if kind == "tag" else "template_id"
            into = {
                "send": self.references.templates,
                "issue_coupon": self.references.coupon_templates,
                "tag": self.references.tags,
            }[kind]
            if not isinstance(item, dict) or set(item) != {key}:
                self.fault(where, f'must be {{"{key}"}}')
            else:
                self.uuid_at(item[key], f"{where}.{key}", into)
        return Step(kind, path, item)

    def _if(self, value: dict[str, Any], path: str, depth: int) -> Step | None:
        self._extra(value, {"if", "then", "else"}, path)
        if depth >= MAX_DEPTH:
            self.fault(path, f"branches nest at most {MAX_DEPTH} deep")
            return None
        condition = value["if"]
        where = f"{path}.if"
        if not isinstance(condition, dict) or not condition:
            self.fault(where, "must be a condition object")
        elif set(condition) == {"since_trigger"}:
            since = condition["since_trigger"]
            if since != {"order": True}:
                self.fault(f"{where}.since_trigger", 'must be {"order": true}')
        elif len(json.dumps(condition)) > MAX_CONDITION_BYTES:
            self.fault(where, f"at most {MAX_CONDITION_BYTES} bytes of JSON")
        else:
            self.references.conditions[where] = condition  # the segment language: scoring checks it
        then = self.steps(value.get("then"), f"{path}.then", depth + 1)
        otherwise = self.steps(value["else"], f"{path}.else", depth + 1) if "else" in value else ()
        return Step("if", path, condition, then, otherwise)


def parse_journey(document: Any) -> JourneyDefinition:
    """The definition of ``POST /v1/journeys``; InvalidArgument naming the path of every fault."""
    if not isinstance(document, dict):
        raise InvalidArgument.single("journey", "must be an object")
    checker = _Checker()
    for key in sorted(set(document) - {"name", "trigger", "steps", "goal", "reentry"}):
        checker.fault(key, "is not a journey field")
    name = document.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        checker.fault("name", f"must be text of 1 to {MAX_NAME} characters")
    trigger = checker.trigger(document.get("trigger"))
    steps = checker.steps(document.get("steps"), "steps", 0)
    goal = document.get("goal")
    if goal is not None and goal not in GOALS:
        checker.fault("goal", 'must be {"order": "paid"} or absent')
    reentry_text = document.get("reentry", "never")
    reentry: timedelta | None = None
    if reentry_text != "never":
        reentry = parse_duration(reentry_text)
        if reentry is None or not MIN_REENTRY <= reentry <= MAX_REENTRY:
            checker.fault("reentry", '"never" or a duration from PT1H to P3650D')
    if checker.faults:
        raise InvalidArgument(checker.faults)
    assert trigger is not None
    return JourneyDefinition(str(name).strip(), trigger, steps, goal, reentry, checker.references)
