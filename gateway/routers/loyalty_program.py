"""The points programme (loyalty service): ``GET|PUT /v1/loyalty/program``.

Earn rules, expiry policy, tier ladder, downgrade policy and the value of a point. Every PUT stores a
new ``version``; entries record the version they were booked under, and history is never recomputed.
A tenant that never PUT one runs the default (version 0): 1 point per whole currency unit (rounded
down), regular / silver / gold / platinum on rolling 12-month spend, points expiring at the end of the
following year. Every rule violation answers 422 naming its field (``ladder.tiers[1].threshold``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from google.protobuf import json_format
from pydantic import Field, StrictBool

from gateway.dependencies import ERRORS, Loyalty
from gateway.schemas import Int32, Int64, StrictBody
from patron.loyalty.v1 import loyalty_pb2
from services.runtime.proto_convert import optional_int, optional_text

router = APIRouter(prefix="/v1", tags=["points"])


class StreakBonusDoc(StrictBody):
    day: Int32 = Field(description="the n-th consecutive local day (2-366), increasing")
    bonus: Int64 = Field(description="extra points that day (0-100,000)")


class DailyCapsDoc(StrictBody):
    sign_in: Int64 = Field(description="most sign-in points a customer earns in a local day")
    review: Int64 = Field(description="most review points a customer earns in a local day")
    share: Int64 = Field(description="most share points a customer earns in a local day")


class EarnRulesDoc(StrictBody):
    points_per_unit: Int64 = Field(description="points per whole currency unit paid (0-1,000)")
    rounding: Literal["down", "half_up", "up"] = Field(description="how the amount becomes whole units")
    sign_in_base: Int64
    streak_bonuses: list[StreakBonusDoc] = Field(max_length=30)
    review_points: Int64
    share_points: Int64
    birthday_multiplier_percent: Int32 = Field(description="100 = x1, up to 1,000")
    daily_caps: DailyCapsDoc
    growth_per_unit: Int64 = Field(description="growth value per whole currency unit (growth ladders)")
    growth_per_review: Int64


class ExpiryDoc(StrictBody):
    kind: Literal["months_after_earn", "end_of_following_year", "never"]
    months: Int32 | None = Field(default=None, description="1-120, only for months_after_earn")


class TierBenefitsDoc(StrictBody):
    discount_percent: Int32 = Field(description="0-90 (silver 9折 = 10)")
    free_shipping: StrictBool
    priority_service: StrictBool
    birthday_coupon_template_id: str | None = Field(default=None, max_length=64)


class TierDoc(StrictBody):
    code: str = Field(max_length=32, description="1-32 of a-z 0-9 _ -")
    name: str = Field(max_length=64)
    threshold: Int64 = Field(description="minor units (spend), orders, or growth points; first tier 0")
    points_multiplier_percent: Int32 = Field(description="100 = x1, up to 1,000")
    benefits: TierBenefitsDoc


class LadderDoc(StrictBody):
    metric: Literal["spend", "orders", "growth"]
    window_months: Int32 = Field(description="rolling window, 1-36 months")
    tiers: list[TierDoc] = Field(max_length=10)


class DowngradeDoc(StrictBody):
    review_period_months: Int32 = Field(description="1-24")
    grace_days: Int32 = Field(description="0-365")


class ProgramIn(StrictBody):
    earn: EarnRulesDoc
    expiry: ExpiryDoc
    ladder: LadderDoc
    downgrade: DowngradeDoc
    point_value_minor: Int64 = Field(description="a point's value in the tenant currency's minor units")

    def to_proto(self) -> loyalty_pb2.Program:
        """The programme message: the body's fields are the message's fields (protobuf's JSON mapping)."""
        return json_format.ParseDict(self.model_dump(exclude_none=True), loyalty_pb2.Program())


class ProgramOut(ProgramIn):
    version: int = Field(description="0: the default programme; each PUT stores the next version")

    @classmethod
    def from_proto(cls, message: loyalty_pb2.Program) -> ProgramOut:
        earn, ladder = message.earn, message.ladder
        return cls.model_validate(
            {
                "version": message.version,
                "earn": {
                    "points_per_unit": earn.points_per_unit,
                    "rounding": earn.rounding,
                    "sign_in_base": earn.sign_in_base,
                    "streak_bonuses": [{"day": b.day, "bonus": b.bonus} for b in earn.streak_bonuses],
                    "review_points": earn.review_points,
                    "share_points": earn.share_points,
                    "birthday_multiplier_percent": earn.birthday_multiplier_percent,
                    "daily_caps": {
                        "sign_in": earn.daily_caps.sign_in,
                        "review": earn.daily_caps.review,
                        "share": earn.daily_caps.share,
                    },
                    "growth_per_unit": earn.growth_per_unit,
                    "growth_per_review": earn.growth_per_review,
                },
                "expiry": {
                    "kind": message.expiry.kind,
                    "months": optional_int(message.expiry, "months"),
                },
                "ladder": {
                    "metric": ladder.metric,
                    "window_months": ladder.window_months,
                    "tiers": [
                        {
                            "code": t.code,
                            "name": t.name,
                            "threshold": t.threshold,
                            "points_multiplier_percent": t.points_multiplier_percent,
                            "benefits": {
                                "discount_percent": t.benefits.discount_percent,
                                "free_shipping": t.benefits.free_shipping,
                                "priority_service": t.benefits.priority_service,
                                "birthday_coupon_template_id": optional_text(
                                    t.benefits, "birthday_coupon_template_id"
                                ),
                            },
                        }
                        for t in ladder.tiers
                    ],
                },
                "downgrade": {
                    "review_period_months": message.downgrade.review_period_months,
                    "grace_days": message.downgrade.grace_days,
                },
                "point_value_minor": message.point_value_minor,
            }
        )


@router.get("/loyalty/program", response_model=ProgramOut, responses=ERRORS)
async def get_program(
    loyalty: Loyalty,
    version: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="a stored version")] = None,
) -> ProgramOut:
    """The programme the tenant runs now, or an earlier ``version`` (0 = the default)."""
    request = loyalty_pb2.GetProgramRequest(version=version or 0, specific_version=version is not None)
    return ProgramOut.from_proto(await loyalty.program.GetProgram(request))


@router.put("/loyalty/program", response_model=ProgramOut, responses=ERRORS)
async def put_program(body: ProgramIn, loyalty: Loyalty) -> ProgramOut:
    """Store a new version of the programme (the whole document); 422 names every field at fault."""
    request = loyalty_pb2.PutProgramRequest(program=body.to_proto())
    return ProgramOut.from_proto(await loyalty.program.PutProgram(request))
