"""Keyset pages: the ``limit`` a caller may ask for and the opaque cursor that continues a list.

A cursor is the sort key of the last item of a page, base64url-encoded JSON; clients must not parse
it, and a cursor that does not decode to the list's key shape is a field violation of ``cursor``.
Each key part is a string, an integer, a UUID (as its text) or an aware datetime (as ISO 8601 text).
This is the one cursor codec of the project: every keyset list encodes and decodes through it.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from services.runtime.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
# What a caller hears about a cursor this list did not hand out (the field is always ``cursor``).
NOT_A_CURSOR = "is not a cursor of this list"

Item = TypeVar("Item")
Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class Page(Generic[Item]):
    """One page of a list; ``next_cursor`` is None on the last page."""

    items: list[Item]
    next_cursor: str | None


def page_size(limit: int) -> int:
    """The page size a caller asked for; 0 (not given) means the default."""
    if limit == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidArgument.single("limit", f"must be between 1 and {MAX_PAGE_SIZE}")
    return limit


CursorPart = str | int | uuid.UUID | datetime


def _cursor_text(value: CursorPart) -> str | int:
    if isinstance(value, datetime):
        return value.isoformat()
    return value if isinstance(value, (str, int)) else str(value)


def encode_cursor(values: Sequence[CursorPart]) -> str:
    """The cursor after an item whose sort key is ``values``."""
    raw = json.dumps([_cursor_text(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _aware_time(text: str) -> datetime:
    """A cursor's time; one without an offset was not written by :func:`encode_cursor`."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("naive time")
    return moment


def decode_cursor(cursor: str, shape: Sequence[type]) -> tuple[Any, ...] | None:
    """The sort key a cursor carries, typed per ``shape``; None for no cursor (the first page)."""
    if not cursor:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(shape):
            raise ValueError("wrong arity")
        values: list[Any] = []
        for kind, value in zip(shape, raw, strict=True):
            if kind is uuid.UUID and isinstance(value, str):
                values.append(uuid.UUID(value))
            elif kind is datetime and isinstance(value, str):
                values.append(_aware_time(value))
            elif isinstance(value, kind) and not isinstance(value, bool):
                values.append(value)
            else:
                raise ValueError("wrong type")
    except (ValueError, binascii.Error):
        raise InvalidArgument.single("cursor", NOT_A_CURSOR) from None
    return tuple(values)


def cursor_key(cursor: str, shape: Sequence[type]) -> tuple[Any, ...]:
    """The sort key of a cursor that was given: unlike :func:`decode_cursor`, "" is a fault too."""
    key = decode_cursor(cursor, shape)
    if key is None:
        raise InvalidArgument.single("cursor", NOT_A_CURSOR)
    return key


def page_from_rows(
    rows: Sequence[Row], limit: int, make: Callable[[Row], Item], key: Callable[[Row], Sequence[Any]]
) -> Page[Item]:
    """A page from ``limit + 1`` fetched rows: the extra row only says that another page follows."""
    items = [make(row) for row in rows[:limit]]
    more = len(rows) > limit
    return Page(items, encode_cursor(key(rows[limit - 1])) if more else None)
