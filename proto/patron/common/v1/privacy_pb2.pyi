import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExportCustomerDataRequest(_message.Message):
    __slots__ = ("customer_id", "merged_customer_ids")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    MERGED_CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    merged_customer_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, customer_id: _Optional[str] = ..., merged_customer_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ExportPart(_message.Message):
    __slots__ = ("section", "json", "is_object")
    SECTION_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    IS_OBJECT_FIELD_NUMBER: _ClassVar[int]
    section: str
    json: str
    is_object: bool
    def __init__(self, section: _Optional[str] = ..., json: _Optional[str] = ..., is_object: _Optional[bool] = ...) -> None: ...

class ErasureStatusRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class ErasureStatusResponse(_message.Message):
    __slots__ = ("done", "erased_at", "customer_id")
    DONE_FIELD_NUMBER: _ClassVar[int]
    ERASED_AT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    done: bool
    erased_at: _timestamp_pb2.Timestamp
    customer_id: str
    def __init__(self, done: _Optional[bool] = ..., erased_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., customer_id: _Optional[str] = ...) -> None: ...
