from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class KpiRequest(_message.Message):
    __slots__ = ("from_date", "to_date")
    FROM_DATE_FIELD_NUMBER: _ClassVar[int]
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    from_date: str
    to_date: str
    def __init__(self, from_date: _Optional[str] = ..., to_date: _Optional[str] = ...) -> None: ...

class CampaignKpis(_message.Message):
    __slots__ = ("from_date", "to_date", "campaigns", "recipients", "sent", "conversions", "conversion_rate", "orders", "revenue_minor", "coupon_cost_minor", "incremental_revenue_minor", "roi")
    FROM_DATE_FIELD_NUMBER: _ClassVar[int]
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_RATE_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    COUPON_COST_MINOR_FIELD_NUMBER: _ClassVar[int]
    INCREMENTAL_REVENUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    ROI_FIELD_NUMBER: _ClassVar[int]
    from_date: str
    to_date: str
    campaigns: int
    recipients: int
    sent: int
    conversions: int
    conversion_rate: float
    orders: int
    revenue_minor: int
    coupon_cost_minor: int
    incremental_revenue_minor: int
    roi: float
    def __init__(self, from_date: _Optional[str] = ..., to_date: _Optional[str] = ..., campaigns: _Optional[int] = ..., recipients: _Optional[int] = ..., sent: _Optional[int] = ..., conversions: _Optional[int] = ..., conversion_rate: _Optional[float] = ..., orders: _Optional[int] = ..., revenue_minor: _Optional[int] = ..., coupon_cost_minor: _Optional[int] = ..., incremental_revenue_minor: _Optional[int] = ..., roi: _Optional[float] = ...) -> None: ...
