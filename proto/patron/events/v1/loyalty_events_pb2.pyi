import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PointsChanged(_message.Message):
    __slots__ = ("entry_id", "entry_type", "delta", "balance", "reason", "source")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_TYPE_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    entry_type: str
    delta: int
    balance: int
    reason: str
    source: str
    def __init__(self, entry_id: _Optional[str] = ..., entry_type: _Optional[str] = ..., delta: _Optional[int] = ..., balance: _Optional[int] = ..., reason: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class TierChanged(_message.Message):
    __slots__ = ("from_tier", "to_tier", "direction", "reason", "changed_at")
    FROM_TIER_FIELD_NUMBER: _ClassVar[int]
    TO_TIER_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    from_tier: str
    to_tier: str
    direction: str
    reason: str
    changed_at: _timestamp_pb2.Timestamp
    def __init__(self, from_tier: _Optional[str] = ..., to_tier: _Optional[str] = ..., direction: _Optional[str] = ..., reason: _Optional[str] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CouponIssued(_message.Message):
    __slots__ = ("coupon_code", "template_id", "valid_from", "valid_until", "source")
    COUPON_CODE_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    coupon_code: str
    template_id: str
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    source: str
    def __init__(self, coupon_code: _Optional[str] = ..., template_id: _Optional[str] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[str] = ...) -> None: ...

class CouponRedeemed(_message.Message):
    __slots__ = ("coupon_code", "template_id", "order_id", "discount_minor", "currency", "redeemed_at")
    COUPON_CODE_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_AT_FIELD_NUMBER: _ClassVar[int]
    coupon_code: str
    template_id: str
    order_id: str
    discount_minor: int
    currency: str
    redeemed_at: _timestamp_pb2.Timestamp
    def __init__(self, coupon_code: _Optional[str] = ..., template_id: _Optional[str] = ..., order_id: _Optional[str] = ..., discount_minor: _Optional[int] = ..., currency: _Optional[str] = ..., redeemed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
