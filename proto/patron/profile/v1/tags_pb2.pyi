import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TagGroup(_message.Message):
    __slots__ = ("group_id", "kind", "name", "description", "tag_count", "created_at", "updated_at")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAG_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    kind: str
    name: str
    description: str
    tag_count: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, group_id: _Optional[str] = ..., kind: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., tag_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateTagGroupRequest(_message.Message):
    __slots__ = ("kind", "name", "description")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    description: str
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class GetTagGroupRequest(_message.Message):
    __slots__ = ("group_id",)
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    def __init__(self, group_id: _Optional[str] = ...) -> None: ...

class ListTagGroupsRequest(_message.Message):
    __slots__ = ("kind", "limit", "cursor")
    KIND_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    kind: str
    limit: int
    cursor: str
    def __init__(self, kind: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListTagGroupsResponse(_message.Message):
    __slots__ = ("groups", "next_cursor")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[TagGroup]
    next_cursor: str
    def __init__(self, groups: _Optional[_Iterable[_Union[TagGroup, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class UpdateTagGroupRequest(_message.Message):
    __slots__ = ("group_id", "name", "description")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    name: str
    description: str
    def __init__(self, group_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class DeleteTagGroupRequest(_message.Message):
    __slots__ = ("group_id",)
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    def __init__(self, group_id: _Optional[str] = ...) -> None: ...

class DeleteTagGroupResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Tag(_message.Message):
    __slots__ = ("tag_id", "group_id", "kind", "name", "description", "created_at", "updated_at")
    TAG_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    tag_id: str
    group_id: str
    kind: str
    name: str
    description: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, tag_id: _Optional[str] = ..., group_id: _Optional[str] = ..., kind: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateTagRequest(_message.Message):
    __slots__ = ("group_id", "name", "description")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    name: str
    description: str
    def __init__(self, group_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class GetTagRequest(_message.Message):
    __slots__ = ("tag_id",)
    TAG_ID_FIELD_NUMBER: _ClassVar[int]
    tag_id: str
    def __init__(self, tag_id: _Optional[str] = ...) -> None: ...

class ListTagsRequest(_message.Message):
    __slots__ = ("group_id", "kind", "limit", "cursor")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    kind: str
    limit: int
    cursor: str
    def __init__(self, group_id: _Optional[str] = ..., kind: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListTagsResponse(_message.Message):
    __slots__ = ("tags", "next_cursor")
    TAGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    next_cursor: str
    def __init__(self, tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class UpdateTagRequest(_message.Message):
    __slots__ = ("tag_id", "group_id", "name", "description")
    TAG_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    tag_id: str
    group_id: str
    name: str
    description: str
    def __init__(self, tag_id: _Optional[str] = ..., group_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class DeleteTagRequest(_message.Message):
    __slots__ = ("tag_id",)
    TAG_ID_FIELD_NUMBER: _ClassVar[int]
    tag_id: str
    def __init__(self, tag_id: _Optional[str] = ...) -> None: ...

class DeleteTagResponse(_message.Message):
    __slots__ = ("customers_untagged",)
    CUSTOMERS_UNTAGGED_FIELD_NUMBER: _ClassVar[int]
    customers_untagged: int
    def __init__(self, customers_untagged: _Optional[int] = ...) -> None: ...

class CustomerTag(_message.Message):
    __slots__ = ("tag", "source", "expires_at", "applied_at")
    TAG_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    APPLIED_AT_FIELD_NUMBER: _ClassVar[int]
    tag: Tag
    source: str
    expires_at: _timestamp_pb2.Timestamp
    applied_at: _timestamp_pb2.Timestamp
    def __init__(self, tag: _Optional[_Union[Tag, _Mapping]] = ..., source: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., applied_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TagCustomerRequest(_message.Message):
    __slots__ = ("customer_id", "tag_id", "expires_at")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TAG_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    tag_id: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, customer_id: _Optional[str] = ..., tag_id: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TagCustomerResponse(_message.Message):
    __slots__ = ("customer_tag", "changed")
    CUSTOMER_TAG_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    customer_tag: CustomerTag
    changed: bool
    def __init__(self, customer_tag: _Optional[_Union[CustomerTag, _Mapping]] = ..., changed: _Optional[bool] = ...) -> None: ...

class UntagCustomerRequest(_message.Message):
    __slots__ = ("customer_id", "tag_id")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TAG_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    tag_id: str
    def __init__(self, customer_id: _Optional[str] = ..., tag_id: _Optional[str] = ...) -> None: ...

class UntagCustomerResponse(_message.Message):
    __slots__ = ("changed",)
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    changed: bool
    def __init__(self, changed: _Optional[bool] = ...) -> None: ...

class ListCustomerTagsRequest(_message.Message):
    __slots__ = ("customer_id", "kind", "limit", "cursor")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    kind: str
    limit: int
    cursor: str
    def __init__(self, customer_id: _Optional[str] = ..., kind: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListCustomerTagsResponse(_message.Message):
    __slots__ = ("tags", "next_cursor")
    TAGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedCompositeFieldContainer[CustomerTag]
    next_cursor: str
    def __init__(self, tags: _Optional[_Iterable[_Union[CustomerTag, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class SetComputedTagsRequest(_message.Message):
    __slots__ = ("customer_id", "source", "tag_ids", "replace", "expires_at")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TAG_IDS_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    source: str
    tag_ids: _containers.RepeatedScalarFieldContainer[str]
    replace: bool
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, customer_id: _Optional[str] = ..., source: _Optional[str] = ..., tag_ids: _Optional[_Iterable[str]] = ..., replace: _Optional[bool] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetComputedTagsResponse(_message.Message):
    __slots__ = ("applied_tag_ids", "removed_tag_ids", "unchanged")
    APPLIED_TAG_IDS_FIELD_NUMBER: _ClassVar[int]
    REMOVED_TAG_IDS_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    applied_tag_ids: _containers.RepeatedScalarFieldContainer[str]
    removed_tag_ids: _containers.RepeatedScalarFieldContainer[str]
    unchanged: int
    def __init__(self, applied_tag_ids: _Optional[_Iterable[str]] = ..., removed_tag_ids: _Optional[_Iterable[str]] = ..., unchanged: _Optional[int] = ...) -> None: ...

class ConsentState(_message.Message):
    __slots__ = ("channel", "purpose", "granted", "source", "changed_at")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    channel: str
    purpose: str
    granted: bool
    source: str
    changed_at: _timestamp_pb2.Timestamp
    def __init__(self, channel: _Optional[str] = ..., purpose: _Optional[str] = ..., granted: _Optional[bool] = ..., source: _Optional[str] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetConsentRequest(_message.Message):
    __slots__ = ("customer_id", "channel", "purpose", "granted", "source")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    channel: str
    purpose: str
    granted: bool
    source: str
    def __init__(self, customer_id: _Optional[str] = ..., channel: _Optional[str] = ..., purpose: _Optional[str] = ..., granted: _Optional[bool] = ..., source: _Optional[str] = ...) -> None: ...

class SetConsentResponse(_message.Message):
    __slots__ = ("consent", "changed")
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    consent: ConsentState
    changed: bool
    def __init__(self, consent: _Optional[_Union[ConsentState, _Mapping]] = ..., changed: _Optional[bool] = ...) -> None: ...

class ListConsentsRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class ListConsentsResponse(_message.Message):
    __slots__ = ("consents",)
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    consents: _containers.RepeatedCompositeFieldContainer[ConsentState]
    def __init__(self, consents: _Optional[_Iterable[_Union[ConsentState, _Mapping]]] = ...) -> None: ...

class ConsentHistoryRequest(_message.Message):
    __slots__ = ("customer_id", "channel", "purpose", "limit", "cursor")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    channel: str
    purpose: str
    limit: int
    cursor: str
    def __init__(self, customer_id: _Optional[str] = ..., channel: _Optional[str] = ..., purpose: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ConsentChange(_message.Message):
    __slots__ = ("channel", "purpose", "granted", "source", "changed_at")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    channel: str
    purpose: str
    granted: bool
    source: str
    changed_at: _timestamp_pb2.Timestamp
    def __init__(self, channel: _Optional[str] = ..., purpose: _Optional[str] = ..., granted: _Optional[bool] = ..., source: _Optional[str] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConsentHistoryResponse(_message.Message):
    __slots__ = ("changes", "next_cursor")
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[ConsentChange]
    next_cursor: str
    def __init__(self, changes: _Optional[_Iterable[_Union[ConsentChange, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...
