"""A use case's result together with the moment it was decided at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class AsOf(Generic[Result]):
    """``result`` as of ``now``: what a client is shown depends on it (a coupon's status, the time
    a report was drawn)."""

    result: Result
    now: datetime
