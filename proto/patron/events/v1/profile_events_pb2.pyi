import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SegmentAttributes(_message.Message):
    __slots__ = ("gender", "province", "city", "birthday", "registered_at", "timezone", "registration_channel", "device")
    GENDER_FIELD_NUMBER: _ClassVar[int]
    PROVINCE_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    BIRTHDAY_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    gender: str
    province: str
    city: str
    birthday: str
    registered_at: _timestamp_pb2.Timestamp
    timezone: str
    registration_channel: str
    device: str
    def __init__(self, gender: _Optional[str] = ..., province: _Optional[str] = ..., city: _Optional[str] = ..., birthday: _Optional[str] = ..., registered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., timezone: _Optional[str] = ..., registration_channel: _Optional[str] = ..., device: _Optional[str] = ...) -> None: ...

class CustomerCreated(_message.Message):
    __slots__ = ("created_at", "identity_types", "registration_channel", "device", "attributes")
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_TYPES_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    created_at: _timestamp_pb2.Timestamp
    identity_types: _containers.RepeatedScalarFieldContainer[str]
    registration_channel: str
    device: str
    attributes: SegmentAttributes
    def __init__(self, created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., identity_types: _Optional[_Iterable[str]] = ..., registration_channel: _Optional[str] = ..., device: _Optional[str] = ..., attributes: _Optional[_Union[SegmentAttributes, _Mapping]] = ...) -> None: ...

class CustomerUpdated(_message.Message):
    __slots__ = ("changed_attributes", "added_identity_types", "attributes")
    CHANGED_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    ADDED_IDENTITY_TYPES_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    changed_attributes: _containers.RepeatedScalarFieldContainer[str]
    added_identity_types: _containers.RepeatedScalarFieldContainer[str]
    attributes: SegmentAttributes
    def __init__(self, changed_attributes: _Optional[_Iterable[str]] = ..., added_identity_types: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Union[SegmentAttributes, _Mapping]] = ...) -> None: ...

class CustomerMerged(_message.Message):
    __slots__ = ("survivor_id", "merged_ids", "survivor_attributes")
    SURVIVOR_ID_FIELD_NUMBER: _ClassVar[int]
    MERGED_IDS_FIELD_NUMBER: _ClassVar[int]
    SURVIVOR_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    survivor_id: str
    merged_ids: _containers.RepeatedScalarFieldContainer[str]
    survivor_attributes: SegmentAttributes
    def __init__(self, survivor_id: _Optional[str] = ..., merged_ids: _Optional[_Iterable[str]] = ..., survivor_attributes: _Optional[_Union[SegmentAttributes, _Mapping]] = ...) -> None: ...

class CustomerErased(_message.Message):
    __slots__ = ("erased_at", "merged_ids")
    ERASED_AT_FIELD_NUMBER: _ClassVar[int]
    MERGED_IDS_FIELD_NUMBER: _ClassVar[int]
    erased_at: _timestamp_pb2.Timestamp
    merged_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, erased_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., merged_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class EventRecorded(_message.Message):
    __slots__ = ("client_event_id", "event_type", "properties_json")
    CLIENT_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_JSON_FIELD_NUMBER: _ClassVar[int]
    client_event_id: str
    event_type: str
    properties_json: str
    def __init__(self, client_event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., properties_json: _Optional[str] = ...) -> None: ...

class OrderItem(_message.Message):
    __slots__ = ("sku", "category", "brand", "unit_price_minor", "quantity")
    SKU_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    BRAND_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    sku: str
    category: str
    brand: str
    unit_price_minor: int
    quantity: int
    def __init__(self, sku: _Optional[str] = ..., category: _Optional[str] = ..., brand: _Optional[str] = ..., unit_price_minor: _Optional[int] = ..., quantity: _Optional[int] = ...) -> None: ...

class OrderPaid(_message.Message):
    __slots__ = ("order_id", "paid_at", "currency", "amount_minor", "items", "coupon_code", "channel")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    PAID_AT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    COUPON_CODE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    paid_at: _timestamp_pb2.Timestamp
    currency: str
    amount_minor: int
    items: _containers.RepeatedCompositeFieldContainer[OrderItem]
    coupon_code: str
    channel: str
    def __init__(self, order_id: _Optional[str] = ..., paid_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., currency: _Optional[str] = ..., amount_minor: _Optional[int] = ..., items: _Optional[_Iterable[_Union[OrderItem, _Mapping]]] = ..., coupon_code: _Optional[str] = ..., channel: _Optional[str] = ...) -> None: ...

class OrderRefunded(_message.Message):
    __slots__ = ("order_id", "refund_id", "amount_minor", "currency", "reason", "refunded_at", "fully_refunded")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_AT_FIELD_NUMBER: _ClassVar[int]
    FULLY_REFUNDED_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    refund_id: str
    amount_minor: int
    currency: str
    reason: str
    refunded_at: _timestamp_pb2.Timestamp
    fully_refunded: bool
    def __init__(self, order_id: _Optional[str] = ..., refund_id: _Optional[str] = ..., amount_minor: _Optional[int] = ..., currency: _Optional[str] = ..., reason: _Optional[str] = ..., refunded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fully_refunded: _Optional[bool] = ...) -> None: ...

class ConsentChanged(_message.Message):
    __slots__ = ("channel", "purpose", "granted", "source")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    channel: str
    purpose: str
    granted: bool
    source: str
    def __init__(self, channel: _Optional[str] = ..., purpose: _Optional[str] = ..., granted: _Optional[bool] = ..., source: _Optional[str] = ...) -> None: ...

class TagChanged(_message.Message):
    __slots__ = ("tag_id", "tag_name", "applied", "source", "expires_at")
    TAG_ID_FIELD_NUMBER: _ClassVar[int]
    TAG_NAME_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    tag_id: str
    tag_name: str
    applied: bool
    source: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, tag_id: _Optional[str] = ..., tag_name: _Optional[str] = ..., applied: _Optional[bool] = ..., source: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
