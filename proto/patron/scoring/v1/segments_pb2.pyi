from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class PreviewSegmentRequest(_message.Message):
    __slots__ = ("condition_json", "sample_size")
    CONDITION_JSON_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    condition_json: str
    sample_size: int
    def __init__(self, condition_json: _Optional[str] = ..., sample_size: _Optional[int] = ...) -> None: ...

class PreviewSegmentResponse(_message.Message):
    __slots__ = ("count", "sample")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    count: int
    sample: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, count: _Optional[int] = ..., sample: _Optional[_Iterable[str]] = ...) -> None: ...
