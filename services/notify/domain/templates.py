"""Message templates: Liquid, checked when saved, rendered only with the data a customer really has.

Why Liquid (``python-liquid``): it was designed for templates written by people who must not reach
the host — a template sees only the plain data it is given (no attributes of Python objects, no
imports, no files), so an operator's template cannot become code (the sandbox escapes of Jinja2
before 3.1.6 are the lesson). What a template may use is checked when it is saved, statically:

- syntax errors are a fault of ``body`` or ``subject`` naming the line;
- only the personal fields of the contract are known: ``customer.nickname``, ``loyalty.tier``,
  ``loyalty.points``, ``coupon.code`` and ``data.<key>`` (what the sender passes); any other variable
  is a fault naming it, so a typo (``{{ custmer.nickname }}``) is a 422 at save time, never an empty
  gap in a sent message;
- only the tags that shape text are allowed (no ``include``/``render``: a template reads nothing).

At send time a message whose template refers to a personal field the customer does not have (no
nickname, no tier) is not rendered at all: ``render`` answers which fields are missing, and the
sender suppresses the message with that reason rather than sending "Dear ,".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from liquid import BoundTemplate, Environment, StrictUndefined
from liquid.exceptions import LiquidError

from services.runtime.errors import FieldViolation, InvalidArgument

PERSONAL_FIELDS = frozenset({"customer.nickname", "loyalty.tier", "loyalty.points", "coupon.code"})
DATA_ROOT = "data"
ALLOWED_TAGS = frozenset(
    {
        "if",
        "unless",
        "case",
        "for",
        "tablerow",
        "assign",
        "capture",
        "comment",
        "raw",
        "liquid",
        "echo",
        "cycle",
        "increment",
        "decrement",
        "break",
        "continue",
    }
)
MAX_SUBJECT = 200
MAX_BODY = {"sms": 1_000, "push": 4_000, "wechat": 20_000, "email": 100_000}
"""Characters of a template body per channel: an SMS of 1,000 characters is already 15 segments; an
e-mail's HTML body of 100,000 characters is far beyond what mail clients show without clipping."""

_ENVIRONMENT = Environment(undefined=StrictUndefined)


@dataclass(frozen=True, slots=True)
class CheckedTemplate:
    """A template that passed the checks, with the personal fields it uses (for send-time checks)."""

    subject: str | None
    body: str
    personal_fields: frozenset[str]
    data_keys: frozenset[str]


def check_template(channel: str, subject: str | None, body: str) -> CheckedTemplate:
    """Check a template for a channel; InvalidArgument naming ``body``/``subject`` for every fault."""
    faults: list[FieldViolation] = []
    limit = MAX_BODY.get(channel)
    if limit is None:
        raise InvalidArgument.single("channel", f"must be one of {', '.join(sorted(MAX_BODY))}")
    if not body.strip():
        faults.append(FieldViolation("body", "must not be empty"))
    elif len(body) > limit:
        faults.append(FieldViolation("body", f"at most {limit} characters for {channel}"))
    if subject is not None and len(subject) > MAX_SUBJECT:
        faults.append(FieldViolation("subject", f"at most {MAX_SUBJECT} characters"))
    personal: set[str] = set()
    keys: set[str] = set()
    for name, text in (("subject", subject), ("body", body)):
        if text is None or not text.strip():
            continue
        used, wrong = _analyse(name, text)
        faults += wrong
        for path in used:
            if path[0] == DATA_ROOT and len(path) > 1:
                keys.add(path[1])
            else:
                personal.add(".".join(path))
    if faults:
        raise InvalidArgument(faults)
    return CheckedTemplate(subject, body, frozenset(personal), frozenset(keys))


def _analyse(name: str, text: str) -> tuple[list[tuple[str, ...]], list[FieldViolation]]:
    """The variables a template text uses, and the faults of its syntax, tags and variables."""
    try:
        template = _ENVIRONMENT.from_string(text)
    except LiquidError as error:
        return [], [FieldViolation(name, f"not a valid template: {_first_line(error)}")]
    try:
        faults = [
            FieldViolation(name, f"the tag {tag!r} is not allowed in a message template")
            for tag in sorted(set(template.tag_names(include_partials=False)) - ALLOWED_TAGS)
        ]
        # partials are never followed: a template that names one is refused for the tag alone
        variables = [] if faults else template.global_variable_segments(include_partials=False)
    except LiquidError as error:
        return [], [FieldViolation(name, f"not a valid template: {_first_line(error)}")]
    used: list[tuple[str, ...]] = []
    for segments in variables:
        path = tuple(str(segment) for segment in segments)
        if (path[0] == DATA_ROOT and len(path) > 1) or ".".join(path[:2]) in PERSONAL_FIELDS:
            used.append(path[:2])
        else:
            known = ", ".join(sorted(PERSONAL_FIELDS | {"data.<key>"}))
            faults.append(FieldViolation(name, f"unknown variable {'.'.join(path)!r}: use one of {known}"))
    return used, faults


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str | None
    body: str


@dataclass(frozen=True, slots=True)
class MissingPersonalData:
    """The template needs fields this customer (or this send's data) does not have."""

    fields: tuple[str, ...]


def render(
    template: CheckedTemplate, personal: Mapping[str, Any], data: Mapping[str, Any]
) -> Rendered | MissingPersonalData:
    """Render for one customer: ``personal`` maps the personal fields (``customer.nickname`` …) to
    their values, ``data`` is what the sender passed. A field the template uses that is absent,
    None or blank here is missing: nothing is rendered and the caller suppresses the message."""
    missing = sorted(field for field in template.personal_fields if _blank(personal.get(field)))
    missing += sorted(f"data.{key}" for key in template.data_keys if _blank(data.get(key)))
    if missing:
        return MissingPersonalData(tuple(missing))
    context: dict[str, Any] = {DATA_ROOT: dict(data)}
    for field in template.personal_fields:
        root, leaf = field.split(".")
        context.setdefault(root, {})[leaf] = personal[field]
    subject = None if template.subject is None else _parsed(template.subject).render(**context)
    return Rendered(subject, _parsed(template.body).render(**context))


@lru_cache(maxsize=4_096)
def _parsed(text: str) -> BoundTemplate:
    """A template's text parsed once: sends render the same few templates thousands of times."""
    return _ENVIRONMENT.from_string(text)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# GSM 03.38: the basic character set (one septet each) and its extension (an escape and a septet).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True, slots=True)
class SmsSize:
    """How an SMS text travels: its encoding, its length in that encoding's units, its segments."""

    encoding: str  # "gsm7" or "ucs2"
    units: int
    segments: int


def sms_size(text: str) -> SmsSize:
    """GSM-7 when every character is in GSM 03.38 (160 septets alone, 153 per part of a long one),
    else UCS-2 (70 UTF-16 units alone, 67 per part) — any Chinese character makes it UCS-2."""
    if all(char in _GSM_BASIC or char in _GSM_EXTENSION for char in text):
        units = sum(2 if char in _GSM_EXTENSION else 1 for char in text)
        return SmsSize("gsm7", units, 1 if units <= 160 else math.ceil(units / 153))
    units = len(text.encode("utf-16-le")) // 2
    return SmsSize("ucs2", units, 1 if units <= 70 else math.ceil(units / 67))
