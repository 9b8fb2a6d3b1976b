"""CouponService: templates, issuing, exchanging points, listing and redeeming. Converts and delegates.

Customer ids are resolved through the customer directory first (a merged-away id acts on the
survivor; unknown, erased or another tenant's is NOT_FOUND). A client's idempotency key is stored
scoped to the operation (``issue`` / ``exchange``), hashed, so keys can never collide across them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from google.protobuf.message import Message
from grpc import aio

from patron.loyalty.v1 import coupons_pb2, coupons_pb2_grpc
from services.loyalty.domain.coupons import (
    COUPON_STATUSES,
    Coupon,
    CouponTemplate,
    TemplateSpec,
    normalise_code,
    validate_redemption,
    validate_template,
)
from services.loyalty.domain.customers import parse_customer_id
from services.loyalty.store import coupons as store
from services.loyalty.store.customer_directory import CustomerDirectory
from services.loyalty.store.ledger import IdempotencyRace
from services.loyalty.transport.membership_servicer import timestamp
from services.runtime.database import Database
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.events.outbox import Outbox
from services.runtime.paging import page_size
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

COUPON_SERVICE = "patron.loyalty.v1.CouponService"


def _optional(message: Message, field: str) -> int | None:
    return int(getattr(message, field)) if message.HasField(field) else None


def _moment(message: Message, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    try:
        return getattr(message, field).ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]
    except (ValueError, OverflowError):
        raise InvalidArgument.single(field, "must be a valid timestamp") from None


def spec_from_proto(spec: coupons_pb2.CouponTemplateSpec) -> TemplateSpec:
    return TemplateSpec(
        name=spec.name,
        kind=spec.kind,
        threshold_minor=_optional(spec, "threshold_minor"),
        discount_minor=_optional(spec, "discount_minor"),
        percent_off=_optional(spec, "percent_off"),
        max_discount_minor=_optional(spec, "max_discount_minor"),
        valid_from=_moment(spec, "valid_from"),
        valid_until=_moment(spec, "valid_until"),
        valid_days=_optional(spec, "valid_days"),
        per_customer_limit=spec.per_customer_limit or 1,
        budget=_optional(spec, "budget"),
        points_price=_optional(spec, "points_price"),
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
        created_at=timestamp(template.created_at),
    )
    if spec.valid_from is not None:
        message.spec.valid_from.CopyFrom(timestamp(spec.valid_from))
    if spec.valid_until is not None:
        message.spec.valid_until.CopyFrom(timestamp(spec.valid_until))
    return message


def coupon_to_proto(coupon: Coupon, now: datetime) -> coupons_pb2.Coupon:
    message = coupons_pb2.Coupon(
        code=coupon.code,
        template_id=str(coupon.template_id),
        customer_id=str(coupon.customer_id) if coupon.customer_id is not None else "",
        kind=coupon.kind,
        status=coupon.status(now),
        source=coupon.source,
        valid_from=timestamp(coupon.valid_from),
        valid_until=timestamp(coupon.valid_until),
        issued_at=timestamp(coupon.issued_at),
        order_id=coupon.order_id or "",
        discount_minor=coupon.discount_minor,
    )
    if coupon.redeemed_at is not None:
        message.redeemed_at.CopyFrom(timestamp(coupon.redeemed_at))
    return message


class CouponServicer(coupons_pb2_grpc.CouponServiceServicer):
    def __init__(self, database: Database, outbox: Outbox, directory: CustomerDirectory) -> None:
        self._database = database
        self._outbox = outbox
        self._directory = directory

    async def CreateTemplate(
        self, request: coupons_pb2.CreateCouponTemplateRequest, context: aio.ServicerContext
    ) -> coupons_pb2.CouponTemplate:
        spec = validate_template(spec_from_proto(request.spec), datetime.now(UTC))
        async with self._database.transaction() as connection:
            template = await store.create_template(connection, current_tenant(), spec)
        return template_to_proto(template)

    async def GetTemplate(
        self, request: coupons_pb2.GetCouponTemplateRequest, context: aio.ServicerContext
    ) -> coupons_pb2.CouponTemplate:
        async with self._database.read() as connection:
            template = await store.get_template(connection, current_tenant(), request.template_id)
        return template_to_proto(template)

    async def ListTemplates(
        self, request: coupons_pb2.ListCouponTemplatesRequest, context: aio.ServicerContext
    ) -> coupons_pb2.ListCouponTemplatesResponse:
        limit = page_size(request.limit)
        async with self._database.read() as connection:
            page = await store.templates_page(
                connection, current_tenant(), limit=limit, cursor=request.cursor
            )
        return coupons_pb2.ListCouponTemplatesResponse(
            templates=[template_to_proto(t) for t in page.items], next_cursor=page.next_cursor or ""
        )

    async def IssueCoupon(
        self, request: coupons_pb2.IssueCouponRequest, context: aio.ServicerContext
    ) -> coupons_pb2.IssueCouponResponse:
        tenant = current_tenant()
        key = store.scoped_key("issue", request.idempotency_key) if request.idempotency_key else None
        now = datetime.now(UTC)
        async with self._database.transaction() as connection:
            customer = await self._directory.resolve(
                connection, tenant, parse_customer_id(request.customer_id)
            )
            template = await store.get_template(
                connection, tenant, request.template_id, body_field="template_id"
            )
            issued = await store.issue_coupon(
                connection,
                self._outbox,
                tenant_id=tenant,
                customer_id=customer,
                template=template,
                issue_key=key,
                source="api",
                now=now,
            )
        return coupons_pb2.IssueCouponResponse(
            coupon=coupon_to_proto(issued.coupon, now), replayed=issued.replayed
        )

    async def _exchange(self, request: coupons_pb2.ExchangePointsRequest, key: str) -> store.Exchanged:
        tenant = current_tenant()
        async with self._database.transaction() as connection:
            customer = await self._directory.resolve(
                connection, tenant, parse_customer_id(request.customer_id)
            )
            template = await store.get_template(
                connection, tenant, request.template_id, body_field="template_id"
            )
            return await store.exchange_points(
                connection,
                self._outbox,
                tenant_id=tenant,
                customer_id=customer,
                template=template,
                idempotency_key=key,
                now=datetime.now(UTC),
            )

    async def ExchangePoints(
        self, request: coupons_pb2.ExchangePointsRequest, context: aio.ServicerContext
    ) -> coupons_pb2.ExchangePointsResponse:
        key = request.idempotency_key or uuid.uuid4().hex
        try:
            exchanged = await self._exchange(request, key)
        except IdempotencyRace:  # a concurrent request with the key booked first: answer its result
            exchanged = await self._exchange(request, key)
        return coupons_pb2.ExchangePointsResponse(
            coupon=coupon_to_proto(exchanged.coupon, datetime.now(UTC)),
            points_spent=exchanged.points_spent,
            entry_id=str(exchanged.entry_id),
            balance=exchanged.balance,
            replayed=exchanged.replayed,
        )

    async def ListCoupons(
        self, request: coupons_pb2.ListCouponsRequest, context: aio.ServicerContext
    ) -> coupons_pb2.ListCouponsResponse:
        if request.status and request.status not in COUPON_STATUSES:
            raise InvalidArgument.single("status", f"must be one of {', '.join(COUPON_STATUSES)}")
        tenant = current_tenant()
        limit = page_size(request.limit)
        now = datetime.now(UTC)
        async with self._database.transaction() as connection:
            customer = await self._directory.resolve(
                connection, tenant, parse_customer_id(request.customer_id)
            )
            page = await store.customer_coupons_page(
                connection,
                tenant_id=tenant,
                customer_id=customer,
                status=request.status or None,
                now=now,
                limit=limit,
                cursor=request.cursor,
            )
        return coupons_pb2.ListCouponsResponse(
            coupons=[coupon_to_proto(c, now) for c in page.items], next_cursor=page.next_cursor or ""
        )

    async def RedeemCoupon(
        self, request: coupons_pb2.RedeemCouponRequest, context: aio.ServicerContext
    ) -> coupons_pb2.RedeemCouponResponse:
        validate_redemption(request.order_id, request.amount_minor)
        code = normalise_code(request.code)
        if not code:
            raise NotFound("coupon not found")
        now = datetime.now(UTC)
        async with self._database.transaction() as connection:
            redemption = await store.redeem_coupon(
                connection,
                self._outbox,
                tenant_id=current_tenant(),
                code=code,
                order_id=request.order_id,
                amount_minor=request.amount_minor,
                now=now,
            )
        return coupons_pb2.RedeemCouponResponse(
            coupon=coupon_to_proto(redemption.coupon, now),
            discount_minor=redemption.discount_minor,
            payable_minor=request.amount_minor - redemption.discount_minor,
            currency=redemption.currency,
        )


def coupons_registration(database: Database, outbox: Outbox, directory: CustomerDirectory) -> Registration:
    """The registration the loyalty service adds to serve CouponService."""
    return Registration(
        coupons_pb2_grpc.add_CouponServiceServicer_to_server,
        CouponServicer(database, outbox, directory),
        COUPON_SERVICE,
    )
