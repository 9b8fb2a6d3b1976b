"""ISO 8601 durations of days, hours and minutes (``P7D``, ``PT24H``, ``PT90M``), as the policy,
journeys and campaigns write them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


def parse_duration(text: Any) -> timedelta | None:
    """The duration ``text`` writes, else None (weeks, months, seconds and fractions are not taken:
    every window in Patron is a whole number of minutes)."""
    match = _DURATION.match(text) if isinstance(text, str) and text not in ("P", "PT") else None
    if match is None or text.endswith("T"):
        return None
    days, hours, minutes = (int(part or 0) for part in match.groups())
    try:
        return timedelta(days=days, hours=hours, minutes=minutes)
    except OverflowError:  # beyond timedelta's range (a billion days): beyond every window's bound too
        return None
