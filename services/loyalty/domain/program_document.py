"""A programme as a JSON document: how versions are stored, and the shape the REST API shows.

The document is written only from a validated :class:`Program`, so reading it back trusts it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from services.loyalty.domain.program import (
    DailyCaps,
    DowngradePolicy,
    EarnRules,
    ExpiryPolicy,
    Program,
    StreakBonus,
    Tier,
    TierBenefits,
    TierLadder,
)


def program_to_document(program: Program) -> dict[str, Any]:
    """The programme without its version (the version is the key it is stored under)."""
    document = asdict(program)
    document.pop("version")
    return document


def program_from_document(version: int, document: dict[str, Any]) -> Program:
    """Rebuild a stored version."""
    earn = document["earn"]
    ladder = document["ladder"]
    return Program(
        version=version,
        earn=EarnRules(
            points_per_unit=earn["points_per_unit"],
            rounding=earn["rounding"],
            sign_in_base=earn["sign_in_base"],
            streak_bonuses=tuple(StreakBonus(**b) for b in earn["streak_bonuses"]),
            review_points=earn["review_points"],
            share_points=earn["share_points"],
            birthday_multiplier_percent=earn["birthday_multiplier_percent"],
            daily_caps=DailyCaps(**earn["daily_caps"]),
            growth_per_unit=earn["growth_per_unit"],
            growth_per_review=earn["growth_per_review"],
        ),
        expiry=ExpiryPolicy(**document["expiry"]),
        ladder=TierLadder(
            metric=ladder["metric"],
            window_months=ladder["window_months"],
            tiers=tuple(
                Tier(
                    code=t["code"],
                    name=t["name"],
                    threshold=t["threshold"],
                    points_multiplier_percent=t["points_multiplier_percent"],
                    benefits=TierBenefits(**t["benefits"]),
                )
                for t in ladder["tiers"]
            ),
        ),
        downgrade=DowngradePolicy(**document["downgrade"]),
        point_value_minor=document["point_value_minor"],
    )
