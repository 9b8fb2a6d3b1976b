import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from patron.common.v1 import tenancy_pb2 as _tenancy_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateTenantRequest(_message.Message):
    __slots__ = ("tenant", "api_key_sha256", "api_key_prefix")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    API_KEY_SHA256_FIELD_NUMBER: _ClassVar[int]
    API_KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    tenant: _tenancy_pb2.TenantSpec
    api_key_sha256: str
    api_key_prefix: str
    def __init__(self, tenant: _Optional[_Union[_tenancy_pb2.TenantSpec, _Mapping]] = ..., api_key_sha256: _Optional[str] = ..., api_key_prefix: _Optional[str] = ...) -> None: ...

class CreateTenantResponse(_message.Message):
    __slots__ = ("tenant", "created_at")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    tenant: _tenancy_pb2.TenantSpec
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, tenant: _Optional[_Union[_tenancy_pb2.TenantSpec, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ResolveApiKeyRequest(_message.Message):
    __slots__ = ("api_key_sha256",)
    API_KEY_SHA256_FIELD_NUMBER: _ClassVar[int]
    api_key_sha256: str
    def __init__(self, api_key_sha256: _Optional[str] = ...) -> None: ...

class ResolveApiKeyResponse(_message.Message):
    __slots__ = ("tenant", "scopes", "key_id")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    tenant: _tenancy_pb2.TenantSpec
    scopes: _containers.RepeatedScalarFieldContainer[str]
    key_id: str
    def __init__(self, tenant: _Optional[_Union[_tenancy_pb2.TenantSpec, _Mapping]] = ..., scopes: _Optional[_Iterable[str]] = ..., key_id: _Optional[str] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("key_id", "name", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at", "rolled_from")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    ROLLED_FROM_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    name: str
    prefix: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    last_used_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    rolled_from: str
    def __init__(self, key_id: _Optional[str] = ..., name: _Optional[str] = ..., prefix: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_used_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rolled_from: _Optional[str] = ...) -> None: ...

class IssueApiKeyRequest(_message.Message):
    __slots__ = ("api_key_sha256", "api_key_prefix", "name", "scopes", "expires_at")
    API_KEY_SHA256_FIELD_NUMBER: _ClassVar[int]
    API_KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    api_key_sha256: str
    api_key_prefix: str
    name: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, api_key_sha256: _Optional[str] = ..., api_key_prefix: _Optional[str] = ..., name: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListApiKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListApiKeysResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ApiKey]
    def __init__(self, items: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ...) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("key_id",)
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    def __init__(self, key_id: _Optional[str] = ...) -> None: ...

class RollApiKeyRequest(_message.Message):
    __slots__ = ("key_id", "api_key_sha256", "api_key_prefix", "overlap")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    API_KEY_SHA256_FIELD_NUMBER: _ClassVar[int]
    API_KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    api_key_sha256: str
    api_key_prefix: str
    overlap: str
    def __init__(self, key_id: _Optional[str] = ..., api_key_sha256: _Optional[str] = ..., api_key_prefix: _Optional[str] = ..., overlap: _Optional[str] = ...) -> None: ...

class RollApiKeyResponse(_message.Message):
    __slots__ = ("key", "replaced")
    KEY_FIELD_NUMBER: _ClassVar[int]
    REPLACED_FIELD_NUMBER: _ClassVar[int]
    key: ApiKey
    replaced: ApiKey
    def __init__(self, key: _Optional[_Union[ApiKey, _Mapping]] = ..., replaced: _Optional[_Union[ApiKey, _Mapping]] = ...) -> None: ...

class BeginIdempotentRequest(_message.Message):
    __slots__ = ("key", "method", "path", "request_sha256")
    KEY_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    REQUEST_SHA256_FIELD_NUMBER: _ClassVar[int]
    key: str
    method: str
    path: str
    request_sha256: str
    def __init__(self, key: _Optional[str] = ..., method: _Optional[str] = ..., path: _Optional[str] = ..., request_sha256: _Optional[str] = ...) -> None: ...

class BeginIdempotentResponse(_message.Message):
    __slots__ = ("outcome", "status_code", "body", "content_type")
    class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OUTCOME_UNSPECIFIED: _ClassVar[BeginIdempotentResponse.Outcome]
        NEW: _ClassVar[BeginIdempotentResponse.Outcome]
        REPLAY: _ClassVar[BeginIdempotentResponse.Outcome]
        MISMATCH: _ClassVar[BeginIdempotentResponse.Outcome]
        IN_PROGRESS: _ClassVar[BeginIdempotentResponse.Outcome]
    OUTCOME_UNSPECIFIED: BeginIdempotentResponse.Outcome
    NEW: BeginIdempotentResponse.Outcome
    REPLAY: BeginIdempotentResponse.Outcome
    MISMATCH: BeginIdempotentResponse.Outcome
    IN_PROGRESS: BeginIdempotentResponse.Outcome
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    outcome: BeginIdempotentResponse.Outcome
    status_code: int
    body: bytes
    content_type: str
    def __init__(self, outcome: _Optional[_Union[BeginIdempotentResponse.Outcome, str]] = ..., status_code: _Optional[int] = ..., body: _Optional[bytes] = ..., content_type: _Optional[str] = ...) -> None: ...

class CompleteIdempotentRequest(_message.Message):
    __slots__ = ("key", "status_code", "body", "content_type")
    KEY_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    key: str
    status_code: int
    body: bytes
    content_type: str
    def __init__(self, key: _Optional[str] = ..., status_code: _Optional[int] = ..., body: _Optional[bytes] = ..., content_type: _Optional[str] = ...) -> None: ...

class AbandonIdempotentRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class IdempotencyAck(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Identity(_message.Message):
    __slots__ = ("type", "value", "verified")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    type: str
    value: str
    verified: bool
    def __init__(self, type: _Optional[str] = ..., value: _Optional[str] = ..., verified: _Optional[bool] = ...) -> None: ...

class CustomerAttributes(_message.Message):
    __slots__ = ("nickname", "gender", "birthday", "province", "city", "registered_at", "registration_channel", "device", "custom_json", "timezone")
    NICKNAME_FIELD_NUMBER: _ClassVar[int]
    GENDER_FIELD_NUMBER: _ClassVar[int]
    BIRTHDAY_FIELD_NUMBER: _ClassVar[int]
    PROVINCE_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_JSON_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    nickname: str
    gender: str
    birthday: str
    province: str
    city: str
    registered_at: _timestamp_pb2.Timestamp
    registration_channel: str
    device: str
    custom_json: str
    timezone: str
    def __init__(self, nickname: _Optional[str] = ..., gender: _Optional[str] = ..., birthday: _Optional[str] = ..., province: _Optional[str] = ..., city: _Optional[str] = ..., registered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., registration_channel: _Optional[str] = ..., device: _Optional[str] = ..., custom_json: _Optional[str] = ..., timezone: _Optional[str] = ...) -> None: ...

class Customer(_message.Message):
    __slots__ = ("customer_id", "attributes", "identities", "created_at", "updated_at", "merged_into")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    IDENTITIES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    MERGED_INTO_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    attributes: CustomerAttributes
    identities: _containers.RepeatedCompositeFieldContainer[Identity]
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    merged_into: str
    def __init__(self, customer_id: _Optional[str] = ..., attributes: _Optional[_Union[CustomerAttributes, _Mapping]] = ..., identities: _Optional[_Iterable[_Union[Identity, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., merged_into: _Optional[str] = ...) -> None: ...

class IdentifyRequest(_message.Message):
    __slots__ = ("identities", "attributes")
    IDENTITIES_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    identities: _containers.RepeatedCompositeFieldContainer[Identity]
    attributes: CustomerAttributes
    def __init__(self, identities: _Optional[_Iterable[_Union[Identity, _Mapping]]] = ..., attributes: _Optional[_Union[CustomerAttributes, _Mapping]] = ...) -> None: ...

class IdentifyResponse(_message.Message):
    __slots__ = ("customer_id", "created", "merged_customer_ids", "unmerged_customer_ids")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    MERGED_CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    UNMERGED_CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    created: bool
    merged_customer_ids: _containers.RepeatedScalarFieldContainer[str]
    unmerged_customer_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, customer_id: _Optional[str] = ..., created: _Optional[bool] = ..., merged_customer_ids: _Optional[_Iterable[str]] = ..., unmerged_customer_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class IdentifyManyRequest(_message.Message):
    __slots__ = ("calls",)
    CALLS_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[IdentifyRequest]
    def __init__(self, calls: _Optional[_Iterable[_Union[IdentifyRequest, _Mapping]]] = ...) -> None: ...

class IdentifyOutcome(_message.Message):
    __slots__ = ("result", "unsettled")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    UNSETTLED_FIELD_NUMBER: _ClassVar[int]
    result: IdentifyResponse
    unsettled: str
    def __init__(self, result: _Optional[_Union[IdentifyResponse, _Mapping]] = ..., unsettled: _Optional[str] = ...) -> None: ...

class IdentifyManyResponse(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[IdentifyOutcome]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[IdentifyOutcome, _Mapping]]] = ...) -> None: ...

class GetCustomerRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class UpdateCustomerRequest(_message.Message):
    __slots__ = ("customer_id", "attributes", "clear_attributes")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    CLEAR_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    attributes: CustomerAttributes
    clear_attributes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, customer_id: _Optional[str] = ..., attributes: _Optional[_Union[CustomerAttributes, _Mapping]] = ..., clear_attributes: _Optional[_Iterable[str]] = ...) -> None: ...

class MergeCustomersRequest(_message.Message):
    __slots__ = ("customer_id", "other_customer_id")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    OTHER_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    other_customer_id: str
    def __init__(self, customer_id: _Optional[str] = ..., other_customer_id: _Optional[str] = ...) -> None: ...

class MergeCustomersResponse(_message.Message):
    __slots__ = ("customer_id", "merged_customer_ids")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    MERGED_CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    merged_customer_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, customer_id: _Optional[str] = ..., merged_customer_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListCustomersRequest(_message.Message):
    __slots__ = ("limit", "cursor", "identity_type", "identity_value", "attributes", "tag_id")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_VALUE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    TAG_ID_FIELD_NUMBER: _ClassVar[int]
    limit: int
    cursor: str
    identity_type: str
    identity_value: str
    attributes: _containers.ScalarMap[str, str]
    tag_id: str
    def __init__(self, limit: _Optional[int] = ..., cursor: _Optional[str] = ..., identity_type: _Optional[str] = ..., identity_value: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., tag_id: _Optional[str] = ...) -> None: ...

class ListCustomersResponse(_message.Message):
    __slots__ = ("items", "next_cursor")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Customer]
    next_cursor: str
    def __init__(self, items: _Optional[_Iterable[_Union[Customer, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class EraseCustomerRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class EraseCustomerResponse(_message.Message):
    __slots__ = ("customer_id", "erased_at")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    ERASED_AT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    erased_at: _timestamp_pb2.Timestamp
    def __init__(self, customer_id: _Optional[str] = ..., erased_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ExportCustomerRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class ExportCustomerResponse(_message.Message):
    __slots__ = ("export_json",)
    EXPORT_JSON_FIELD_NUMBER: _ClassVar[int]
    export_json: str
    def __init__(self, export_json: _Optional[str] = ...) -> None: ...

class GetTimelineRequest(_message.Message):
    __slots__ = ("customer_id", "limit", "cursor")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    limit: int
    cursor: str
    def __init__(self, customer_id: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class TimelineEntry(_message.Message):
    __slots__ = ("at", "kind", "ref", "detail_json")
    AT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    kind: str
    ref: str
    detail_json: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kind: _Optional[str] = ..., ref: _Optional[str] = ..., detail_json: _Optional[str] = ...) -> None: ...

class GetTimelineResponse(_message.Message):
    __slots__ = ("items", "next_cursor")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[TimelineEntry]
    next_cursor: str
    def __init__(self, items: _Optional[_Iterable[_Union[TimelineEntry, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...
