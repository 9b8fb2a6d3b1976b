"""The points programme (loyalty service): ``GET|PUT /v1/loyalty/program``.

Earn rules, expiry policy, tier ladder, downgrade policy and the value of a point. Every PUT stores a
new ``version``; entries record the version they were booked under, and history is never recomputed.
A tenant that never PUT one runs the default (version 0): 1 point per whole currency unit (rounded
down), regular / silver / gold / platinum on rolling 12-month spend, points expiring at the end of the
following year. Every rule violation answers 422 naming its field (``ladder.tiers[1].threshold``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from google.protobuf import json_format
from pydantic import ConfigDict, Field, StrictBool

from gateway.auth import scoped
from gateway.dependencies import ERRORS, Loyalty
from gateway.limits import TRIMMED, documented
from gateway.schemas import Int32, Int64, StrictBody
from patron.loyalty.v1 import loyalty_pb2
from services.loyalty.domain import program as rules
from services.runtime.proto_convert import optional_int, optional_text

router = APIRouter(prefix="/v1", tags=["points"])


def _range(low: int, high: int, description: str | None = None) -> Any:
    """A bound the loyalty service checks with the programme's other rules (every fault named)."""
    return Field(description=description, json_schema_extra={"minimum": low, "maximum": high})


Award = Annotated[Int64, documented(minimum=0, maximum=rules.MAX_AWARD_POINTS)]
Cap = Annotated[Int64, documented(minimum=0, maximum=rules.MAX_DAILY_CAP)]
Growth = Annotated[Int64, documented(minimum=0, maximum=rules.MAX_GROWTH)]
Multiplier = Annotated[Int32, documented(minimum=100, maximum=rules.MAX_MULTIPLIER_PERCENT)]
# months is required for months_after_earn and absent for the other kinds.
_MONTHS_RULE: dict[str, Any] = {
    "if": {"properties": {"kind": {"const": "months_after_earn"}}, "required": ["kind"]},
    "then": {"required": ["months"], "properties": {"months": {"type": "integer"}}},
    "else": {"properties": {"months": {"type": "null"}}},
}


class StreakBonusDoc(StrictBody):
    day: Int32 = _range(2, rules.MAX_STREAK_DAY, "the n-th consecutive local day, increasing")
    bonus: Award = Field(description="extra points that day")


class DailyCapsDoc(StrictBody):
    sign_in: Cap = Field(description="most sign-in points a customer earns in a local day")
    review: Cap = Field(description="most review points a customer earns in a local day")
    share: Cap = Field(description="most share points a customer earns in a local day")


class EarnRulesDoc(StrictBody):
    points_per_unit: Int64 = _range(0, rules.MAX_POINTS_PER_UNIT, "points per whole currency unit paid")
    rounding: rules.Rounding = Field(description="how the amount becomes whole units")
    sign_in_base: Award
    streak_bonuses: list[StreakBonusDoc] = Field(max_length=rules.MAX_STREAK_BONUSES)
    review_points: Award
    share_points: Award
    birthday_multiplier_percent: Multiplier = Field(description="100 = x1")
    daily_caps: DailyCapsDoc
    growth_per_unit: Growth = Field(description="growth value per whole currency unit (growth ladders)")
    growth_per_review: Growth


class ExpiryDoc(StrictBody):
    model_config = ConfigDict(json_schema_extra=_MONTHS_RULE)

    kind: rules.ExpiryKind
    months: Annotated[Int32, documented(minimum=1, maximum=rules.MAX_EXPIRY_MONTHS)] | None = Field(
        default=None, description="only for months_after_earn"
    )


class TierBenefitsDoc(StrictBody):
    discount_percent: Int32 = _range(0, rules.MAX_DISCOUNT_PERCENT, "silver 9折 = 10")
    free_shipping: StrictBool
    priority_service: StrictBool
    birthday_coupon_template_id: str | None = Field(
        default=None, max_length=rules.MAX_TEMPLATE_ID, json_schema_extra={"minLength": 1}
    )


class TierDoc(StrictBody):
    code: str = Field(max_length=32, json_schema_extra={"pattern": rules.TIER_CODE.pattern})
    name: str = Field(max_length=rules.MAX_TIER_NAME, json_schema_extra={"minLength": 1, "pattern": TRIMMED})
    threshold: Int64 = _range(
        0,
        rules.MAX_THRESHOLD,
        "minor units (spend), orders, or growth points; 0 for the first tier, then increasing",
    )
    points_multiplier_percent: Multiplier = Field(description="100 = x1")
    benefits: TierBenefitsDoc


class LadderDoc(StrictBody):
    metric: rules.TierMetric
    window_months: Int32 = _range(1, rules.MAX_WINDOW_MONTHS, "rolling window in months")
    tiers: list[TierDoc] = Field(max_length=rules.MAX_TIERS, json_schema_extra={"minItems": 1})


class DowngradeDoc(StrictBody):
    review_period_months: Int32 = _range(1, rules.MAX_REVIEW_PERIOD_MONTHS)
    grace_days: Int32 = _range(0, rules.MAX_GRACE_DAYS)


class ProgramIn(StrictBody):
    earn: EarnRulesDoc
    expiry: ExpiryDoc
    ladder: LadderDoc
    downgrade: DowngradeDoc
    point_value_minor: Int64 = _range(
        0, rules.MAX_POINT_VALUE_MINOR, "a point's value in the tenant currency's minor units"
    )

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


@router.get("/loyalty/program", response_model=ProgramOut, responses=ERRORS, **scoped("operate"))
async def get_program(
    loyalty: Loyalty,
    version: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="a stored version")] = None,
) -> ProgramOut:
    """The programme the tenant runs now, or an earlier ``version`` (0 = the default)."""
    request = loyalty_pb2.GetProgramRequest(version=version or 0, specific_version=version is not None)
    return ProgramOut.from_proto(await loyalty.program.GetProgram(request))


@router.put("/loyalty/program", response_model=ProgramOut, responses=ERRORS, **scoped("operate"))
async def put_program(body: ProgramIn, loyalty: Loyalty) -> ProgramOut:
    """Store a new version of the programme (the whole document); 422 names every field at fault."""
    request = loyalty_pb2.PutProgramRequest(program=body.to_proto())
    return ProgramOut.from_proto(await loyalty.program.PutProgram(request))
