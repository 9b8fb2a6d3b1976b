"""RFM grading: scores 1-5 from cut points, and the eight classic groups of docs/product.md.

Recency is days since the last paid order (fewer is better), frequency the paid orders in the window
and monetary the net spend in the window in minor units (more is better). Each has four ascending
cut points ``c1 < ... < c4`` (quintiles of the tenant, or the operator's fixed thresholds):

* ``f = 1 + #{i : frequency > c_i}``, ``m = 1 + #{i : monetary > c_i}``
* ``r = 1 + #{i : recency_days < c_i}``

so a value equal to a cut point takes the lower score. A group compares each raw value with the
tenant's split value (mean or median): R is high when ``recency_days < split`` and F and M are high
when the value is ``> split``. The store computes exactly these rules in SQL, set-based; the
functions here are the reference the tests check the SQL against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RfmGroup:
    """One of the eight groups: its stable code, the Chinese label and what is high."""

    code: str
    label: str
    r_high: bool
    f_high: bool
    m_high: bool


GROUPS: tuple[RfmGroup, ...] = (
    RfmGroup("core_value", "重要价值客户", True, True, True),
    RfmGroup("to_develop", "重要发展客户", True, False, True),
    RfmGroup("to_keep", "重要保持客户", False, True, True),
    RfmGroup("to_retain", "重要挽留客户", False, False, True),
    RfmGroup("active_low_spend", "一般价值客户", True, True, False),
    RfmGroup("new_light", "一般发展客户", True, False, False),
    RfmGroup("fading_regular", "一般保持客户", False, True, False),
    RfmGroup("lost", "一般挽留客户", False, False, False),
)
GROUP_BY_CODE = {group.code: group for group in GROUPS}
QUINTILES = (0.2, 0.4, 0.6, 0.8)


def higher_is_better_score(value: float, cuts: Sequence[float]) -> int:
    """F or M score: one plus the number of cut points the value exceeds."""
    return 1 + sum(1 for cut in cuts if value > cut)


def recency_score(days: float, cuts: Sequence[float]) -> int:
    """R score: one plus the number of cut points the days since the last order stay below."""
    return 1 + sum(1 for cut in cuts if days < cut)


def group_of(
    recency_days: float, frequency: float, monetary: float, splits: tuple[float, float, float]
) -> RfmGroup:
    """The group of a customer from raw values and the tenant's (r, f, m) split values."""
    r_high = recency_days < splits[0]
    f_high = frequency > splits[1]
    m_high = monetary > splits[2]
    return next(g for g in GROUPS if (g.r_high, g.f_high, g.m_high) == (r_high, f_high, m_high))
