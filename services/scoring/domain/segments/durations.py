"""Strict ISO 8601 durations (``PT15M``, ``PT24H``, ``P30D``, ``P1W``) as exact ``timedelta``s.

Only units of fixed length are accepted: weeks, days, hours, minutes and seconds. Years and months
have no fixed length (``P1M`` is 28 to 31 days), so a window written with them would move under the
operator's feet; ``P365D`` or ``P30D`` say exactly what is meant. The total must be a whole number of
minutes, between ``MIN_DURATION`` and ``MAX_DURATION`` (see ``limits``), because behaviour is kept to
the minute.
"""

from __future__ import annotations

import re
from datetime import timedelta

from services.scoring.domain.segments.limits import MAX_DURATION, MIN_DURATION

_WEEKS = re.compile(r"P([0-9]{1,7})W")
_DAYS_AND_TIME = re.compile(
    r"P(?:([0-9]{1,7})D)?(?:T(?:([0-9]{1,9})H)?(?:([0-9]{1,9})M)?(?:([0-9]{1,11})S)?)?"
)
_BOUNDS = "between PT1M and P1098D (three years)"


def parse_duration(text: str) -> timedelta:
    """The exact length of an ISO 8601 duration; ValueError with a message an operator can act on.

    Why strict: the same text must mean the same window in the reference evaluator, the SQL compiler
    and the operator's head, so lowercase letters, fractions, signs and empty parts are refused.
    """
    weeks = _WEEKS.fullmatch(text)
    if weeks is not None:
        value = timedelta(weeks=int(weeks.group(1)))
    else:
        match = _DAYS_AND_TIME.fullmatch(text)
        if match is None or text in ("P", "PT") or text.endswith("T"):
            if re.fullmatch(r"P(?:[0-9]+Y)?(?:[0-9]+M)?(?:[0-9]+D)?(?:T.*)?", text) and re.search(
                r"[0-9]+[YM]", text.split("T")[0]
            ):
                raise ValueError("years and months have no fixed length: write days (P30D, P365D)")
            raise ValueError("must be an ISO 8601 duration such as PT15M, PT24H, P30D or P1W")
        days, hours, minutes, seconds = (int(part) if part else 0 for part in match.groups())
        value = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if value % timedelta(minutes=1):
        raise ValueError("must be a whole number of minutes (behaviour is kept to the minute)")
    if not MIN_DURATION <= value <= MAX_DURATION:
        raise ValueError(f"must be {_BOUNDS}")
    return value


def format_duration(value: timedelta) -> str:
    """The canonical text of a duration: days, then hours and minutes (``PT90M`` → ``PT1H30M``)."""
    minutes_total = value // timedelta(minutes=1)
    days, rest = divmod(minutes_total, 24 * 60)
    hours, minutes = divmod(rest, 60)
    text = "P" + (f"{days}D" if days else "")
    if hours or minutes:
        text += "T" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return text if text != "P" else "PT0M"
