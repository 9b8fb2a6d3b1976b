from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KpiRequest(_message.Message):
    __slots__ = ("from_date", "to_date", "with_series")
    FROM_DATE_FIELD_NUMBER: _ClassVar[int]
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    WITH_SERIES_FIELD_NUMBER: _ClassVar[int]
    from_date: str
    to_date: str
    with_series: bool
    def __init__(self, from_date: _Optional[str] = ..., to_date: _Optional[str] = ..., with_series: _Optional[bool] = ...) -> None: ...

class KpiDay(_message.Message):
    __slots__ = ("local_date", "active_customers", "new_customers", "new_buyers", "orders", "revenue_minor", "refunds_minor", "wau", "mau")
    LOCAL_DATE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    NEW_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    NEW_BUYERS_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    REFUNDS_MINOR_FIELD_NUMBER: _ClassVar[int]
    WAU_FIELD_NUMBER: _ClassVar[int]
    MAU_FIELD_NUMBER: _ClassVar[int]
    local_date: str
    active_customers: int
    new_customers: int
    new_buyers: int
    orders: int
    revenue_minor: int
    refunds_minor: int
    wau: int
    mau: int
    def __init__(self, local_date: _Optional[str] = ..., active_customers: _Optional[int] = ..., new_customers: _Optional[int] = ..., new_buyers: _Optional[int] = ..., orders: _Optional[int] = ..., revenue_minor: _Optional[int] = ..., refunds_minor: _Optional[int] = ..., wau: _Optional[int] = ..., mau: _Optional[int] = ...) -> None: ...

class ScoringKpis(_message.Message):
    __slots__ = ("from_date", "to_date", "timezone", "currency", "customers", "new_customers", "active_customers", "active_share", "dau", "wau", "mau", "orders", "revenue_minor", "refunds_minor", "aov_minor", "arpu_minor", "arppu_minor", "buyers", "repeat_buyers", "repurchase_rate", "new_buyers", "ltv_minor", "lifetime_buyers", "lifetime_revenue_minor", "nps", "nps_responses", "nps_promoters", "nps_detractors", "csat", "csat_average", "csat_responses", "money_orders", "series")
    FROM_DATE_FIELD_NUMBER: _ClassVar[int]
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    NEW_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SHARE_FIELD_NUMBER: _ClassVar[int]
    DAU_FIELD_NUMBER: _ClassVar[int]
    WAU_FIELD_NUMBER: _ClassVar[int]
    MAU_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    REFUNDS_MINOR_FIELD_NUMBER: _ClassVar[int]
    AOV_MINOR_FIELD_NUMBER: _ClassVar[int]
    ARPU_MINOR_FIELD_NUMBER: _ClassVar[int]
    ARPPU_MINOR_FIELD_NUMBER: _ClassVar[int]
    BUYERS_FIELD_NUMBER: _ClassVar[int]
    REPEAT_BUYERS_FIELD_NUMBER: _ClassVar[int]
    REPURCHASE_RATE_FIELD_NUMBER: _ClassVar[int]
    NEW_BUYERS_FIELD_NUMBER: _ClassVar[int]
    LTV_MINOR_FIELD_NUMBER: _ClassVar[int]
    LIFETIME_BUYERS_FIELD_NUMBER: _ClassVar[int]
    LIFETIME_REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    NPS_FIELD_NUMBER: _ClassVar[int]
    NPS_RESPONSES_FIELD_NUMBER: _ClassVar[int]
    NPS_PROMOTERS_FIELD_NUMBER: _ClassVar[int]
    NPS_DETRACTORS_FIELD_NUMBER: _ClassVar[int]
    CSAT_FIELD_NUMBER: _ClassVar[int]
    CSAT_AVERAGE_FIELD_NUMBER: _ClassVar[int]
    CSAT_RESPONSES_FIELD_NUMBER: _ClassVar[int]
    MONEY_ORDERS_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    from_date: str
    to_date: str
    timezone: str
    currency: str
    customers: int
    new_customers: int
    active_customers: int
    active_share: float
    dau: float
    wau: int
    mau: int
    orders: int
    revenue_minor: int
    refunds_minor: int
    aov_minor: int
    arpu_minor: int
    arppu_minor: int
    buyers: int
    repeat_buyers: int
    repurchase_rate: float
    new_buyers: int
    ltv_minor: int
    lifetime_buyers: int
    lifetime_revenue_minor: int
    nps: float
    nps_responses: int
    nps_promoters: int
    nps_detractors: int
    csat: float
    csat_average: float
    csat_responses: int
    money_orders: int
    series: _containers.RepeatedCompositeFieldContainer[KpiDay]
    def __init__(self, from_date: _Optional[str] = ..., to_date: _Optional[str] = ..., timezone: _Optional[str] = ..., currency: _Optional[str] = ..., customers: _Optional[int] = ..., new_customers: _Optional[int] = ..., active_customers: _Optional[int] = ..., active_share: _Optional[float] = ..., dau: _Optional[float] = ..., wau: _Optional[int] = ..., mau: _Optional[int] = ..., orders: _Optional[int] = ..., revenue_minor: _Optional[int] = ..., refunds_minor: _Optional[int] = ..., aov_minor: _Optional[int] = ..., arpu_minor: _Optional[int] = ..., arppu_minor: _Optional[int] = ..., buyers: _Optional[int] = ..., repeat_buyers: _Optional[int] = ..., repurchase_rate: _Optional[float] = ..., new_buyers: _Optional[int] = ..., ltv_minor: _Optional[int] = ..., lifetime_buyers: _Optional[int] = ..., lifetime_revenue_minor: _Optional[int] = ..., nps: _Optional[float] = ..., nps_responses: _Optional[int] = ..., nps_promoters: _Optional[int] = ..., nps_detractors: _Optional[int] = ..., csat: _Optional[float] = ..., csat_average: _Optional[float] = ..., csat_responses: _Optional[int] = ..., money_orders: _Optional[int] = ..., series: _Optional[_Iterable[_Union[KpiDay, _Mapping]]] = ...) -> None: ...

