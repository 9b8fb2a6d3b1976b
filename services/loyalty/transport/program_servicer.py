"""ProgramService: the programme as proto ⇄ domain, delegating to ``services.loyalty.domain.program_desk``."""

from __future__ import annotations

from grpc import aio

from patron.loyalty.v1 import loyalty_pb2, loyalty_pb2_grpc
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
from services.loyalty.domain.program_desk import ProgramDesk
from services.runtime.proto_convert import optional_int, optional_text, set_optional
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

PROGRAM_SERVICE = "patron.loyalty.v1.ProgramService"


def program_from_proto(message: loyalty_pb2.Program) -> Program:
    """The domain programme a request describes (the desk validates it before it is kept)."""
    earn, ladder = message.earn, message.ladder
    return Program(
        version=message.version,
        earn=EarnRules(
            points_per_unit=earn.points_per_unit,
            rounding=earn.rounding,  # type: ignore[arg-type]  # validated by validate_program
            sign_in_base=earn.sign_in_base,
            streak_bonuses=tuple(StreakBonus(b.day, b.bonus) for b in earn.streak_bonuses),
            review_points=earn.review_points,
            share_points=earn.share_points,
            birthday_multiplier_percent=earn.birthday_multiplier_percent,
            daily_caps=DailyCaps(earn.daily_caps.sign_in, earn.daily_caps.review, earn.daily_caps.share),
            growth_per_unit=earn.growth_per_unit,
            growth_per_review=earn.growth_per_review,
        ),
        expiry=ExpiryPolicy(
            kind=message.expiry.kind,  # type: ignore[arg-type]
            months=optional_int(message.expiry, "months"),
        ),
        ladder=TierLadder(
            metric=ladder.metric,  # type: ignore[arg-type]
            window_months=ladder.window_months,
            tiers=tuple(
                Tier(
                    code=t.code,
                    name=t.name,
                    threshold=t.threshold,
                    points_multiplier_percent=t.points_multiplier_percent,
                    benefits=TierBenefits(
                        discount_percent=t.benefits.discount_percent,
                        free_shipping=t.benefits.free_shipping,
                        priority_service=t.benefits.priority_service,
                        birthday_coupon_template_id=optional_text(t.benefits, "birthday_coupon_template_id"),
                    ),
                )
                for t in ladder.tiers
            ),
        ),
        downgrade=DowngradePolicy(message.downgrade.review_period_months, message.downgrade.grace_days),
        point_value_minor=message.point_value_minor,
    )


def program_to_proto(program: Program) -> loyalty_pb2.Program:
    earn, ladder = program.earn, program.ladder
    expiry = loyalty_pb2.ExpiryPolicy(kind=program.expiry.kind)
    set_optional(expiry, "months", program.expiry.months)
    tiers = []
    for tier in ladder.tiers:
        benefits = loyalty_pb2.TierBenefits(
            discount_percent=tier.benefits.discount_percent,
            free_shipping=tier.benefits.free_shipping,
            priority_service=tier.benefits.priority_service,
        )
        set_optional(benefits, "birthday_coupon_template_id", tier.benefits.birthday_coupon_template_id)
        tiers.append(
            loyalty_pb2.Tier(
                code=tier.code,
                name=tier.name,
                threshold=tier.threshold,
                points_multiplier_percent=tier.points_multiplier_percent,
                benefits=benefits,
            )
        )
    return loyalty_pb2.Program(
        version=program.version,
        earn=loyalty_pb2.EarnRules(
            points_per_unit=earn.points_per_unit,
            rounding=earn.rounding,
            sign_in_base=earn.sign_in_base,
            streak_bonuses=[loyalty_pb2.StreakBonus(day=b.day, bonus=b.bonus) for b in earn.streak_bonuses],
            review_points=earn.review_points,
            share_points=earn.share_points,
            birthday_multiplier_percent=earn.birthday_multiplier_percent,
            daily_caps=loyalty_pb2.DailyCaps(
                sign_in=earn.daily_caps.sign_in, review=earn.daily_caps.review, share=earn.daily_caps.share
            ),
            growth_per_unit=earn.growth_per_unit,
            growth_per_review=earn.growth_per_review,
        ),
        expiry=expiry,
        ladder=loyalty_pb2.TierLadder(metric=ladder.metric, window_months=ladder.window_months, tiers=tiers),
        downgrade=loyalty_pb2.DowngradePolicy(
            review_period_months=program.downgrade.review_period_months,
            grace_days=program.downgrade.grace_days,
        ),
        point_value_minor=program.point_value_minor,
    )


class ProgramServicer(loyalty_pb2_grpc.ProgramServiceServicer):
    def __init__(self, desk: ProgramDesk) -> None:
        self._desk = desk

    async def GetProgram(
        self, request: loyalty_pb2.GetProgramRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.Program:
        version = request.version if request.specific_version else None
        return program_to_proto(await self._desk.program(current_tenant(), version))

    async def PutProgram(
        self, request: loyalty_pb2.PutProgramRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.Program:
        return program_to_proto(await self._desk.put(current_tenant(), program_from_proto(request.program)))


def program_registration(desk: ProgramDesk) -> Registration:
    """The registration the loyalty service adds to serve ProgramService."""
    return Registration(
        loyalty_pb2_grpc.add_ProgramServiceServicer_to_server, ProgramServicer(desk), PROGRAM_SERVICE
    )
