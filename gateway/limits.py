"""The services' own limits, written into the request schema from the services' constants.

One source: every bound, length, pattern and vocabulary here is imported from the domain module that
enforces it, so the OpenAPI cannot drift from the server. Two ways to state a limit:

- :func:`documented` writes it into the OpenAPI only; the service enforces it, and reports it
  together with the request's other faults (single-pass validation, issue 18 item 6). Used for the
  bodies a service checks as a whole (orders, events, identities, templates, programmes, points).
- :func:`one_of` and pydantic's own ``Field`` bounds enforce it in the gateway too, where no service
  looks at the value (query filters) or where the gateway already refused it.

What JSON Schema cannot say (a phone that parses, a date not in the future, a range of days, ids that
exist) stays a service rule; ``tests/test_openapi_fuzz.py`` lists each, and docs/api-conventions.md
says which is which.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import AfterValidator, Field

from services.loyalty.domain import coupons as coupon_rules
from services.profile.domain.behaviour_rules import CUSTOM_TYPE, EVENT_TYPES

# White space exactly as Python's str.strip() sees it (the services trim with it); ECMA's \s differs
# (it lacks U+001C-U+001F and U+0085, and has U+FEFF), so the class is spelt out.
SPACE = "\\t-\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
# Empty, or starting and ending with a character that is not white space ("no surrounding spaces").
TRIMMED = f"^(?:[^{SPACE}](?:[\\s\\S]*[^{SPACE}])?)?$"
# Letters, digits and . _ : ~ - starting alphanumeric: order and refund ids (profile's order_rules).
ORDER_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._:~-]*$"
# An ISO 4217 code; the services upper-case it, so either case is accepted (which codes exist, and
# that metals and test codes are not money, stays the services' rule).
CURRENCY_PATTERN = "^[A-Za-z]{3}$"
# An ISO 3166-1 alpha-2 region (either case; which regions exist is the services' rule).
REGION_PATTERN = "^[A-Za-z]{2}$"
# A page cursor is URL-safe base64 (services.runtime.paging); only one a previous page handed out is
# accepted, which no schema can say.
CURSOR_PATTERN = "^[A-Za-z0-9_-]*$"
# At least one character that is not white space: the services trim text and refuse what is blank.
NOT_BLANK = f"[^{SPACE}]"
# Text the profile service stores from an order: not blank, no control character (Unicode Cc).
_CONTROL = "\\x00-\\x1f\\x7f-\\x9f"
ORDER_TEXT_PATTERN = f"^[^{_CONTROL}]*[^{SPACE}{_CONTROL}][^{_CONTROL}]*$"


def event_type_pattern() -> str:
    """The behaviour event types (profile's EVENT_TYPES) or ``custom.<name>``, as one pattern."""
    known = "|".join(sorted(EVENT_TYPES))
    return f"^(?:{known}|{CUSTOM_TYPE.pattern})$"


def documented(**schema: Any) -> Any:
    """A limit the service enforces (so that all of a request's faults are reported together),
    written into the OpenAPI so that the schema states the server's real rules."""
    return Field(json_schema_extra=schema)


def one_of(values: Iterable[str]) -> AfterValidator:
    """Refuses a string outside a service's fixed vocabulary, with the service's wording; pair it
    with ``documented(enum=...)`` (see :func:`enum_of`) so that the schema lists the vocabulary."""
    allowed = tuple(values)

    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return AfterValidator(check)


def enum_of(values: Iterable[str]) -> Any:
    """The vocabulary in the schema (``enum``)."""
    return documented(enum=list(values))


def coupon_kind_rules() -> dict[str, Any]:
    """Which fields each coupon kind requires and forbids (loyalty's coupon rules), as JSON Schema:
    one ``if kind is K then ...`` per kind, so that a generator and a reader see the same rule."""
    money = ("threshold_minor", "discount_minor", "percent_off", "max_discount_minor")
    rules = []
    for kind in coupon_rules.COUPON_KINDS:
        # The loyalty domain keeps these tables private; read, never changed (ask it for public names).
        used = coupon_rules._FIELDS_BY_KIND[kind]
        required = sorted(coupon_rules._REQUIRED_BY_KIND[kind])
        then: dict[str, Any] = {
            "required": required,
            "properties": {
                **{field: {"type": "integer"} for field in required},
                **{field: {"type": "null"} for field in money if field not in used},
            },
        }
        rules.append({"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]}, "then": then})
    validity = {
        "anyOf": [
            {
                "required": ["valid_days"],
                "properties": {
                    "valid_days": {"type": "integer"},
                    "valid_from": {"type": "null"},
                    "valid_until": {"type": "null"},
                },
            },
            {
                "required": ["valid_from", "valid_until"],
                "properties": {
                    "valid_from": {"type": "string"},
                    "valid_until": {"type": "string"},
                    "valid_days": {"type": "null"},
                },
            },
        ]
    }
    return {"allOf": [*rules, validity]}
