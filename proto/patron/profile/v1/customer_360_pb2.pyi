from patron.profile.v1 import profile_pb2 as _profile_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetCustomer360Request(_message.Message):
    __slots__ = ("customer_id", "timeline_limit")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    timeline_limit: int
    def __init__(self, customer_id: _Optional[str] = ..., timeline_limit: _Optional[int] = ...) -> None: ...

class Customer360Part(_message.Message):
    __slots__ = ("customer", "timeline")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_FIELD_NUMBER: _ClassVar[int]
    customer: _profile_pb2.Customer
    timeline: _containers.RepeatedCompositeFieldContainer[_profile_pb2.TimelineEntry]
    def __init__(self, customer: _Optional[_Union[_profile_pb2.Customer, _Mapping]] = ..., timeline: _Optional[_Iterable[_Union[_profile_pb2.TimelineEntry, _Mapping]]] = ...) -> None: ...
