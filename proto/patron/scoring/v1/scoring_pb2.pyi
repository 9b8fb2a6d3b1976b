import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Rfm(_message.Message):
    __slots__ = ("r", "f", "m", "group", "group_label", "recency_days", "frequency", "monetary_minor")
    R_FIELD_NUMBER: _ClassVar[int]
    F_FIELD_NUMBER: _ClassVar[int]
    M_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    GROUP_LABEL_FIELD_NUMBER: _ClassVar[int]
    RECENCY_DAYS_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    MONETARY_MINOR_FIELD_NUMBER: _ClassVar[int]
    r: int
    f: int
    m: int
    group: str
    group_label: str
    recency_days: int
    frequency: int
    monetary_minor: int
    def __init__(self, r: _Optional[int] = ..., f: _Optional[int] = ..., m: _Optional[int] = ..., group: _Optional[str] = ..., group_label: _Optional[str] = ..., recency_days: _Optional[int] = ..., frequency: _Optional[int] = ..., monetary_minor: _Optional[int] = ...) -> None: ...

class Lifecycle(_message.Message):
    __slots__ = ("stage", "reason")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    stage: str
    reason: str
    def __init__(self, stage: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Predictions(_message.Message):
    __slots__ = ("as_of", "p_alive", "expected_purchases_30d", "expected_avg_spend_minor", "clv_minor")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    P_ALIVE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_PURCHASES_30D_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_AVG_SPEND_MINOR_FIELD_NUMBER: _ClassVar[int]
    CLV_MINOR_FIELD_NUMBER: _ClassVar[int]
    as_of: str
    p_alive: float
    expected_purchases_30d: float
    expected_avg_spend_minor: int
    clv_minor: int
    def __init__(self, as_of: _Optional[str] = ..., p_alive: _Optional[float] = ..., expected_purchases_30d: _Optional[float] = ..., expected_avg_spend_minor: _Optional[int] = ..., clv_minor: _Optional[int] = ...) -> None: ...

class ActivityCounts(_message.Message):
    __slots__ = ("last_7d", "last_30d", "last_90d")
    LAST_7D_FIELD_NUMBER: _ClassVar[int]
    LAST_30D_FIELD_NUMBER: _ClassVar[int]
    LAST_90D_FIELD_NUMBER: _ClassVar[int]
    last_7d: int
    last_30d: int
    last_90d: int
    def __init__(self, last_7d: _Optional[int] = ..., last_30d: _Optional[int] = ..., last_90d: _Optional[int] = ...) -> None: ...

class Features(_message.Message):
    __slots__ = ("first_order_at", "last_order_at", "order_count", "net_spend_minor", "mean_gap_days", "last_gap_days", "top_category", "top_brand", "avg_unit_price_minor", "price_band", "coupon_share", "active_hour", "last_seen_at", "last_activity", "activity_counts")
    class LastActivityEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _timestamp_pb2.Timestamp
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
    class ActivityCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ActivityCounts
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ActivityCounts, _Mapping]] = ...) -> None: ...
    FIRST_ORDER_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ORDER_AT_FIELD_NUMBER: _ClassVar[int]
    ORDER_COUNT_FIELD_NUMBER: _ClassVar[int]
    NET_SPEND_MINOR_FIELD_NUMBER: _ClassVar[int]
    MEAN_GAP_DAYS_FIELD_NUMBER: _ClassVar[int]
    LAST_GAP_DAYS_FIELD_NUMBER: _ClassVar[int]
    TOP_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TOP_BRAND_FIELD_NUMBER: _ClassVar[int]
    AVG_UNIT_PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    PRICE_BAND_FIELD_NUMBER: _ClassVar[int]
    COUPON_SHARE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_HOUR_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_COUNTS_FIELD_NUMBER: _ClassVar[int]
    first_order_at: _timestamp_pb2.Timestamp
    last_order_at: _timestamp_pb2.Timestamp
    order_count: int
    net_spend_minor: int
    mean_gap_days: float
    last_gap_days: float
    top_category: str
    top_brand: str
    avg_unit_price_minor: int
    price_band: str
    coupon_share: float
    active_hour: int
    last_seen_at: _timestamp_pb2.Timestamp
    last_activity: _containers.MessageMap[str, _timestamp_pb2.Timestamp]
    activity_counts: _containers.MessageMap[str, ActivityCounts]
    def __init__(self, first_order_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_order_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., order_count: _Optional[int] = ..., net_spend_minor: _Optional[int] = ..., mean_gap_days: _Optional[float] = ..., last_gap_days: _Optional[float] = ..., top_category: _Optional[str] = ..., top_brand: _Optional[str] = ..., avg_unit_price_minor: _Optional[int] = ..., price_band: _Optional[str] = ..., coupon_share: _Optional[float] = ..., active_hour: _Optional[int] = ..., last_seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_activity: _Optional[_Mapping[str, _timestamp_pb2.Timestamp]] = ..., activity_counts: _Optional[_Mapping[str, ActivityCounts]] = ...) -> None: ...

class GetCustomerScoresRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class CustomerScores(_message.Message):
    __slots__ = ("customer_id", "as_of", "rfm", "lifecycle", "engagement", "predictions", "features")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    RFM_FIELD_NUMBER: _ClassVar[int]
    LIFECYCLE_FIELD_NUMBER: _ClassVar[int]
    ENGAGEMENT_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    as_of: str
    rfm: Rfm
    lifecycle: Lifecycle
    engagement: float
    predictions: Predictions
    features: Features
    def __init__(self, customer_id: _Optional[str] = ..., as_of: _Optional[str] = ..., rfm: _Optional[_Union[Rfm, _Mapping]] = ..., lifecycle: _Optional[_Union[Lifecycle, _Mapping]] = ..., engagement: _Optional[float] = ..., predictions: _Optional[_Union[Predictions, _Mapping]] = ..., features: _Optional[_Union[Features, _Mapping]] = ...) -> None: ...

class GetRfmSummaryRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RfmCell(_message.Message):
    __slots__ = ("r", "f", "m", "customers")
    R_FIELD_NUMBER: _ClassVar[int]
    F_FIELD_NUMBER: _ClassVar[int]
    M_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    r: int
    f: int
    m: int
    customers: int
    def __init__(self, r: _Optional[int] = ..., f: _Optional[int] = ..., m: _Optional[int] = ..., customers: _Optional[int] = ...) -> None: ...

class RfmGroupSummary(_message.Message):
    __slots__ = ("group", "label", "customers", "spend_minor")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    SPEND_MINOR_FIELD_NUMBER: _ClassVar[int]
    group: str
    label: str
    customers: int
    spend_minor: int
    def __init__(self, group: _Optional[str] = ..., label: _Optional[str] = ..., customers: _Optional[int] = ..., spend_minor: _Optional[int] = ...) -> None: ...

class RfmThresholds(_message.Message):
    __slots__ = ("as_of", "method", "split", "recency_days", "frequency", "monetary_minor", "recency_split", "frequency_split", "monetary_split")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    RECENCY_DAYS_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    MONETARY_MINOR_FIELD_NUMBER: _ClassVar[int]
    RECENCY_SPLIT_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_SPLIT_FIELD_NUMBER: _ClassVar[int]
    MONETARY_SPLIT_FIELD_NUMBER: _ClassVar[int]
    as_of: str
    method: str
    split: str
    recency_days: _containers.RepeatedScalarFieldContainer[float]
    frequency: _containers.RepeatedScalarFieldContainer[float]
    monetary_minor: _containers.RepeatedScalarFieldContainer[float]
    recency_split: float
    frequency_split: float
    monetary_split: float
    def __init__(self, as_of: _Optional[str] = ..., method: _Optional[str] = ..., split: _Optional[str] = ..., recency_days: _Optional[_Iterable[float]] = ..., frequency: _Optional[_Iterable[float]] = ..., monetary_minor: _Optional[_Iterable[float]] = ..., recency_split: _Optional[float] = ..., frequency_split: _Optional[float] = ..., monetary_split: _Optional[float] = ...) -> None: ...

class RfmSummary(_message.Message):
    __slots__ = ("cells", "groups", "customers_scored", "customers_without_rfm", "thresholds")
    CELLS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_SCORED_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_WITHOUT_RFM_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    cells: _containers.RepeatedCompositeFieldContainer[RfmCell]
    groups: _containers.RepeatedCompositeFieldContainer[RfmGroupSummary]
    customers_scored: int
    customers_without_rfm: int
    thresholds: RfmThresholds
    def __init__(self, cells: _Optional[_Iterable[_Union[RfmCell, _Mapping]]] = ..., groups: _Optional[_Iterable[_Union[RfmGroupSummary, _Mapping]]] = ..., customers_scored: _Optional[int] = ..., customers_without_rfm: _Optional[int] = ..., thresholds: _Optional[_Union[RfmThresholds, _Mapping]] = ...) -> None: ...

class GetLifecycleSummaryRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StageCount(_message.Message):
    __slots__ = ("stage", "customers")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    stage: str
    customers: int
    def __init__(self, stage: _Optional[str] = ..., customers: _Optional[int] = ...) -> None: ...

class LifecycleSummary(_message.Message):
    __slots__ = ("stages",)
    STAGES_FIELD_NUMBER: _ClassVar[int]
    stages: _containers.RepeatedCompositeFieldContainer[StageCount]
    def __init__(self, stages: _Optional[_Iterable[_Union[StageCount, _Mapping]]] = ...) -> None: ...

class GetConfigRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PutConfigRequest(_message.Message):
    __slots__ = ("document_json",)
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    document_json: str
    def __init__(self, document_json: _Optional[str] = ...) -> None: ...

class ConfigDocument(_message.Message):
    __slots__ = ("document_json",)
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    document_json: str
    def __init__(self, document_json: _Optional[str] = ...) -> None: ...

class StartRunRequest(_message.Message):
    __slots__ = ("as_of",)
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    as_of: str
    def __init__(self, as_of: _Optional[str] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("run_id", "status", "phase", "done", "total", "as_of", "trigger", "started_at", "finished_at", "error", "details_json")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    status: str
    phase: str
    done: int
    total: int
    as_of: str
    trigger: str
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    error: str
    details_json: str
    def __init__(self, run_id: _Optional[str] = ..., status: _Optional[str] = ..., phase: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ..., as_of: _Optional[str] = ..., trigger: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error: _Optional[str] = ..., details_json: _Optional[str] = ...) -> None: ...
