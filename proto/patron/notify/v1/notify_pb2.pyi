import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PutChannelRequest(_message.Message):
    __slots__ = ("channel", "document_json")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    channel: str
    document_json: str
    def __init__(self, channel: _Optional[str] = ..., document_json: _Optional[str] = ...) -> None: ...

class Channel(_message.Message):
    __slots__ = ("channel", "provider", "settings_json", "secrets_set", "enabled", "updated_at")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_JSON_FIELD_NUMBER: _ClassVar[int]
    SECRETS_SET_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    channel: str
    provider: str
    settings_json: str
    secrets_set: _containers.RepeatedScalarFieldContainer[str]
    enabled: bool
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, channel: _Optional[str] = ..., provider: _Optional[str] = ..., settings_json: _Optional[str] = ..., secrets_set: _Optional[_Iterable[str]] = ..., enabled: _Optional[bool] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetChannelRequest(_message.Message):
    __slots__ = ("channel",)
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    channel: str
    def __init__(self, channel: _Optional[str] = ...) -> None: ...

class ListChannelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListChannelsResponse(_message.Message):
    __slots__ = ("channels",)
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedCompositeFieldContainer[Channel]
    def __init__(self, channels: _Optional[_Iterable[_Union[Channel, _Mapping]]] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PutPolicyRequest(_message.Message):
    __slots__ = ("document_json",)
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    document_json: str
    def __init__(self, document_json: _Optional[str] = ...) -> None: ...

class Policy(_message.Message):
    __slots__ = ("document_json", "updated_at")
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    document_json: str
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, document_json: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateTemplateRequest(_message.Message):
    __slots__ = ("document_json",)
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    document_json: str
    def __init__(self, document_json: _Optional[str] = ...) -> None: ...

class Template(_message.Message):
    __slots__ = ("template_id", "name", "channel", "purpose", "subject", "body", "html", "provider_template_json", "personal_fields", "created_at", "sms_characters", "sms_segments", "sms_encoding")
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    HTML_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_TEMPLATE_JSON_FIELD_NUMBER: _ClassVar[int]
    PERSONAL_FIELDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SMS_CHARACTERS_FIELD_NUMBER: _ClassVar[int]
    SMS_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    SMS_ENCODING_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    name: str
    channel: str
    purpose: str
    subject: str
    body: str
    html: str
    provider_template_json: str
    personal_fields: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    sms_characters: int
    sms_segments: int
    sms_encoding: str
    def __init__(self, template_id: _Optional[str] = ..., name: _Optional[str] = ..., channel: _Optional[str] = ..., purpose: _Optional[str] = ..., subject: _Optional[str] = ..., body: _Optional[str] = ..., html: _Optional[str] = ..., provider_template_json: _Optional[str] = ..., personal_fields: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sms_characters: _Optional[int] = ..., sms_segments: _Optional[int] = ..., sms_encoding: _Optional[str] = ...) -> None: ...

class GetTemplateRequest(_message.Message):
    __slots__ = ("template_id",)
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    def __init__(self, template_id: _Optional[str] = ...) -> None: ...

class ListTemplatesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTemplatesResponse(_message.Message):
    __slots__ = ("templates", "next_page_token")
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    templates: _containers.RepeatedCompositeFieldContainer[Template]
    next_page_token: str
    def __init__(self, templates: _Optional[_Iterable[_Union[Template, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PreviewTemplateRequest(_message.Message):
    __slots__ = ("template_id", "customer_id", "data_json", "coupon_code")
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    COUPON_CODE_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    customer_id: str
    data_json: str
    coupon_code: str
    def __init__(self, template_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., data_json: _Optional[str] = ..., coupon_code: _Optional[str] = ...) -> None: ...

class Preview(_message.Message):
    __slots__ = ("subject", "body", "html", "missing", "sms_characters", "sms_segments", "sms_encoding", "to_masked")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    HTML_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    SMS_CHARACTERS_FIELD_NUMBER: _ClassVar[int]
    SMS_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    SMS_ENCODING_FIELD_NUMBER: _ClassVar[int]
    TO_MASKED_FIELD_NUMBER: _ClassVar[int]
    subject: str
    body: str
    html: str
    missing: _containers.RepeatedScalarFieldContainer[str]
    sms_characters: int
    sms_segments: int
    sms_encoding: str
    to_masked: str
    def __init__(self, subject: _Optional[str] = ..., body: _Optional[str] = ..., html: _Optional[str] = ..., missing: _Optional[_Iterable[str]] = ..., sms_characters: _Optional[int] = ..., sms_segments: _Optional[int] = ..., sms_encoding: _Optional[str] = ..., to_masked: _Optional[str] = ...) -> None: ...

class SendMessageRequest(_message.Message):
    __slots__ = ("customer_id", "template_id", "data_json", "dedupe_key", "coupon_code", "sender", "sender_ref")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    DEDUPE_KEY_FIELD_NUMBER: _ClassVar[int]
    COUPON_CODE_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    SENDER_REF_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    template_id: str
    data_json: str
    dedupe_key: str
    coupon_code: str
    sender: str
    sender_ref: str
    def __init__(self, customer_id: _Optional[str] = ..., template_id: _Optional[str] = ..., data_json: _Optional[str] = ..., dedupe_key: _Optional[str] = ..., coupon_code: _Optional[str] = ..., sender: _Optional[str] = ..., sender_ref: _Optional[str] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("message_id", "customer_id", "template_id", "channel", "purpose", "status", "reason", "to_masked", "sender", "error", "attempts", "created_at", "due_at", "sent_at", "delivered_at", "opened_at", "clicked_at", "failed_at", "converted_at", "conversion_order_id", "deduplicated")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TO_MASKED_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_AT_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    CLICKED_AT_FIELD_NUMBER: _ClassVar[int]
    FAILED_AT_FIELD_NUMBER: _ClassVar[int]
    CONVERTED_AT_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    customer_id: str
    template_id: str
    channel: str
    purpose: str
    status: str
    reason: str
    to_masked: str
    sender: str
    error: str
    attempts: int
    created_at: _timestamp_pb2.Timestamp
    due_at: _timestamp_pb2.Timestamp
    sent_at: _timestamp_pb2.Timestamp
    delivered_at: _timestamp_pb2.Timestamp
    opened_at: _timestamp_pb2.Timestamp
    clicked_at: _timestamp_pb2.Timestamp
    failed_at: _timestamp_pb2.Timestamp
    converted_at: _timestamp_pb2.Timestamp
    conversion_order_id: str
    deduplicated: bool
    def __init__(self, message_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., template_id: _Optional[str] = ..., channel: _Optional[str] = ..., purpose: _Optional[str] = ..., status: _Optional[str] = ..., reason: _Optional[str] = ..., to_masked: _Optional[str] = ..., sender: _Optional[str] = ..., error: _Optional[str] = ..., attempts: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delivered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., clicked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., failed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., converted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., conversion_order_id: _Optional[str] = ..., deduplicated: _Optional[bool] = ...) -> None: ...

class GetMessageRequest(_message.Message):
    __slots__ = ("message_id",)
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    def __init__(self, message_id: _Optional[str] = ...) -> None: ...

class ListCustomerMessagesRequest(_message.Message):
    __slots__ = ("customer_id", "page_size", "page_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    page_size: int
    page_token: str
    def __init__(self, customer_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCustomerMessagesResponse(_message.Message):
    __slots__ = ("messages", "next_page_token")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    next_page_token: str
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

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

class LinkRequest(_message.Message):
    __slots__ = ("token", "user_agent", "method", "client_address")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    token: str
    user_agent: str
    method: str
    client_address: str
    def __init__(self, token: _Optional[str] = ..., user_agent: _Optional[str] = ..., method: _Optional[str] = ..., client_address: _Optional[str] = ...) -> None: ...

class LinkResponse(_message.Message):
    __slots__ = ("redirect_url", "recorded", "channel")
    REDIRECT_URL_FIELD_NUMBER: _ClassVar[int]
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    redirect_url: str
    recorded: bool
    channel: str
    def __init__(self, redirect_url: _Optional[str] = ..., recorded: _Optional[bool] = ..., channel: _Optional[str] = ...) -> None: ...

class ReceiptRequest(_message.Message):
    __slots__ = ("channel", "body", "headers", "query")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class QueryEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    channel: str
    body: bytes
    headers: _containers.ScalarMap[str, str]
    query: _containers.ScalarMap[str, str]
    def __init__(self, channel: _Optional[str] = ..., body: _Optional[bytes] = ..., headers: _Optional[_Mapping[str, str]] = ..., query: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ReceiptResponse(_message.Message):
    __slots__ = ("applied", "reply")
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    applied: int
    reply: str
    def __init__(self, applied: _Optional[int] = ..., reply: _Optional[str] = ...) -> None: ...
