import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IdentityResolution(_message.Message):
    __slots__ = ("auto_merge_types", "updated_at")
    AUTO_MERGE_TYPES_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    auto_merge_types: _containers.RepeatedScalarFieldContainer[str]
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, auto_merge_types: _Optional[_Iterable[str]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetIdentityResolutionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PutIdentityResolutionRequest(_message.Message):
    __slots__ = ("auto_merge_types",)
    AUTO_MERGE_TYPES_FIELD_NUMBER: _ClassVar[int]
    auto_merge_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, auto_merge_types: _Optional[_Iterable[str]] = ...) -> None: ...

class MergeSuggestion(_message.Message):
    __slots__ = ("suggestion_id", "status", "customer_id", "other_customer_id", "identity_type", "identity_masked", "occurrences", "created_at", "last_seen_at", "decided_at", "decided_by", "close_reason", "survivor_id")
    SUGGESTION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    OTHER_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_MASKED_FIELD_NUMBER: _ClassVar[int]
    OCCURRENCES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    CLOSE_REASON_FIELD_NUMBER: _ClassVar[int]
    SURVIVOR_ID_FIELD_NUMBER: _ClassVar[int]
    suggestion_id: str
    status: str
    customer_id: str
    other_customer_id: str
    identity_type: str
    identity_masked: str
    occurrences: int
    created_at: _timestamp_pb2.Timestamp
    last_seen_at: _timestamp_pb2.Timestamp
    decided_at: _timestamp_pb2.Timestamp
    decided_by: str
    close_reason: str
    survivor_id: str
    def __init__(self, suggestion_id: _Optional[str] = ..., status: _Optional[str] = ..., customer_id: _Optional[str] = ..., other_customer_id: _Optional[str] = ..., identity_type: _Optional[str] = ..., identity_masked: _Optional[str] = ..., occurrences: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_by: _Optional[str] = ..., close_reason: _Optional[str] = ..., survivor_id: _Optional[str] = ...) -> None: ...

class ListMergeSuggestionsRequest(_message.Message):
    __slots__ = ("status", "limit", "cursor")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    status: str
    limit: int
    cursor: str
    def __init__(self, status: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListMergeSuggestionsResponse(_message.Message):
    __slots__ = ("items", "next_cursor")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[MergeSuggestion]
    next_cursor: str
    def __init__(self, items: _Optional[_Iterable[_Union[MergeSuggestion, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class DecideMergeSuggestionRequest(_message.Message):
    __slots__ = ("suggestion_id", "actor")
    SUGGESTION_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    suggestion_id: str
    actor: str
    def __init__(self, suggestion_id: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...
