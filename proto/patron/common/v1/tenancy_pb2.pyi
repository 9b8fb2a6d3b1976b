from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TenantSpec(_message.Message):
    __slots__ = ("tenant_id", "name", "timezone", "currency", "default_region")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_REGION_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    name: str
    timezone: str
    currency: str
    default_region: str
    def __init__(self, tenant_id: _Optional[str] = ..., name: _Optional[str] = ..., timezone: _Optional[str] = ..., currency: _Optional[str] = ..., default_region: _Optional[str] = ...) -> None: ...

class ProvisionTenantRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: TenantSpec
    def __init__(self, tenant: _Optional[_Union[TenantSpec, _Mapping]] = ...) -> None: ...

class ProvisionTenantResponse(_message.Message):
    __slots__ = ("created",)
    CREATED_FIELD_NUMBER: _ClassVar[int]
    created: bool
    def __init__(self, created: _Optional[bool] = ...) -> None: ...
