import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from patron.profile.v1 import behaviour_pb2 as _behaviour_pb2
from patron.profile.v1 import profile_pb2 as _profile_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BatchOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BATCH_OUTCOME_UNSPECIFIED: _ClassVar[BatchOutcome]
    BATCH_OUTCOME_ACCEPTED: _ClassVar[BatchOutcome]
    BATCH_OUTCOME_DUPLICATE: _ClassVar[BatchOutcome]
    BATCH_OUTCOME_REJECTED: _ClassVar[BatchOutcome]
BATCH_OUTCOME_UNSPECIFIED: BatchOutcome
BATCH_OUTCOME_ACCEPTED: BatchOutcome
BATCH_OUTCOME_DUPLICATE: BatchOutcome
BATCH_OUTCOME_REJECTED: BatchOutcome

class OrderLine(_message.Message):
    __slots__ = ("sku", "category", "brand", "unit_price_minor", "quantity")
    SKU_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    BRAND_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    sku: str
    category: str
    brand: str
    unit_price_minor: int
    quantity: int
    def __init__(self, sku: _Optional[str] = ..., category: _Optional[str] = ..., brand: _Optional[str] = ..., unit_price_minor: _Optional[int] = ..., quantity: _Optional[int] = ...) -> None: ...

class Refund(_message.Message):
    __slots__ = ("refund_id", "amount_minor", "currency", "reason", "refunded_at", "created_at")
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    refund_id: str
    amount_minor: int
    currency: str
    reason: str
    refunded_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, refund_id: _Optional[str] = ..., amount_minor: _Optional[int] = ..., currency: _Optional[str] = ..., reason: _Optional[str] = ..., refunded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("order_id", "customer_id", "paid_at", "currency", "amount_minor", "refunded_minor", "status", "items", "coupon_code", "channel", "refunds", "created_at", "updated_at", "remaining_minor")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PAID_AT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    COUPON_CODE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    REFUNDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    REMAINING_MINOR_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    customer_id: str
    paid_at: _timestamp_pb2.Timestamp
    currency: str
    amount_minor: int
    refunded_minor: int
    status: str
    items: _containers.RepeatedCompositeFieldContainer[OrderLine]
    coupon_code: str
    channel: str
    refunds: _containers.RepeatedCompositeFieldContainer[Refund]
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    remaining_minor: int
    def __init__(self, order_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., paid_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., currency: _Optional[str] = ..., amount_minor: _Optional[int] = ..., refunded_minor: _Optional[int] = ..., status: _Optional[str] = ..., items: _Optional[_Iterable[_Union[OrderLine, _Mapping]]] = ..., coupon_code: _Optional[str] = ..., channel: _Optional[str] = ..., refunds: _Optional[_Iterable[_Union[Refund, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., remaining_minor: _Optional[int] = ...) -> None: ...

class RecordOrderRequest(_message.Message):
    __slots__ = ("order_id", "customer_id", "identities", "paid_at", "currency", "amount_minor", "items", "coupon_code", "channel")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITIES_FIELD_NUMBER: _ClassVar[int]
    PAID_AT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    COUPON_CODE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    customer_id: str
    identities: _containers.RepeatedCompositeFieldContainer[_profile_pb2.Identity]
    paid_at: _timestamp_pb2.Timestamp
    currency: str
    amount_minor: int
    items: _containers.RepeatedCompositeFieldContainer[OrderLine]
    coupon_code: str
    channel: str
    def __init__(self, order_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., identities: _Optional[_Iterable[_Union[_profile_pb2.Identity, _Mapping]]] = ..., paid_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., currency: _Optional[str] = ..., amount_minor: _Optional[int] = ..., items: _Optional[_Iterable[_Union[OrderLine, _Mapping]]] = ..., coupon_code: _Optional[str] = ..., channel: _Optional[str] = ...) -> None: ...

class RecordOrderResponse(_message.Message):
    __slots__ = ("order", "created")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    order: Order
    created: bool
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class RefundOrderRequest(_message.Message):
    __slots__ = ("order_id", "refund_id", "amount_minor", "reason", "currency", "refunded_at")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_AT_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    refund_id: str
    amount_minor: int
    reason: str
    currency: str
    refunded_at: _timestamp_pb2.Timestamp
    def __init__(self, order_id: _Optional[str] = ..., refund_id: _Optional[str] = ..., amount_minor: _Optional[int] = ..., reason: _Optional[str] = ..., currency: _Optional[str] = ..., refunded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RefundOrderResponse(_message.Message):
    __slots__ = ("refund", "created", "order_status", "order_amount_minor", "order_refunded_minor", "order_remaining_minor")
    REFUND_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    ORDER_STATUS_FIELD_NUMBER: _ClassVar[int]
    ORDER_AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    ORDER_REFUNDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    ORDER_REMAINING_MINOR_FIELD_NUMBER: _ClassVar[int]
    refund: Refund
    created: bool
    order_status: str
    order_amount_minor: int
    order_refunded_minor: int
    order_remaining_minor: int
    def __init__(self, refund: _Optional[_Union[Refund, _Mapping]] = ..., created: _Optional[bool] = ..., order_status: _Optional[str] = ..., order_amount_minor: _Optional[int] = ..., order_refunded_minor: _Optional[int] = ..., order_remaining_minor: _Optional[int] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class ListCustomerOrdersRequest(_message.Message):
    __slots__ = ("customer_id", "limit", "cursor")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    limit: int
    cursor: str
    def __init__(self, customer_id: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListCustomerOrdersResponse(_message.Message):
    __slots__ = ("orders", "next_cursor")
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    next_cursor: str
    def __init__(self, orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class RecordOrdersRequest(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[RecordOrderRequest]
    def __init__(self, orders: _Optional[_Iterable[_Union[RecordOrderRequest, _Mapping]]] = ...) -> None: ...

class RejectedItem(_message.Message):
    __slots__ = ("index", "errors")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    index: int
    errors: _containers.RepeatedCompositeFieldContainer[_behaviour_pb2.FieldError]
    def __init__(self, index: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[_behaviour_pb2.FieldError, _Mapping]]] = ...) -> None: ...

class BatchResponse(_message.Message):
    __slots__ = ("accepted", "duplicates", "rejected", "outcomes")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicates: int
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedItem]
    outcomes: _containers.RepeatedScalarFieldContainer[BatchOutcome]
    def __init__(self, accepted: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[RejectedItem, _Mapping]]] = ..., outcomes: _Optional[_Iterable[_Union[BatchOutcome, str]]] = ...) -> None: ...

class RefundOrdersRequest(_message.Message):
    __slots__ = ("refunds",)
    REFUNDS_FIELD_NUMBER: _ClassVar[int]
    refunds: _containers.RepeatedCompositeFieldContainer[RefundOrderRequest]
    def __init__(self, refunds: _Optional[_Iterable[_Union[RefundOrderRequest, _Mapping]]] = ...) -> None: ...
