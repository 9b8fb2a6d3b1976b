from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MaskedContactsRequest(_message.Message):
    __slots__ = ("customer_ids",)
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, customer_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class MaskedContact(_message.Message):
    __slots__ = ("customer_id", "phone", "email")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    phone: str
    email: str
    def __init__(self, customer_id: _Optional[str] = ..., phone: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class MaskedContactsResponse(_message.Message):
    __slots__ = ("contacts",)
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    contacts: _containers.RepeatedCompositeFieldContainer[MaskedContact]
    def __init__(self, contacts: _Optional[_Iterable[_Union[MaskedContact, _Mapping]]] = ...) -> None: ...

class RecipientsRequest(_message.Message):
    __slots__ = ("customer_ids", "channel", "reveal")
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    REVEAL_FIELD_NUMBER: _ClassVar[int]
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    channel: str
    reveal: bool
    def __init__(self, customer_ids: _Optional[_Iterable[str]] = ..., channel: _Optional[str] = ..., reveal: _Optional[bool] = ...) -> None: ...

class Recipient(_message.Message):
    __slots__ = ("customer_id", "state", "survivor_id", "contact", "contact_masked", "timezone", "nickname")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SURVIVOR_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    CONTACT_MASKED_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    NICKNAME_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    state: str
    survivor_id: str
    contact: str
    contact_masked: str
    timezone: str
    nickname: str
    def __init__(self, customer_id: _Optional[str] = ..., state: _Optional[str] = ..., survivor_id: _Optional[str] = ..., contact: _Optional[str] = ..., contact_masked: _Optional[str] = ..., timezone: _Optional[str] = ..., nickname: _Optional[str] = ...) -> None: ...

class RecipientsResponse(_message.Message):
    __slots__ = ("recipients",)
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    recipients: _containers.RepeatedCompositeFieldContainer[Recipient]
    def __init__(self, recipients: _Optional[_Iterable[_Union[Recipient, _Mapping]]] = ...) -> None: ...
