import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from patron.profile.v1 import profile_pb2 as _profile_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_OUTCOME_UNSPECIFIED: _ClassVar[EventOutcome]
    EVENT_OUTCOME_ACCEPTED: _ClassVar[EventOutcome]
    EVENT_OUTCOME_DUPLICATE: _ClassVar[EventOutcome]
    EVENT_OUTCOME_REJECTED: _ClassVar[EventOutcome]
EVENT_OUTCOME_UNSPECIFIED: EventOutcome
EVENT_OUTCOME_ACCEPTED: EventOutcome
EVENT_OUTCOME_DUPLICATE: EventOutcome
EVENT_OUTCOME_REJECTED: EventOutcome

class BehaviourEvent(_message.Message):
    __slots__ = ("event_id", "type", "occurred_at", "customer_id", "identities", "properties_json")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITIES_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_JSON_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: str
    occurred_at: str
    customer_id: str
    identities: _containers.RepeatedCompositeFieldContainer[_profile_pb2.Identity]
    properties_json: str
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[str] = ..., occurred_at: _Optional[str] = ..., customer_id: _Optional[str] = ..., identities: _Optional[_Iterable[_Union[_profile_pb2.Identity, _Mapping]]] = ..., properties_json: _Optional[str] = ...) -> None: ...

class RecordEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[BehaviourEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[BehaviourEvent, _Mapping]]] = ...) -> None: ...

class FieldError(_message.Message):
    __slots__ = ("field", "message")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    field: str
    message: str
    def __init__(self, field: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class RejectedEvent(_message.Message):
    __slots__ = ("index", "errors")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    index: int
    errors: _containers.RepeatedCompositeFieldContainer[FieldError]
    def __init__(self, index: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[FieldError, _Mapping]]] = ...) -> None: ...

class RecordEventsResponse(_message.Message):
    __slots__ = ("accepted", "duplicates", "rejected", "outcomes")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicates: int
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedEvent]
    outcomes: _containers.RepeatedScalarFieldContainer[EventOutcome]
    def __init__(self, accepted: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[RejectedEvent, _Mapping]]] = ..., outcomes: _Optional[_Iterable[_Union[EventOutcome, str]]] = ...) -> None: ...

class StoredEvent(_message.Message):
    __slots__ = ("event_id", "type", "occurred_at", "received_at", "customer_id", "properties_json")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_JSON_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: str
    occurred_at: _timestamp_pb2.Timestamp
    received_at: _timestamp_pb2.Timestamp
    customer_id: str
    properties_json: str
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., customer_id: _Optional[str] = ..., properties_json: _Optional[str] = ...) -> None: ...

class ListCustomerEventsRequest(_message.Message):
    __slots__ = ("customer_id", "type", "limit", "cursor")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    type: str
    limit: int
    cursor: str
    def __init__(self, customer_id: _Optional[str] = ..., type: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListCustomerEventsResponse(_message.Message):
    __slots__ = ("items", "next_cursor", "customer_id")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[StoredEvent]
    next_cursor: str
    customer_id: str
    def __init__(self, items: _Optional[_Iterable[_Union[StoredEvent, _Mapping]]] = ..., next_cursor: _Optional[str] = ..., customer_id: _Optional[str] = ...) -> None: ...
