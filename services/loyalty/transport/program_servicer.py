"""ProgramService: the programme as proto ⇄ domain, delegating to the programme store."""

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
from services.loyalty.store.programs import ProgramCache, current_program, program_version, store_program
from services.runtime.database import Database
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

PROGRAM_SERVICE = "patron.loyalty.v1.ProgramService"


def program_from_proto(message: loyalty_pb2.Program) -> Program:
    """The domain programme a request describes (validated by the store before it is kept)."""
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
            months=message.expiry.months if message.expiry.HasField("months") else None,
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
                        birthday_coupon_template_id=t.benefits.birthday_coupon_template_id
                        if t.benefits.HasField("birthday_coupon_template_id")
                        else None,
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
    if program.expiry.months is not None:
        expiry.months = program.expiry.months
    tiers = []
    for tier in ladder.tiers:
        benefits = loyalty_pb2.TierBenefits(
            discount_percent=tier.benefits.discount_percent,
            free_shipping=tier.benefits.free_shipping,
            priority_service=tier.benefits.priority_service,
        )
        if tier.benefits.birthday_coupon_template_id is not None:
            benefits.birthday_coupon_template_id = tier.benefits.birthday_coupon_template_id
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
    def __init__(self, database: Database, programs: ProgramCache) -> None:
        self._database = database
        self._programs = programs

    async def GetProgram(
        self, request: loyalty_pb2.GetProgramRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.Program:
        async with self._database.read() as connection:
            if request.specific_version:
                program = await program_version(connection, current_tenant(), request.version)
            else:
                program = await current_program(connection, current_tenant())
        return program_to_proto(program)

    async def PutProgram(
        self, request: loyalty_pb2.PutProgramRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.Program:
        async with self._database.transaction() as connection:
            program = await store_program(connection, current_tenant(), program_from_proto(request.program))
        self._programs.invalidate(current_tenant())  # other replicas: the version check, see ProgramCache
        return program_to_proto(program)


def program_registration(database: Database, programs: ProgramCache) -> Registration:
    return Registration(
        loyalty_pb2_grpc.add_ProgramServiceServicer_to_server,
        ProgramServicer(database, programs),
        PROGRAM_SERVICE,
    )
