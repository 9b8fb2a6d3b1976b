import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CouponTemplateSpec(_message.Message):
    __slots__ = ("name", "kind", "threshold_minor", "discount_minor", "percent_off", "max_discount_minor", "valid_from", "valid_until", "valid_days", "per_customer_limit", "budget", "points_price")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_MINOR_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    PERCENT_OFF_FIELD_NUMBER: _ClassVar[int]
    MAX_DISCOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    VALID_DAYS_FIELD_NUMBER: _ClassVar[int]
    PER_CUSTOMER_LIMIT_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    POINTS_PRICE_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    threshold_minor: int
    discount_minor: int
    percent_off: int
    max_discount_minor: int
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    valid_days: int
    per_customer_limit: int
    budget: int
    points_price: int
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., threshold_minor: _Optional[int] = ..., discount_minor: _Optional[int] = ..., percent_off: _Optional[int] = ..., max_discount_minor: _Optional[int] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_days: _Optional[int] = ..., per_customer_limit: _Optional[int] = ..., budget: _Optional[int] = ..., points_price: _Optional[int] = ...) -> None: ...

class CouponTemplate(_message.Message):
    __slots__ = ("template_id", "spec", "issued", "redeemed", "redemption_rate", "remaining_budget", "created_at")
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    ISSUED_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_FIELD_NUMBER: _ClassVar[int]
    REDEMPTION_RATE_FIELD_NUMBER: _ClassVar[int]
    REMAINING_BUDGET_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    spec: CouponTemplateSpec
    issued: int
    redeemed: int
    redemption_rate: float
    remaining_budget: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, template_id: _Optional[str] = ..., spec: _Optional[_Union[CouponTemplateSpec, _Mapping]] = ..., issued: _Optional[int] = ..., redeemed: _Optional[int] = ..., redemption_rate: _Optional[float] = ..., remaining_budget: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateCouponTemplateRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: CouponTemplateSpec
    def __init__(self, spec: _Optional[_Union[CouponTemplateSpec, _Mapping]] = ...) -> None: ...

class GetCouponTemplateRequest(_message.Message):
    __slots__ = ("template_id",)
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    def __init__(self, template_id: _Optional[str] = ...) -> None: ...

class ListCouponTemplatesRequest(_message.Message):
    __slots__ = ("limit", "cursor")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    limit: int
    cursor: str
    def __init__(self, limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListCouponTemplatesResponse(_message.Message):
    __slots__ = ("templates", "next_cursor")
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    templates: _containers.RepeatedCompositeFieldContainer[CouponTemplate]
    next_cursor: str
    def __init__(self, templates: _Optional[_Iterable[_Union[CouponTemplate, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class Coupon(_message.Message):
    __slots__ = ("code", "template_id", "customer_id", "kind", "status", "source", "valid_from", "valid_until", "issued_at", "redeemed_at", "order_id", "discount_minor")
    CODE_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_AT_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    code: str
    template_id: str
    customer_id: str
    kind: str
    status: str
    source: str
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    issued_at: _timestamp_pb2.Timestamp
    redeemed_at: _timestamp_pb2.Timestamp
    order_id: str
    discount_minor: int
    def __init__(self, code: _Optional[str] = ..., template_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., kind: _Optional[str] = ..., status: _Optional[str] = ..., source: _Optional[str] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., redeemed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., order_id: _Optional[str] = ..., discount_minor: _Optional[int] = ...) -> None: ...

class IssueCouponRequest(_message.Message):
    __slots__ = ("customer_id", "template_id", "idempotency_key")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    template_id: str
    idempotency_key: str
    def __init__(self, customer_id: _Optional[str] = ..., template_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class IssueCouponResponse(_message.Message):
    __slots__ = ("coupon", "replayed")
    COUPON_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    coupon: Coupon
    replayed: bool
    def __init__(self, coupon: _Optional[_Union[Coupon, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class IssueCouponsItem(_message.Message):
    __slots__ = ("customer_id", "template_id", "idempotency_key")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    template_id: str
    idempotency_key: str
    def __init__(self, customer_id: _Optional[str] = ..., template_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class IssueCouponsRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[IssueCouponsItem]
    def __init__(self, items: _Optional[_Iterable[_Union[IssueCouponsItem, _Mapping]]] = ...) -> None: ...

class IssueCouponsResult(_message.Message):
    __slots__ = ("coupon", "replayed", "refused_reason")
    COUPON_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    REFUSED_REASON_FIELD_NUMBER: _ClassVar[int]
    coupon: Coupon
    replayed: bool
    refused_reason: str
    def __init__(self, coupon: _Optional[_Union[Coupon, _Mapping]] = ..., replayed: _Optional[bool] = ..., refused_reason: _Optional[str] = ...) -> None: ...

class IssueCouponsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[IssueCouponsResult]
    def __init__(self, results: _Optional[_Iterable[_Union[IssueCouponsResult, _Mapping]]] = ...) -> None: ...

class ExchangePointsRequest(_message.Message):
    __slots__ = ("customer_id", "template_id", "idempotency_key")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    template_id: str
    idempotency_key: str
    def __init__(self, customer_id: _Optional[str] = ..., template_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ExchangePointsResponse(_message.Message):
    __slots__ = ("coupon", "points_spent", "entry_id", "balance", "replayed")
    COUPON_FIELD_NUMBER: _ClassVar[int]
    POINTS_SPENT_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    coupon: Coupon
    points_spent: int
    entry_id: str
    balance: int
    replayed: bool
    def __init__(self, coupon: _Optional[_Union[Coupon, _Mapping]] = ..., points_spent: _Optional[int] = ..., entry_id: _Optional[str] = ..., balance: _Optional[int] = ..., replayed: _Optional[bool] = ...) -> None: ...

class ListCouponsRequest(_message.Message):
    __slots__ = ("customer_id", "status", "limit", "cursor")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    status: str
    limit: int
    cursor: str
    def __init__(self, customer_id: _Optional[str] = ..., status: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListCouponsResponse(_message.Message):
    __slots__ = ("coupons", "next_cursor")
    COUPONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    coupons: _containers.RepeatedCompositeFieldContainer[Coupon]
    next_cursor: str
    def __init__(self, coupons: _Optional[_Iterable[_Union[Coupon, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class RedeemCouponRequest(_message.Message):
    __slots__ = ("code", "order_id", "amount_minor")
    CODE_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    code: str
    order_id: str
    amount_minor: int
    def __init__(self, code: _Optional[str] = ..., order_id: _Optional[str] = ..., amount_minor: _Optional[int] = ...) -> None: ...

class RedeemCouponResponse(_message.Message):
    __slots__ = ("coupon", "discount_minor", "payable_minor", "currency")
    COUPON_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    PAYABLE_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    coupon: Coupon
    discount_minor: int
    payable_minor: int
    currency: str
    def __init__(self, coupon: _Optional[_Union[Coupon, _Mapping]] = ..., discount_minor: _Optional[int] = ..., payable_minor: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...
