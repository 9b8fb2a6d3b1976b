"""The value of a field leaf, checked against its field's kind and its operator.

Each operator has one value shape: a scalar (``eq``, ``gt``...), a non-empty bounded list (``in``,
``not_in``), an ordered pair (``between``), a tag id (``has``), a duration (``older_than``), a number
of days (``in_next_days``) or nothing (``exists``). A value is data: text is compared, never run.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.scoring.domain.segments.durations import parse_duration
from services.scoring.domain.segments.faults import Faults, integer, text
from services.scoring.domain.segments.fields import FieldSpec, Kind, Op
from services.scoring.domain.segments.limits import MAX_IN_NEXT_DAYS, MAX_LIST_SIZE
from services.scoring.domain.segments.tree import Between, FieldValue, Scalar

RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SCALAR_OPS = frozenset({Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE})


class Refused:
    """Marks a value that was refused; its fault is already recorded (None is a valid value)."""


FAILED = Refused()


def parse_instant(value: str) -> datetime:
    """An RFC 3339 instant with an offset (``Z`` or ``±hh:mm``); ValueError otherwise."""
    upper = value.upper()
    if RFC3339.fullmatch(upper):
        try:
            return datetime.fromisoformat(upper.replace("Z", "+00:00"))
        except ValueError:
            pass
    raise ValueError("must be an RFC 3339 time with an offset, e.g. 2026-05-01T12:00:00+08:00")


def _scalar(spec: FieldSpec, raw: Any, path: str, faults: Faults) -> Scalar | Refused:
    """One value of the field's kind, or ``FAILED`` after recording why."""
    if spec.kind in (Kind.TEXT, Kind.ENUM):
        value = text(raw, path, faults)
        if value is None:
            return FAILED
        if spec.choices and value not in spec.choices:
            faults.add(path, f"must be one of {', '.join(spec.choices)}")
            return FAILED
        if spec.pattern is not None and not spec.pattern.fullmatch(value):
            faults.add(path, f"is not a valid {spec.name} code")
            return FAILED
        return value
    if spec.kind is Kind.INTEGER:
        number = integer(raw, path, faults, int(spec.minimum), int(spec.maximum))
        return FAILED if number is None else number
    if spec.kind is Kind.NUMBER:
        if not isinstance(raw, int | float) or isinstance(raw, bool) or not math.isfinite(raw):
            faults.add(path, "must be a finite number")
            return FAILED
        if not spec.minimum <= raw <= spec.maximum:
            faults.add(path, f"must be between {spec.minimum:g} and {spec.maximum:g}")
            return FAILED
        return raw
    if spec.kind is Kind.TIME:
        if not isinstance(raw, str) or len(raw) > 40:
            faults.add(path, "must be an RFC 3339 time with an offset")
            return FAILED
        try:
            return parse_instant(raw)
        except ValueError as error:
            faults.add(path, str(error))
            return FAILED
    if spec.kind is Kind.CONSENT:
        if not isinstance(raw, bool):
            faults.add(path, "must be true or false")
            return FAILED
        return raw
    faults.add(path, f"{spec.name} takes no such value")
    return FAILED


def _list(spec: FieldSpec, raw: Any, path: str, faults: Faults) -> tuple[Scalar, ...] | Refused:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_LIST_SIZE:
        faults.add(path, f"must be a list of 1 to {MAX_LIST_SIZE} values")
        return FAILED
    items: list[Scalar] = []
    for index, item in enumerate(raw):
        value = _scalar(spec, item, f"{path}[{index}]", faults)
        if not isinstance(value, Refused):
            items.append(value)
    return tuple(items) if len(items) == len(raw) else FAILED


def _between(spec: FieldSpec, raw: Any, path: str, faults: Faults) -> Between | Refused:
    if spec.kind not in (Kind.INTEGER, Kind.NUMBER, Kind.TIME):
        faults.add(path, f"between does not apply to {spec.name}")
        return FAILED
    if not isinstance(raw, list) or len(raw) != 2:
        faults.add(path, "must be a list of two values [low, high]")
        return FAILED
    low = _scalar(spec, raw[0], f"{path}[0]", faults)
    high = _scalar(spec, raw[1], f"{path}[1]", faults)
    if isinstance(low, Refused) or isinstance(high, Refused):
        return FAILED
    pair = _ordered_pair(low, high)
    if pair is None:
        faults.add(path, "low must not exceed high")
        return FAILED
    return pair


def _ordered_pair(low: Scalar, high: Scalar) -> Between | None:
    """The range when both ends are of one ordered type and ``low <= high``; None otherwise."""
    if isinstance(low, datetime) and isinstance(high, datetime):
        return Between(low, high) if low <= high else None
    if isinstance(low, str | bool | datetime) or isinstance(high, str | bool | datetime):
        return None  # a text or consent field: refused above, kept for the type checker
    return Between(low, high) if low <= high else None


def _tag_id(raw: Any, path: str, faults: Faults) -> uuid.UUID | Refused:
    if not isinstance(raw, str) or not UUID_TEXT.fullmatch(raw.lower()):
        faults.add(path, "must be a tag id (a UUID such as 0b6a0c1e-5a3f-4f7e-9d2b-1c3e5f7a9b0d)")
        return FAILED
    return uuid.UUID(raw)


def field_value(
    spec: FieldSpec, op: Op, node: Mapping[str, Any], path: str, faults: Faults
) -> FieldValue | Refused:
    """The checked value of a field leaf ``node`` whose ``op`` already applies to ``spec``."""
    path = f"{path}.value"
    if op in (Op.EXISTS, Op.NOT_EXISTS):
        if "value" in node:
            faults.add(path, f"{op} takes no value")
            return FAILED
        return None
    if "value" not in node:
        faults.add(path, f"is required with {op}")
        return FAILED
    raw = node["value"]
    if op in _SCALAR_OPS:
        return _scalar(spec, raw, path, faults)
    if op in (Op.IN, Op.NOT_IN):
        return _list(spec, raw, path, faults)
    if op is Op.BETWEEN:
        return _between(spec, raw, path, faults)
    if op in (Op.HAS, Op.HAS_NOT):
        return _tag_id(raw, path, faults)
    if op in (Op.OLDER_THAN, Op.NEWER_THAN):
        if not isinstance(raw, str) or len(raw) > 40:
            faults.add(path, "must be an ISO 8601 duration such as PT24H or P30D")
            return FAILED
        try:
            return parse_duration(raw)
        except ValueError as error:
            faults.add(path, str(error))
            return FAILED
    days = integer(raw, path, faults, 0, MAX_IN_NEXT_DAYS)  # in_next_days
    return FAILED if days is None else days
