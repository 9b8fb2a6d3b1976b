"""Collecting the faults of a condition, each named by its path, with a bound on how many are kept.

Shared by the tree parser and the value checks so that every fault of a document is reported in one
answer (``condition.all[2].op``), yet a hostile document cannot make that answer unbounded.
"""

from __future__ import annotations

import json
import re
from typing import Any

from services.runtime.errors import FieldViolation, InvalidArgument
from services.scoring.domain.segments.limits import MAX_REPORTED_FAULTS, MAX_STRING_LENGTH

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class Faults:
    """The violations found so far; past ``MAX_REPORTED_FAULTS`` only a note that more exist."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.violations: list[FieldViolation] = []
        self.overflowed = False

    @property
    def full(self) -> bool:
        """True once no more faults would be listed: the parser stops descending."""
        return self.overflowed

    def add(self, path: str, message: str) -> None:
        if len(self.violations) < MAX_REPORTED_FAULTS:
            self.violations.append(FieldViolation(path, message))
        else:
            self.overflowed = True

    def raise_if_any(self) -> None:
        """Raise InvalidArgument with every listed fault (and the note that more were not listed)."""
        if self.overflowed:
            self.violations.append(
                FieldViolation(self.root, f"has more faults; the first {MAX_REPORTED_FAULTS} are listed")
            )
        if self.violations:
            raise InvalidArgument(self.violations)


def key_path(path: str, key: object) -> str:
    """The path of a member: ``a.b`` for a plain name, ``a["odd key"]`` otherwise (truncated)."""
    if isinstance(key, str) and _NAME.fullmatch(key):
        return f"{path}.{key}"
    text = key if isinstance(key, str) else repr(key)
    return f"{path}[{json.dumps(text[:64], ensure_ascii=False)}]"


def text(value: Any, path: str, faults: Faults, *, limit: int = MAX_STRING_LENGTH) -> str | None:
    """A text value: 1 to ``limit`` characters, no NUL; None (and a fault) otherwise.

    Why no NUL: PostgreSQL text cannot hold it, so the SQL evaluator could not agree with this one.
    """
    if not isinstance(value, str):
        faults.add(path, "must be text")
        return None
    if not 1 <= len(value) <= limit:
        faults.add(path, f"must be 1 to {limit} characters")
        return None
    if "\x00" in value:
        faults.add(path, "must not contain NUL characters")
        return None
    return value


def integer(value: Any, path: str, faults: Faults, low: int, high: int) -> int | None:
    """A whole number in ``[low, high]`` (``true``/``false`` are not numbers); None otherwise."""
    if not isinstance(value, int) or isinstance(value, bool):
        faults.add(path, "must be a whole number")
        return None
    if not low <= value <= high:
        faults.add(path, f"must be between {low} and {high}")
        return None
    return value
