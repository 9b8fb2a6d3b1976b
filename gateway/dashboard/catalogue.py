"""The segment language as data for the builder: fields, their operators and values, behaviour types.

Built from scoring's own catalogue (``services.scoring.domain.segments.fields``), so the builder never
offers a field or an operator the service would refuse, and gains new ones without a change here.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from services.scoring.domain.rfm import GROUPS
from services.scoring.domain.segments import limits
from services.scoring.domain.segments.fields import EVENT_TYPES, FIELDS, LIFECYCLE_STAGES, FieldSpec, Op

# The order operators are offered in: the common ones first.
OP_ORDER = [op.value for op in Op]


def _field(spec: FieldSpec) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": spec.name,
        "kind": spec.kind.value,
        "ops": sorted((op.value for op in spec.ops), key=OP_ORDER.index),
        "money": spec.name.endswith("_minor"),
    }
    if spec.choices:
        item["choices"] = list(spec.choices)
    if abs(spec.minimum) < limits.MAX_MINOR:
        item["minimum"] = spec.minimum
    if abs(spec.maximum) < limits.MAX_MINOR:
        item["maximum"] = spec.maximum
    return item


def catalogue() -> dict[str, Any]:
    """Everything the builder offers, with the language's limits."""
    return {
        "fields": [_field(spec) for spec in FIELDS.values()],
        "event_types": sorted(EVENT_TYPES),
        "rfm_groups": [{"code": group.code, "label": group.label} for group in GROUPS],
        "lifecycle_stages": list(LIFECYCLE_STAGES),
        "limits": {
            "max_depth": limits.MAX_DEPTH,
            "max_leaves": limits.MAX_LEAVES,
            "max_list_size": limits.MAX_LIST_SIZE,
            "max_string_length": limits.MAX_STRING_LENGTH,
            "max_min_count": limits.MAX_MIN_COUNT,
            "max_in_next_days": limits.MAX_IN_NEXT_DAYS,
            "max_duration_days": limits.MAX_DURATION.days,
        },
    }


@functools.cache
def catalogue_json() -> bytes:
    """The catalogue as the bytes served (it never changes while the process runs)."""
    return json.dumps(catalogue(), ensure_ascii=False, separators=(",", ":")).encode()
