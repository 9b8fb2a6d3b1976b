from patron.scoring.v1 import scoring_pb2 as _scoring_pb2
from patron.scoring.v1 import segments_pb2 as _segments_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetCustomer360Request(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class Customer360Part(_message.Message):
    __slots__ = ("scored", "scores", "segments")
    SCORED_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    scored: bool
    scores: _scoring_pb2.CustomerScores
    segments: _containers.RepeatedCompositeFieldContainer[_segments_pb2.CustomerSegment]
    def __init__(self, scored: _Optional[bool] = ..., scores: _Optional[_Union[_scoring_pb2.CustomerScores, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[_segments_pb2.CustomerSegment, _Mapping]]] = ...) -> None: ...
