"""What the gateway accepts as text, dates and times, and how a refusal is worded — decided once.

Every string a client sends (body fields, free JSON such as ``custom`` and event ``properties``,
query and path parameters) passes :func:`text_fault`: no NUL (PostgreSQL cannot store U+0000, in
text nor in jsonb) and no lone surrogate (no UTF-8 encoding exists for one, so neither PostgreSQL
nor protobuf can carry it). Dates and times must be written as text (``2024-05-01``,
``2024-05-01T12:00:00+08:00``): a number is never read as a date. Validation messages are ours, not
the library's, so a 422 reads the same whichever layer found the fault.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pydantic_core import ErrorDetails

TEXT_RULE = "text must not contain NUL (U+0000) or lone surrogates (U+D800-U+DFFF)"
_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
DATE_MESSAGE = "must be a date written YYYY-MM-DD"
DATETIME_MESSAGE = "must be an RFC 3339 time with an offset, e.g. 2024-05-01T12:00:00+08:00"


def text_fault(value: str) -> str | None:
    """Why ``value`` cannot be stored as text (None when it can)."""
    found = _FORBIDDEN.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain the NUL character (U+0000)"
    return "must be valid Unicode text (a lone surrogate is not)"


def json_fault(value: object, path: str = "") -> str | None:
    """The first string (key or value) in free JSON that cannot be stored, with where it is."""
    if isinstance(value, str):
        fault = text_fault(value)
        return f"{fault} (at {path})" if fault and path else fault
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (fault := text_fault(key)):
                return f"a key {fault} (at {path or 'the top'})"
            if fault := json_fault(item, where):
                return fault
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if fault := json_fault(item, f"{path}[{index}]"):
                return fault
    return None


def check_text(value: str) -> str:
    """Pydantic validator of :data:`gateway.schemas.Text`."""
    if fault := text_fault(value):
        raise ValueError(fault)
    return value


def check_json(value: Any) -> Any:
    """Pydantic validator of free JSON (``custom``, ``properties``, documents)."""
    if fault := json_fault(value):
        raise ValueError(fault)
    return value


def check_unicode(value: Any) -> Any:
    """Only what protobuf cannot carry (lone surrogates): for text whose service checks the rest."""
    if isinstance(value, str) and (fault := text_fault(value.replace("\x00", ""))):
        raise ValueError(fault)
    return value


def date_text(value: object) -> object:
    """Before pydantic parses a date: only ``YYYY-MM-DD`` text (numbers are not dates)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError(DATE_MESSAGE)
    return value


def datetime_text(value: object) -> object:
    """Before pydantic parses a time: only RFC 3339 text (numbers are not times)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise ValueError(DATETIME_MESSAGE)
    return value


_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "json_invalid": "the body is not valid JSON",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "uuid_type": "must be a UUID",
    "uuid_parsing": "must be a UUID",
    "date_type": DATE_MESSAGE,
    "date_parsing": DATE_MESSAGE,
    "date_from_datetime_parsing": DATE_MESSAGE,
    "date_from_datetime_inexact": DATE_MESSAGE,
    "datetime_type": DATETIME_MESSAGE,
    "datetime_parsing": DATETIME_MESSAGE,
    "datetime_from_date_parsing": DATETIME_MESSAGE,
    "timezone_aware": DATETIME_MESSAGE,
}


def message_for(error: ErrorDetails | Mapping[str, Any]) -> str:
    """Our wording of one pydantic error (its ``type`` and context), never the library's sentence."""
    kind = str(error.get("type", ""))
    context: Mapping[str, Any] = error.get("ctx") or {}
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "value_error":
        return str(context.get("error", "is invalid"))
    bounds = {
        "greater_than_equal": "must be at least {ge}",
        "greater_than": "must be more than {gt}",
        "less_than_equal": "must be at most {le}",
        "less_than": "must be less than {lt}",
        "string_too_short": "must be at least {min_length} characters",
        "string_too_long": "must be at most {max_length} characters",
        "too_short": "must have at least {min_length} items",
        "too_long": "must have at most {max_length} items",
        "string_pattern_mismatch": "must match {pattern}",
        "literal_error": "must be one of {expected}",
        "enum": "must be one of {expected}",
    }
    if kind in bounds:
        try:
            return bounds[kind].format(**context)
        except (KeyError, IndexError):
            pass
    return "is invalid"
