import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KpiRequest(_message.Message):
    __slots__ = ("from_date", "to_date")
    FROM_DATE_FIELD_NUMBER: _ClassVar[int]
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    from_date: str
    to_date: str
    def __init__(self, from_date: _Optional[str] = ..., to_date: _Optional[str] = ...) -> None: ...

class LoyaltyKpis(_message.Message):
    __slots__ = ("from_date", "to_date", "coupons_issued", "coupons_redeemed", "coupon_redemption_rate", "coupon_redemptions", "coupon_discount_minor", "points_liability", "points_liability_value_minor", "point_value_minor", "currency", "liability_as_of")
    FROM_DATE_FIELD_NUMBER: _ClassVar[int]
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    COUPONS_ISSUED_FIELD_NUMBER: _ClassVar[int]
    COUPONS_REDEEMED_FIELD_NUMBER: _ClassVar[int]
    COUPON_REDEMPTION_RATE_FIELD_NUMBER: _ClassVar[int]
    COUPON_REDEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    COUPON_DISCOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    POINTS_LIABILITY_FIELD_NUMBER: _ClassVar[int]
    POINTS_LIABILITY_VALUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    POINT_VALUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    LIABILITY_AS_OF_FIELD_NUMBER: _ClassVar[int]
    from_date: str
    to_date: str
    coupons_issued: int
    coupons_redeemed: int
    coupon_redemption_rate: float
    coupon_redemptions: int
    coupon_discount_minor: int
    points_liability: int
    points_liability_value_minor: int
    point_value_minor: int
    currency: str
    liability_as_of: _timestamp_pb2.Timestamp
    def __init__(self, from_date: _Optional[str] = ..., to_date: _Optional[str] = ..., coupons_issued: _Optional[int] = ..., coupons_redeemed: _Optional[int] = ..., coupon_redemption_rate: _Optional[float] = ..., coupon_redemptions: _Optional[int] = ..., coupon_discount_minor: _Optional[int] = ..., points_liability: _Optional[int] = ..., points_liability_value_minor: _Optional[int] = ..., point_value_minor: _Optional[int] = ..., currency: _Optional[str] = ..., liability_as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
