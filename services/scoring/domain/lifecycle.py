"""Lifecycle stages (客户生命周期) and the rule that places a customer, relative to their own rhythm.

* ``acquisition``: known (registered) but no paid order yet (fully refunded orders do not count).
* Otherwise ``idle`` is the days since the customer was last seen (a paid order or any recorded
  behaviour event), in the tenant's local days. The limits follow the customer's own rhythm when
  there is one: a repeat buyer (two orders or more) with mean gap ``g`` days has
  ``decline_limit = decline_gap_multiple * max(g, min_gap_days)`` and
  ``churn_limit = churn_gap_multiple * max(g, min_gap_days)``; a one-order customer has the tenant's
  ``decline_days`` and ``churn_days``.
* ``churned`` when ``idle > churn_limit``, else ``decline`` when ``idle > decline_limit``, else
  ``mature`` when the customer has ``mature_orders`` paid orders or more, else ``growth``.

The store evaluates the same rule in SQL for every customer at once; ``stage_of`` is the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.scoring.domain.config import ScoringConfig

STAGES = ("acquisition", "growth", "mature", "decline", "churned")


@dataclass(frozen=True, slots=True)
class StageDecision:
    """A stage and the rule that decided it, in words an operator can check."""

    stage: str
    reason: str


def limits(config: ScoringConfig, order_count: int, mean_gap_days: float | None) -> tuple[float, float]:
    """The (decline, churn) limits in days for a customer with this rhythm."""
    if order_count >= 2 and mean_gap_days is not None:
        gap = max(mean_gap_days, float(config.min_gap_days))
        return config.decline_gap_multiple * gap, config.churn_gap_multiple * gap
    return float(config.decline_days), float(config.churn_days)


def stage_of(
    config: ScoringConfig, order_count: int, mean_gap_days: float | None, idle_days: int | None
) -> StageDecision:
    """The stage of one customer (reference implementation of the SQL rule)."""
    if order_count == 0 or idle_days is None:
        return StageDecision("acquisition", "no paid order")
    decline, churn = limits(config, order_count, mean_gap_days)
    if idle_days > churn:
        return StageDecision("churned", f"idle {idle_days} d > churn limit {churn:.1f} d")
    if idle_days > decline:
        return StageDecision("decline", f"idle {idle_days} d > decline limit {decline:.1f} d")
    if order_count >= config.mature_orders:
        return StageDecision("mature", f"{order_count} orders >= {config.mature_orders}")
    return StageDecision("growth", f"{order_count} orders < {config.mature_orders}")
