"""CouponService: templates, issuing, exchanging points, listing and redeeming. Converts and delegates
to ``services.loyalty.domain.coupon_desk``."""

from __future__ import annotations

from datetime import datetime

from grpc import aio

from patron.loyalty.v1 import coupons_pb2, coupons_pb2_grpc
from services.loyalty.domain.coupon_batches import BatchItem
from services.loyalty.domain.coupon_desk import CouponDesk
from services.loyalty.domain.coupons import Coupon, CouponTemplate, TemplateSpec
from services.runtime.proto_convert import optional_int, optional_time, set_time, to_timestamp
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

COUPON_SERVICE = "patron.loyalty.v1.CouponService"


def spec_from_proto(spec: coupons_pb2.CouponTemplateSpec) -> TemplateSpec:
    """The template a request describes (the desk validates it)."""
    return TemplateSpec(
        name=spec.name,
        kind=spec.kind,
        threshold_minor=optional_int(spec, "threshold_minor"),
        discount_minor=optional_int(spec, "discount_minor"),
        percent_off=optional_int(spec, "percent_off"),
        max_discount_minor=optional_int(spec, "max_discount_minor"),
        valid_from=optional_time(spec, "valid_from"),
        valid_until=optional_time(spec, "valid_until"),
        valid_days=optional_int(spec, "valid_days"),
        per_customer_limit=spec.per_customer_limit or 1,
        budget=optional_int(spec, "budget"),
        points_price=optional_int(spec, "points_price"),
    )


def template_to_proto(template: CouponTemplate) -> coupons_pb2.CouponTemplate:
    spec = template.spec
    message = coupons_pb2.CouponTemplate(
        template_id=str(template.template_id),
        spec=coupons_pb2.CouponTemplateSpec(
            name=spec.name,
            kind=spec.kind,
            threshold_minor=spec.threshold_minor,
            discount_minor=spec.discount_minor,
            percent_off=spec.percent_off,
            max_discount_minor=spec.max_discount_minor,
            valid_days=spec.valid_days,
            per_customer_limit=spec.per_customer_limit,
            budget=spec.budget,
            points_price=spec.points_price,
        ),
        issued=template.issued_count,
        redeemed=template.redeemed_count,
        redemption_rate=template.redemption_rate,
        remaining_budget=template.remaining_budget,
        created_at=to_timestamp(template.created_at),
    )
    set_time(message.spec, "valid_from", spec.valid_from)
    set_time(message.spec, "valid_until", spec.valid_until)
    return message


def coupon_to_proto(coupon: Coupon, now: datetime) -> coupons_pb2.Coupon:
    """The coupon as a client sees it, its status as of ``now``."""
    message = coupons_pb2.Coupon(
        code=coupon.code,
        template_id=str(coupon.template_id),
        customer_id=str(coupon.customer_id) if coupon.customer_id is not None else "",
        kind=coupon.kind,
        status=coupon.status(now),
        source=coupon.source,
        valid_from=to_timestamp(coupon.valid_from),
        valid_until=to_timestamp(coupon.valid_until),
        issued_at=to_timestamp(coupon.issued_at),
        order_id=coupon.order_id or "",
        discount_minor=coupon.discount_minor,
    )
    set_time(message, "redeemed_at", coupon.redeemed_at)
    return message


class CouponServicer(coupons_pb2_grpc.CouponServiceServicer):
    def __init__(self, desk: CouponDesk) -> None:
        self._desk = desk

    async def CreateTemplate(
        self, request: coupons_pb2.CreateCouponTemplateRequest, context: aio.ServicerContext
    ) -> coupons_pb2.CouponTemplate:
        return template_to_proto(
            await self._desk.create_template(current_tenant(), spec_from_proto(request.spec))
        )

    async def GetTemplate(
        self, request: coupons_pb2.GetCouponTemplateRequest, context: aio.ServicerContext
    ) -> coupons_pb2.CouponTemplate:
        return template_to_proto(await self._desk.template(current_tenant(), request.template_id))

    async def ListTemplates(
        self, request: coupons_pb2.ListCouponTemplatesRequest, context: aio.ServicerContext
    ) -> coupons_pb2.ListCouponTemplatesResponse:
        page = await self._desk.templates(current_tenant(), request.limit, request.cursor)
        return coupons_pb2.ListCouponTemplatesResponse(
            templates=[template_to_proto(t) for t in page.items], next_cursor=page.next_cursor or ""
        )

    async def IssueCoupon(
        self, request: coupons_pb2.IssueCouponRequest, context: aio.ServicerContext
    ) -> coupons_pb2.IssueCouponResponse:
        issued = await self._desk.issue(
            current_tenant(),
            request.customer_id,
            request.template_id,
            request.idempotency_key,
        )
        return coupons_pb2.IssueCouponResponse(
            coupon=coupon_to_proto(issued.result.coupon, issued.now), replayed=issued.result.replayed
        )

    async def IssueCoupons(
        self, request: coupons_pb2.IssueCouponsRequest, context: aio.ServicerContext
    ) -> coupons_pb2.IssueCouponsResponse:
        items = [BatchItem(i.customer_id, i.template_id, i.idempotency_key) for i in request.items]
        issued = await self._desk.issue_many(current_tenant(), items)
        return coupons_pb2.IssueCouponsResponse(
            results=[
                coupons_pb2.IssueCouponsResult(
                    coupon=coupon_to_proto(o.coupon, issued.now) if o.coupon is not None else None,
                    replayed=o.replayed,
                    refused_reason=o.refused_reason or "",
                )
                for o in issued.result
            ]
        )

    async def ExchangePoints(
        self, request: coupons_pb2.ExchangePointsRequest, context: aio.ServicerContext
    ) -> coupons_pb2.ExchangePointsResponse:
        exchanged = await self._desk.exchange(
            current_tenant(),
            request.customer_id,
            request.template_id,
            request.idempotency_key,
        )
        result = exchanged.result
        return coupons_pb2.ExchangePointsResponse(
            coupon=coupon_to_proto(result.coupon, exchanged.now),
            points_spent=result.points_spent,
            entry_id=str(result.entry_id),
            balance=result.balance,
            replayed=result.replayed,
        )

    async def ListCoupons(
        self, request: coupons_pb2.ListCouponsRequest, context: aio.ServicerContext
    ) -> coupons_pb2.ListCouponsResponse:
        listed = await self._desk.customer_coupons(
            current_tenant(),
            request.customer_id,
            request.status,
            request.limit,
            request.cursor,
        )
        return coupons_pb2.ListCouponsResponse(
            coupons=[coupon_to_proto(c, listed.now) for c in listed.result.items],
            next_cursor=listed.result.next_cursor or "",
        )

    async def RedeemCoupon(
        self, request: coupons_pb2.RedeemCouponRequest, context: aio.ServicerContext
    ) -> coupons_pb2.RedeemCouponResponse:
        redeemed = await self._desk.redeem(
            current_tenant(), request.code, request.order_id, request.amount_minor
        )
        redemption = redeemed.result
        return coupons_pb2.RedeemCouponResponse(
            coupon=coupon_to_proto(redemption.coupon, redeemed.now),
            discount_minor=redemption.discount_minor,
            payable_minor=request.amount_minor - redemption.discount_minor,
            currency=redemption.currency,
        )


def coupons_registration(desk: CouponDesk) -> Registration:
    """The registration the loyalty service adds to serve CouponService."""
    return Registration(
        coupons_pb2_grpc.add_CouponServiceServicer_to_server, CouponServicer(desk), COUPON_SERVICE
    )