class RetentionRequest(_message.Message):
    __slots__ = ("cohort", "from_date", "to_date")
    COHORT_FIELD_NUMBER: _ClassVar[int]
    FROM_DATE_FIELD_NUMBER: _ClassVar[int]
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    cohort: str
    from_date: str
    to_date: str
    def __init__(self, cohort: _Optional[str] = ..., from_date: _Optional[str] = ..., to_date: _Optional[str] = ...) -> None: ...

class RetentionPeriod(_message.Message):
    __slots__ = ("offset", "start_date", "customers", "complete", "rate")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    offset: int
    start_date: str
    customers: int
    complete: bool
    rate: float
    def __init__(self, offset: _Optional[int] = ..., start_date: _Optional[str] = ..., customers: _Optional[int] = ..., complete: _Optional[bool] = ..., rate: _Optional[float] = ...) -> None: ...

class RetentionCohort(_message.Message):
    __slots__ = ("start_date", "customers", "complete", "periods")
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    PERIODS_FIELD_NUMBER: _ClassVar[int]
    start_date: str
    customers: int
    complete: bool
    periods: _containers.RepeatedCompositeFieldContainer[RetentionPeriod]
    def __init__(self, start_date: _Optional[str] = ..., customers: _Optional[int] = ..., complete: _Optional[bool] = ..., periods: _Optional[_Iterable[_Union[RetentionPeriod, _Mapping]]] = ...) -> None: ...

class Retention(_message.Message):
    __slots__ = ("cohorts",)
    COHORTS_FIELD_NUMBER: _ClassVar[int]
    cohorts: _containers.RepeatedCompositeFieldContainer[RetentionCohort]
    def __init__(self, cohorts: _Optional[_Iterable[_Union[RetentionCohort, _Mapping]]] = ...) -> None: ...
