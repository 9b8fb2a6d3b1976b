import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from patron.common.v1 import tenancy_pb2 as _tenancy_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Operator(_message.Message):
    __slots__ = ("operator_id", "email", "role", "created_at", "disabled_at", "last_sign_in_at")
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DISABLED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SIGN_IN_AT_FIELD_NUMBER: _ClassVar[int]
    operator_id: str
    email: str
    role: str
    created_at: _timestamp_pb2.Timestamp
    disabled_at: _timestamp_pb2.Timestamp
    last_sign_in_at: _timestamp_pb2.Timestamp
    def __init__(self, operator_id: _Optional[str] = ..., email: _Optional[str] = ..., role: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., disabled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_sign_in_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateOperatorRequest(_message.Message):
    __slots__ = ("email", "password", "role")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    email: str
    password: str
    role: str
    def __init__(self, email: _Optional[str] = ..., password: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class ListOperatorsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListOperatorsResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Operator]
    def __init__(self, items: _Optional[_Iterable[_Union[Operator, _Mapping]]] = ...) -> None: ...

class UpdateOperatorRequest(_message.Message):
    __slots__ = ("operator_id", "role", "disabled", "password")
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    operator_id: str
    role: str
    disabled: bool
    password: str
    def __init__(self, operator_id: _Optional[str] = ..., role: _Optional[str] = ..., disabled: _Optional[bool] = ..., password: _Optional[str] = ...) -> None: ...

class SignInRequest(_message.Message):
    __slots__ = ("email", "password", "session_sha256")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    SESSION_SHA256_FIELD_NUMBER: _ClassVar[int]
    email: str
    password: str
    session_sha256: str
    def __init__(self, email: _Optional[str] = ..., password: _Optional[str] = ..., session_sha256: _Optional[str] = ...) -> None: ...

class SignInResponse(_message.Message):
    __slots__ = ("operator", "expires_at")
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    operator: Operator
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, operator: _Optional[_Union[Operator, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RevokeSessionRequest(_message.Message):
    __slots__ = ("session_sha256",)
    SESSION_SHA256_FIELD_NUMBER: _ClassVar[int]
    session_sha256: str
    def __init__(self, session_sha256: _Optional[str] = ...) -> None: ...

class RevokeSessionResponse(_message.Message):
    __slots__ = ("revoked",)
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    revoked: bool
    def __init__(self, revoked: _Optional[bool] = ...) -> None: ...

class ResolveSessionRequest(_message.Message):
    __slots__ = ("session_sha256",)
    SESSION_SHA256_FIELD_NUMBER: _ClassVar[int]
    session_sha256: str
    def __init__(self, session_sha256: _Optional[str] = ...) -> None: ...

class ResolveSessionResponse(_message.Message):
    __slots__ = ("tenant", "operator", "expires_at")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    tenant: _tenancy_pb2.TenantSpec
    operator: Operator
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, tenant: _Optional[_Union[_tenancy_pb2.TenantSpec, _Mapping]] = ..., operator: _Optional[_Union[Operator, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
