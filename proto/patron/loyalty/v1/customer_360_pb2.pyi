from patron.loyalty.v1 import coupons_pb2 as _coupons_pb2
from patron.loyalty.v1 import loyalty_pb2 as _loyalty_pb2
from patron.loyalty.v1 import membership_pb2 as _membership_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetCustomer360Request(_message.Message):
    __slots__ = ("customer_id", "expiring_days", "coupon_limit")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRING_DAYS_FIELD_NUMBER: _ClassVar[int]
    COUPON_LIMIT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    expiring_days: int
    coupon_limit: int
    def __init__(self, customer_id: _Optional[str] = ..., expiring_days: _Optional[int] = ..., coupon_limit: _Optional[int] = ...) -> None: ...

class Customer360Part(_message.Message):
    __slots__ = ("balance", "membership", "coupons")
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    MEMBERSHIP_FIELD_NUMBER: _ClassVar[int]
    COUPONS_FIELD_NUMBER: _ClassVar[int]
    balance: _loyalty_pb2.Balance
    membership: _membership_pb2.Membership
    coupons: _containers.RepeatedCompositeFieldContainer[_coupons_pb2.Coupon]
    def __init__(self, balance: _Optional[_Union[_loyalty_pb2.Balance, _Mapping]] = ..., membership: _Optional[_Union[_membership_pb2.Membership, _Mapping]] = ..., coupons: _Optional[_Iterable[_Union[_coupons_pb2.Coupon, _Mapping]]] = ...) -> None: ...
