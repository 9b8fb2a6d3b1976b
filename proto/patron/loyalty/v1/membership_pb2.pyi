import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetMembershipRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class TierSummary(_message.Message):
    __slots__ = ("code", "name", "threshold")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: str
    threshold: int
    def __init__(self, code: _Optional[str] = ..., name: _Optional[str] = ..., threshold: _Optional[int] = ...) -> None: ...

class MemberBenefits(_message.Message):
    __slots__ = ("discount_percent", "free_shipping", "priority_service", "birthday_coupon_template_id", "points_multiplier_percent")
    DISCOUNT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    FREE_SHIPPING_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_SERVICE_FIELD_NUMBER: _ClassVar[int]
    BIRTHDAY_COUPON_TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_MULTIPLIER_PERCENT_FIELD_NUMBER: _ClassVar[int]
    discount_percent: int
    free_shipping: bool
    priority_service: bool
    birthday_coupon_template_id: str
    points_multiplier_percent: int
    def __init__(self, discount_percent: _Optional[int] = ..., free_shipping: _Optional[bool] = ..., priority_service: _Optional[bool] = ..., birthday_coupon_template_id: _Optional[str] = ..., points_multiplier_percent: _Optional[int] = ...) -> None: ...

class TierProgress(_message.Message):
    __slots__ = ("metric", "window_months", "value", "next_tier", "remaining")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    WINDOW_MONTHS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    NEXT_TIER_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    metric: str
    window_months: int
    value: int
    next_tier: TierSummary
    remaining: int
    def __init__(self, metric: _Optional[str] = ..., window_months: _Optional[int] = ..., value: _Optional[int] = ..., next_tier: _Optional[_Union[TierSummary, _Mapping]] = ..., remaining: _Optional[int] = ...) -> None: ...

class Membership(_message.Message):
    __slots__ = ("customer_id", "tier", "benefits", "progress", "tier_since", "next_review_at", "grace_until", "program_version")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    BENEFITS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    TIER_SINCE_FIELD_NUMBER: _ClassVar[int]
    NEXT_REVIEW_AT_FIELD_NUMBER: _ClassVar[int]
    GRACE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_VERSION_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    tier: TierSummary
    benefits: MemberBenefits
    progress: TierProgress
    tier_since: _timestamp_pb2.Timestamp
    next_review_at: _timestamp_pb2.Timestamp
    grace_until: _timestamp_pb2.Timestamp
    program_version: int
    def __init__(self, customer_id: _Optional[str] = ..., tier: _Optional[_Union[TierSummary, _Mapping]] = ..., benefits: _Optional[_Union[MemberBenefits, _Mapping]] = ..., progress: _Optional[_Union[TierProgress, _Mapping]] = ..., tier_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_review_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., grace_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., program_version: _Optional[int] = ...) -> None: ...

class ListTierHistoryRequest(_message.Message):
    __slots__ = ("customer_id", "limit", "cursor")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    limit: int
    cursor: str
    def __init__(self, customer_id: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class TierChange(_message.Message):
    __slots__ = ("from_tier", "to_tier", "direction", "reason", "value", "program_version", "changed_at")
    FROM_TIER_FIELD_NUMBER: _ClassVar[int]
    TO_TIER_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    from_tier: str
    to_tier: str
    direction: str
    reason: str
    value: int
    program_version: int
    changed_at: _timestamp_pb2.Timestamp
    def __init__(self, from_tier: _Optional[str] = ..., to_tier: _Optional[str] = ..., direction: _Optional[str] = ..., reason: _Optional[str] = ..., value: _Optional[int] = ..., program_version: _Optional[int] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListTierHistoryResponse(_message.Message):
    __slots__ = ("changes", "next_cursor")
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[TierChange]
    next_cursor: str
    def __init__(self, changes: _Optional[_Iterable[_Union[TierChange, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...
