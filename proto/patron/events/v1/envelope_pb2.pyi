import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from patron.events.v1 import loyalty_events_pb2 as _loyalty_events_pb2
from patron.events.v1 import notify_events_pb2 as _notify_events_pb2
from patron.events.v1 import profile_events_pb2 as _profile_events_pb2
from patron.events.v1 import scoring_events_pb2 as _scoring_events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventEnvelope(_message.Message):
    __slots__ = ("event_id", "tenant_id", "type", "customer_id", "occurred_at", "producer", "partition", "position", "sequenced_at", "customer_created", "customer_updated", "customer_merged", "customer_erased", "event_recorded", "order_paid", "order_refunded", "consent_changed", "tag_changed", "lifecycle_stage_changed", "segment_entered", "segment_exited", "points_changed", "tier_changed", "coupon_issued", "coupon_redeemed", "message_sent", "message_delivered", "message_opened", "message_clicked", "message_failed", "message_suppressed", "message_converted")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    SEQUENCED_AT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_CREATED_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_UPDATED_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_MERGED_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ERASED_FIELD_NUMBER: _ClassVar[int]
    EVENT_RECORDED_FIELD_NUMBER: _ClassVar[int]
    ORDER_PAID_FIELD_NUMBER: _ClassVar[int]
    ORDER_REFUNDED_FIELD_NUMBER: _ClassVar[int]
    CONSENT_CHANGED_FIELD_NUMBER: _ClassVar[int]
    TAG_CHANGED_FIELD_NUMBER: _ClassVar[int]
    LIFECYCLE_STAGE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ENTERED_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_EXITED_FIELD_NUMBER: _ClassVar[int]
    POINTS_CHANGED_FIELD_NUMBER: _ClassVar[int]
    TIER_CHANGED_FIELD_NUMBER: _ClassVar[int]
    COUPON_ISSUED_FIELD_NUMBER: _ClassVar[int]
    COUPON_REDEEMED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_SENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_OPENED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_CLICKED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FAILED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_CONVERTED_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    tenant_id: str
    type: str
    customer_id: str
    occurred_at: _timestamp_pb2.Timestamp
    producer: str
    partition: int
    position: int
    sequenced_at: _timestamp_pb2.Timestamp
    customer_created: _profile_events_pb2.CustomerCreated
    customer_updated: _profile_events_pb2.CustomerUpdated
    customer_merged: _profile_events_pb2.CustomerMerged
    customer_erased: _profile_events_pb2.CustomerErased
    event_recorded: _profile_events_pb2.EventRecorded
    order_paid: _profile_events_pb2.OrderPaid
    order_refunded: _profile_events_pb2.OrderRefunded
    consent_changed: _profile_events_pb2.ConsentChanged
    tag_changed: _profile_events_pb2.TagChanged
    lifecycle_stage_changed: _scoring_events_pb2.LifecycleStageChanged
    segment_entered: _scoring_events_pb2.SegmentEntered
    segment_exited: _scoring_events_pb2.SegmentExited
    points_changed: _loyalty_events_pb2.PointsChanged
    tier_changed: _loyalty_events_pb2.TierChanged
    coupon_issued: _loyalty_events_pb2.CouponIssued
    coupon_redeemed: _loyalty_events_pb2.CouponRedeemed
    message_sent: _notify_events_pb2.MessageEvent
    message_delivered: _notify_events_pb2.MessageEvent
    message_opened: _notify_events_pb2.MessageEvent
    message_clicked: _notify_events_pb2.MessageEvent
    message_failed: _notify_events_pb2.MessageEvent
    message_suppressed: _notify_events_pb2.MessageEvent
    message_converted: _notify_events_pb2.MessageEvent
    def __init__(self, event_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., type: _Optional[str] = ..., customer_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., producer: _Optional[str] = ..., partition: _Optional[int] = ..., position: _Optional[int] = ..., sequenced_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., customer_created: _Optional[_Union[_profile_events_pb2.CustomerCreated, _Mapping]] = ..., customer_updated: _Optional[_Union[_profile_events_pb2.CustomerUpdated, _Mapping]] = ..., customer_merged: _Optional[_Union[_profile_events_pb2.CustomerMerged, _Mapping]] = ..., customer_erased: _Optional[_Union[_profile_events_pb2.CustomerErased, _Mapping]] = ..., event_recorded: _Optional[_Union[_profile_events_pb2.EventRecorded, _Mapping]] = ..., order_paid: _Optional[_Union[_profile_events_pb2.OrderPaid, _Mapping]] = ..., order_refunded: _Optional[_Union[_profile_events_pb2.OrderRefunded, _Mapping]] = ..., consent_changed: _Optional[_Union[_profile_events_pb2.ConsentChanged, _Mapping]] = ..., tag_changed: _Optional[_Union[_profile_events_pb2.TagChanged, _Mapping]] = ..., lifecycle_stage_changed: _Optional[_Union[_scoring_events_pb2.LifecycleStageChanged, _Mapping]] = ..., segment_entered: _Optional[_Union[_scoring_events_pb2.SegmentEntered, _Mapping]] = ..., segment_exited: _Optional[_Union[_scoring_events_pb2.SegmentExited, _Mapping]] = ..., points_changed: _Optional[_Union[_loyalty_events_pb2.PointsChanged, _Mapping]] = ..., tier_changed: _Optional[_Union[_loyalty_events_pb2.TierChanged, _Mapping]] = ..., coupon_issued: _Optional[_Union[_loyalty_events_pb2.CouponIssued, _Mapping]] = ..., coupon_redeemed: _Optional[_Union[_loyalty_events_pb2.CouponRedeemed, _Mapping]] = ..., message_sent: _Optional[_Union[_notify_events_pb2.MessageEvent, _Mapping]] = ..., message_delivered: _Optional[_Union[_notify_events_pb2.MessageEvent, _Mapping]] = ..., message_opened: _Optional[_Union[_notify_events_pb2.MessageEvent, _Mapping]] = ..., message_clicked: _Optional[_Union[_notify_events_pb2.MessageEvent, _Mapping]] = ..., message_failed: _Optional[_Union[_notify_events_pb2.MessageEvent, _Mapping]] = ..., message_suppressed: _Optional[_Union[_notify_events_pb2.MessageEvent, _Mapping]] = ..., message_converted: _Optional[_Union[_notify_events_pb2.MessageEvent, _Mapping]] = ...) -> None: ...

