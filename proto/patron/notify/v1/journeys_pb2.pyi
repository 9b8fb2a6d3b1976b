import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Journey(_message.Message):
    __slots__ = ("journey_id", "name", "status", "version", "from_template", "document_json", "created_at", "updated_at")
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FROM_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    journey_id: str
    name: str
    status: str
    version: int
    from_template: str
    document_json: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, journey_id: _Optional[str] = ..., name: _Optional[str] = ..., status: _Optional[str] = ..., version: _Optional[int] = ..., from_template: _Optional[str] = ..., document_json: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateJourneyRequest(_message.Message):
    __slots__ = ("document_json",)
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    document_json: str
    def __init__(self, document_json: _Optional[str] = ...) -> None: ...

class UpdateJourneyRequest(_message.Message):
    __slots__ = ("journey_id", "document_json")
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    journey_id: str
    document_json: str
    def __init__(self, journey_id: _Optional[str] = ..., document_json: _Optional[str] = ...) -> None: ...

class JourneyRef(_message.Message):
    __slots__ = ("journey_id",)
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    journey_id: str
    def __init__(self, journey_id: _Optional[str] = ...) -> None: ...

class ListJourneysRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJourneysResponse(_message.Message):
    __slots__ = ("journeys", "next_page_token")
    JOURNEYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    journeys: _containers.RepeatedCompositeFieldContainer[Journey]
    next_page_token: str
    def __init__(self, journeys: _Optional[_Iterable[_Union[Journey, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StepStats(_message.Message):
    __slots__ = ("path", "kind", "entered", "outcomes", "sent", "suppressed", "converted", "completed", "waiting")
    class OutcomesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class SuppressedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    PATH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ENTERED_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    CONVERTED_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    path: str
    kind: str
    entered: int
    outcomes: _containers.ScalarMap[str, int]
    sent: int
    suppressed: _containers.ScalarMap[str, int]
    converted: int
    completed: int
    waiting: int
    def __init__(self, path: _Optional[str] = ..., kind: _Optional[str] = ..., entered: _Optional[int] = ..., outcomes: _Optional[_Mapping[str, int]] = ..., sent: _Optional[int] = ..., suppressed: _Optional[_Mapping[str, int]] = ..., converted: _Optional[int] = ..., completed: _Optional[int] = ..., waiting: _Optional[int] = ...) -> None: ...

class JourneyStats(_message.Message):
    __slots__ = ("journey_id", "entered", "active", "waiting", "completed", "exited", "converted", "stopped", "failed", "revenue_minor", "steps")
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    ENTERED_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    EXITED_FIELD_NUMBER: _ClassVar[int]
    CONVERTED_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    journey_id: str
    entered: int
    active: int
    waiting: int
    completed: int
    exited: int
    converted: int
    stopped: int
    failed: int
    revenue_minor: int
    steps: _containers.RepeatedCompositeFieldContainer[StepStats]
    def __init__(self, journey_id: _Optional[str] = ..., entered: _Optional[int] = ..., active: _Optional[int] = ..., waiting: _Optional[int] = ..., completed: _Optional[int] = ..., exited: _Optional[int] = ..., converted: _Optional[int] = ..., stopped: _Optional[int] = ..., failed: _Optional[int] = ..., revenue_minor: _Optional[int] = ..., steps: _Optional[_Iterable[_Union[StepStats, _Mapping]]] = ...) -> None: ...

class CustomerJourneysRequest(_message.Message):
    __slots__ = ("customer_id", "page_size", "page_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    page_size: int
    page_token: str
    def __init__(self, customer_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class CustomerJourney(_message.Message):
    __slots__ = ("instance_id", "journey_id", "name", "version", "status", "cursor", "due_at", "entered_at", "ended_at", "end_reason", "converted_order_id")
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    ENTERED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    CONVERTED_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    journey_id: str
    name: str
    version: int
    status: str
    cursor: str
    due_at: _timestamp_pb2.Timestamp
    entered_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    end_reason: str
    converted_order_id: str
    def __init__(self, instance_id: _Optional[str] = ..., journey_id: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., status: _Optional[str] = ..., cursor: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., entered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_reason: _Optional[str] = ..., converted_order_id: _Optional[str] = ...) -> None: ...

class CustomerJourneysResponse(_message.Message):
    __slots__ = ("journeys", "next_page_token")
    JOURNEYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    journeys: _containers.RepeatedCompositeFieldContainer[CustomerJourney]
    next_page_token: str
    def __init__(self, journeys: _Optional[_Iterable[_Union[CustomerJourney, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListJourneyTemplatesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListJourneyTemplatesResponse(_message.Message):
    __slots__ = ("template_json",)
    TEMPLATE_JSON_FIELD_NUMBER: _ClassVar[int]
    template_json: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, template_json: _Optional[_Iterable[str]] = ...) -> None: ...
