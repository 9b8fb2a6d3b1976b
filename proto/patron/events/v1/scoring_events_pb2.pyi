import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LifecycleStageChanged(_message.Message):
    __slots__ = ("from_stage", "to_stage", "changed_at", "reason")
    FROM_STAGE_FIELD_NUMBER: _ClassVar[int]
    TO_STAGE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    from_stage: str
    to_stage: str
    changed_at: _timestamp_pb2.Timestamp
    reason: str
    def __init__(self, from_stage: _Optional[str] = ..., to_stage: _Optional[str] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class SegmentEntered(_message.Message):
    __slots__ = ("segment_id", "version", "entered_at", "cause")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENTERED_AT_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    version: int
    entered_at: _timestamp_pb2.Timestamp
    cause: str
    def __init__(self, segment_id: _Optional[str] = ..., version: _Optional[int] = ..., entered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cause: _Optional[str] = ...) -> None: ...

class SegmentExited(_message.Message):
    __slots__ = ("segment_id", "version", "exited_at", "cause")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EXITED_AT_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    version: int
    exited_at: _timestamp_pb2.Timestamp
    cause: str
    def __init__(self, segment_id: _Optional[str] = ..., version: _Optional[int] = ..., exited_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cause: _Optional[str] = ...) -> None: ...