class PartitionPosition(_message.Message):
    __slots__ = ("partition", "after_position")
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    AFTER_POSITION_FIELD_NUMBER: _ClassVar[int]
    partition: int
    after_position: int
    def __init__(self, partition: _Optional[int] = ..., after_position: _Optional[int] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("consumer", "partitions", "types", "max_batch")
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    consumer: str
    partitions: _containers.RepeatedCompositeFieldContainer[PartitionPosition]
    types: _containers.RepeatedScalarFieldContainer[str]
    max_batch: int
    def __init__(self, consumer: _Optional[str] = ..., partitions: _Optional[_Iterable[_Union[PartitionPosition, _Mapping]]] = ..., types: _Optional[_Iterable[str]] = ..., max_batch: _Optional[int] = ...) -> None: ...

class PartitionProgress(_message.Message):
    __slots__ = ("partition", "scanned_through", "head")
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    SCANNED_THROUGH_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    partition: int
    scanned_through: int
    head: int
    def __init__(self, partition: _Optional[int] = ..., scanned_through: _Optional[int] = ..., head: _Optional[int] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("events", "progress")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[EventEnvelope]
    progress: _containers.RepeatedCompositeFieldContainer[PartitionProgress]
    def __init__(self, events: _Optional[_Iterable[_Union[EventEnvelope, _Mapping]]] = ..., progress: _Optional[_Iterable[_Union[PartitionProgress, _Mapping]]] = ...) -> None: ...

class GetHeadsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PartitionHead(_message.Message):
    __slots__ = ("partition", "head", "pruned_through", "head_sequenced_at")
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    PRUNED_THROUGH_FIELD_NUMBER: _ClassVar[int]
    HEAD_SEQUENCED_AT_FIELD_NUMBER: _ClassVar[int]
    partition: int
    head: int
    pruned_through: int
    head_sequenced_at: _timestamp_pb2.Timestamp
    def __init__(self, partition: _Optional[int] = ..., head: _Optional[int] = ..., pruned_through: _Optional[int] = ..., head_sequenced_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetHeadsResponse(_message.Message):
    __slots__ = ("producer", "partition_count", "partitions")
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    PARTITION_COUNT_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    producer: str
    partition_count: int
    partitions: _containers.RepeatedCompositeFieldContainer[PartitionHead]
    def __init__(self, producer: _Optional[str] = ..., partition_count: _Optional[int] = ..., partitions: _Optional[_Iterable[_Union[PartitionHead, _Mapping]]] = ...) -> None: ...

class ConsumerPartitionStatus(_message.Message):
    __slots__ = ("consumer", "producer", "partition", "position", "head", "lag_events", "lag_seconds", "owner", "parked", "behind_retention", "last_error")
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    LAG_EVENTS_FIELD_NUMBER: _ClassVar[int]
    LAG_SECONDS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PARKED_FIELD_NUMBER: _ClassVar[int]
    BEHIND_RETENTION_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    consumer: str
    producer: str
    partition: int
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    owner: str
    parked: int
    behind_retention: bool
    last_error: str
    def __init__(self, consumer: _Optional[str] = ..., producer: _Optional[str] = ..., partition: _Optional[int] = ..., position: _Optional[int] = ..., head: _Optional[int] = ..., lag_events: _Optional[int] = ..., lag_seconds: _Optional[float] = ..., owner: _Optional[str] = ..., parked: _Optional[int] = ..., behind_retention: _Optional[bool] = ..., last_error: _Optional[str] = ...) -> None: ...

class GetConsumerStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ConsumerDeferredWork(_message.Message):
    __slots__ = ("consumer", "work", "pending", "oldest_seconds")
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    WORK_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    OLDEST_SECONDS_FIELD_NUMBER: _ClassVar[int]
    consumer: str
    work: str
    pending: int
    oldest_seconds: float
    def __init__(self, consumer: _Optional[str] = ..., work: _Optional[str] = ..., pending: _Optional[int] = ..., oldest_seconds: _Optional[float] = ...) -> None: ...

class GetConsumerStatusResponse(_message.Message):
    __slots__ = ("partitions", "deferred")
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    DEFERRED_FIELD_NUMBER: _ClassVar[int]
    partitions: _containers.RepeatedCompositeFieldContainer[ConsumerPartitionStatus]
    deferred: _containers.RepeatedCompositeFieldContainer[ConsumerDeferredWork]
    def __init__(self, partitions: _Optional[_Iterable[_Union[ConsumerPartitionStatus, _Mapping]]] = ..., deferred: _Optional[_Iterable[_Union[ConsumerDeferredWork, _Mapping]]] = ...) -> None: ...

class ParkedEvent(_message.Message):
    __slots__ = ("id", "consumer", "producer", "partition", "position", "event_id", "type", "tenant_id", "error", "attempts", "parked_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PARKED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    consumer: str
    producer: str
    partition: int
    position: int
    event_id: str
    type: str
    tenant_id: str
    error: str
    attempts: int
    parked_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., consumer: _Optional[str] = ..., producer: _Optional[str] = ..., partition: _Optional[int] = ..., position: _Optional[int] = ..., event_id: _Optional[str] = ..., type: _Optional[str] = ..., tenant_id: _Optional[str] = ..., error: _Optional[str] = ..., attempts: _Optional[int] = ..., parked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListParkedRequest(_message.Message):
    __slots__ = ("consumer", "limit")
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    consumer: str
    limit: int
    def __init__(self, consumer: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListParkedResponse(_message.Message):
    __slots__ = ("events", "total")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[ParkedEvent]
    total: int
    def __init__(self, events: _Optional[_Iterable[_Union[ParkedEvent, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class RetryParkedRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class RetryParkedResponse(_message.Message):
    __slots__ = ("applied", "error")
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    error: str
    def __init__(self, applied: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class DiscardParkedRequest(_message.Message):
    __slots__ = ("id", "by", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: int
    by: str
    reason: str
    def __init__(self, id: _Optional[int] = ..., by: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DiscardParkedResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
