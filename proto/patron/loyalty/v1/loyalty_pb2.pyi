import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StreakBonus(_message.Message):
    __slots__ = ("day", "bonus")
    DAY_FIELD_NUMBER: _ClassVar[int]
    BONUS_FIELD_NUMBER: _ClassVar[int]
    day: int
    bonus: int
    def __init__(self, day: _Optional[int] = ..., bonus: _Optional[int] = ...) -> None: ...

class DailyCaps(_message.Message):
    __slots__ = ("sign_in", "review", "share")
    SIGN_IN_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    sign_in: int
    review: int
    share: int
    def __init__(self, sign_in: _Optional[int] = ..., review: _Optional[int] = ..., share: _Optional[int] = ...) -> None: ...

class EarnRules(_message.Message):
    __slots__ = ("points_per_unit", "rounding", "sign_in_base", "streak_bonuses", "review_points", "share_points", "birthday_multiplier_percent", "daily_caps", "growth_per_unit", "growth_per_review")
    POINTS_PER_UNIT_FIELD_NUMBER: _ClassVar[int]
    ROUNDING_FIELD_NUMBER: _ClassVar[int]
    SIGN_IN_BASE_FIELD_NUMBER: _ClassVar[int]
    STREAK_BONUSES_FIELD_NUMBER: _ClassVar[int]
    REVIEW_POINTS_FIELD_NUMBER: _ClassVar[int]
    SHARE_POINTS_FIELD_NUMBER: _ClassVar[int]
    BIRTHDAY_MULTIPLIER_PERCENT_FIELD_NUMBER: _ClassVar[int]
    DAILY_CAPS_FIELD_NUMBER: _ClassVar[int]
    GROWTH_PER_UNIT_FIELD_NUMBER: _ClassVar[int]
    GROWTH_PER_REVIEW_FIELD_NUMBER: _ClassVar[int]
    points_per_unit: int
    rounding: str
    sign_in_base: int
    streak_bonuses: _containers.RepeatedCompositeFieldContainer[StreakBonus]
    review_points: int
    share_points: int
    birthday_multiplier_percent: int
    daily_caps: DailyCaps
    growth_per_unit: int
    growth_per_review: int
    def __init__(self, points_per_unit: _Optional[int] = ..., rounding: _Optional[str] = ..., sign_in_base: _Optional[int] = ..., streak_bonuses: _Optional[_Iterable[_Union[StreakBonus, _Mapping]]] = ..., review_points: _Optional[int] = ..., share_points: _Optional[int] = ..., birthday_multiplier_percent: _Optional[int] = ..., daily_caps: _Optional[_Union[DailyCaps, _Mapping]] = ..., growth_per_unit: _Optional[int] = ..., growth_per_review: _Optional[int] = ...) -> None: ...

class ExpiryPolicy(_message.Message):
    __slots__ = ("kind", "months")
    KIND_FIELD_NUMBER: _ClassVar[int]
    MONTHS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    months: int
    def __init__(self, kind: _Optional[str] = ..., months: _Optional[int] = ...) -> None: ...

class TierBenefits(_message.Message):
    __slots__ = ("discount_percent", "free_shipping", "priority_service", "birthday_coupon_template_id")
    DISCOUNT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    FREE_SHIPPING_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_SERVICE_FIELD_NUMBER: _ClassVar[int]
    BIRTHDAY_COUPON_TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    discount_percent: int
    free_shipping: bool
    priority_service: bool
    birthday_coupon_template_id: str
    def __init__(self, discount_percent: _Optional[int] = ..., free_shipping: _Optional[bool] = ..., priority_service: _Optional[bool] = ..., birthday_coupon_template_id: _Optional[str] = ...) -> None: ...

class Tier(_message.Message):
    __slots__ = ("code", "name", "threshold", "points_multiplier_percent", "benefits")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    POINTS_MULTIPLIER_PERCENT_FIELD_NUMBER: _ClassVar[int]
    BENEFITS_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: str
    threshold: int
    points_multiplier_percent: int
    benefits: TierBenefits
    def __init__(self, code: _Optional[str] = ..., name: _Optional[str] = ..., threshold: _Optional[int] = ..., points_multiplier_percent: _Optional[int] = ..., benefits: _Optional[_Union[TierBenefits, _Mapping]] = ...) -> None: ...

class TierLadder(_message.Message):
    __slots__ = ("metric", "window_months", "tiers")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    WINDOW_MONTHS_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    metric: str
    window_months: int
    tiers: _containers.RepeatedCompositeFieldContainer[Tier]
    def __init__(self, metric: _Optional[str] = ..., window_months: _Optional[int] = ..., tiers: _Optional[_Iterable[_Union[Tier, _Mapping]]] = ...) -> None: ...

class DowngradePolicy(_message.Message):
    __slots__ = ("review_period_months", "grace_days")
    REVIEW_PERIOD_MONTHS_FIELD_NUMBER: _ClassVar[int]
    GRACE_DAYS_FIELD_NUMBER: _ClassVar[int]
    review_period_months: int
    grace_days: int
    def __init__(self, review_period_months: _Optional[int] = ..., grace_days: _Optional[int] = ...) -> None: ...

class Program(_message.Message):
    __slots__ = ("version", "earn", "expiry", "ladder", "downgrade", "point_value_minor", "created_at")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EARN_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    LADDER_FIELD_NUMBER: _ClassVar[int]
    DOWNGRADE_FIELD_NUMBER: _ClassVar[int]
    POINT_VALUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    version: int
    earn: EarnRules
    expiry: ExpiryPolicy
    ladder: TierLadder
    downgrade: DowngradePolicy
    point_value_minor: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, version: _Optional[int] = ..., earn: _Optional[_Union[EarnRules, _Mapping]] = ..., expiry: _Optional[_Union[ExpiryPolicy, _Mapping]] = ..., ladder: _Optional[_Union[TierLadder, _Mapping]] = ..., downgrade: _Optional[_Union[DowngradePolicy, _Mapping]] = ..., point_value_minor: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetProgramRequest(_message.Message):
    __slots__ = ("version", "specific_version")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SPECIFIC_VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    specific_version: bool
    def __init__(self, version: _Optional[int] = ..., specific_version: _Optional[bool] = ...) -> None: ...

class PutProgramRequest(_message.Message):
    __slots__ = ("program",)
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    program: Program
    def __init__(self, program: _Optional[_Union[Program, _Mapping]] = ...) -> None: ...

class LedgerEntry(_message.Message):
    __slots__ = ("entry_id", "customer_id", "type", "delta", "balance_after", "reason", "source", "program_version", "occurred_at", "created_at")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    BALANCE_AFTER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_VERSION_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    customer_id: str
    type: str
    delta: int
    balance_after: int
    reason: str
    source: str
    program_version: int
    occurred_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, entry_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., type: _Optional[str] = ..., delta: _Optional[int] = ..., balance_after: _Optional[int] = ..., reason: _Optional[str] = ..., source: _Optional[str] = ..., program_version: _Optional[int] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("customer_id", "expiring_days")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRING_DAYS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    expiring_days: int
    def __init__(self, customer_id: _Optional[str] = ..., expiring_days: _Optional[int] = ...) -> None: ...

class Balance(_message.Message):
    __slots__ = ("customer_id", "balance", "expiring", "debt")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    EXPIRING_FIELD_NUMBER: _ClassVar[int]
    DEBT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    balance: int
    expiring: int
    debt: int
    def __init__(self, customer_id: _Optional[str] = ..., balance: _Optional[int] = ..., expiring: _Optional[int] = ..., debt: _Optional[int] = ...) -> None: ...

class ListLedgerRequest(_message.Message):
    __slots__ = ("customer_id", "limit", "cursor")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    limit: int
    cursor: str
    def __init__(self, customer_id: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListLedgerResponse(_message.Message):
    __slots__ = ("entries", "next_cursor")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LedgerEntry]
    next_cursor: str
    def __init__(self, entries: _Optional[_Iterable[_Union[LedgerEntry, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class MovePointsRequest(_message.Message):
    __slots__ = ("customer_id", "points", "reason", "idempotency_key")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    points: int
    reason: str
    idempotency_key: str
    def __init__(self, customer_id: _Optional[str] = ..., points: _Optional[int] = ..., reason: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class MovePointsResponse(_message.Message):
    __slots__ = ("entry_id", "balance", "replayed")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    balance: int
    replayed: bool
    def __init__(self, entry_id: _Optional[str] = ..., balance: _Optional[int] = ..., replayed: _Optional[bool] = ...) -> None: ...

class SignInRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class SignInResponse(_message.Message):
    __slots__ = ("points_awarded", "streak", "local_date", "already_signed_in", "awarded_today")
    POINTS_AWARDED_FIELD_NUMBER: _ClassVar[int]
    STREAK_FIELD_NUMBER: _ClassVar[int]
    LOCAL_DATE_FIELD_NUMBER: _ClassVar[int]
    ALREADY_SIGNED_IN_FIELD_NUMBER: _ClassVar[int]
    AWARDED_TODAY_FIELD_NUMBER: _ClassVar[int]
    points_awarded: int
    streak: int
    local_date: str
    already_signed_in: bool
    awarded_today: int
    def __init__(self, points_awarded: _Optional[int] = ..., streak: _Optional[int] = ..., local_date: _Optional[str] = ..., already_signed_in: _Optional[bool] = ..., awarded_today: _Optional[int] = ...) -> None: ...

class ListExpiringRequest(_message.Message):
    __slots__ = ("days", "limit", "cursor")
    DAYS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    days: int
    limit: int
    cursor: str
    def __init__(self, days: _Optional[int] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ExpiringPoints(_message.Message):
    __slots__ = ("customer_id", "points", "first_expires_at")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    FIRST_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    points: int
    first_expires_at: _timestamp_pb2.Timestamp
    def __init__(self, customer_id: _Optional[str] = ..., points: _Optional[int] = ..., first_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListExpiringResponse(_message.Message):
    __slots__ = ("customers", "next_cursor")
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    customers: _containers.RepeatedCompositeFieldContainer[ExpiringPoints]
    next_cursor: str
    def __init__(self, customers: _Optional[_Iterable[_Union[ExpiringPoints, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class LiabilityRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Liability(_message.Message):
    __slots__ = ("outstanding_points", "value_minor", "currency", "point_value_minor", "customers_with_points", "debt_points", "as_of")
    OUTSTANDING_POINTS_FIELD_NUMBER: _ClassVar[int]
    VALUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    POINT_VALUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_WITH_POINTS_FIELD_NUMBER: _ClassVar[int]
    DEBT_POINTS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    outstanding_points: int
    value_minor: int
    currency: str
    point_value_minor: int
    customers_with_points: int
    debt_points: int
    as_of: _timestamp_pb2.Timestamp
    def __init__(self, outstanding_points: _Optional[int] = ..., value_minor: _Optional[int] = ..., currency: _Optional[str] = ..., point_value_minor: _Optional[int] = ..., customers_with_points: _Optional[int] = ..., debt_points: _Optional[int] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DailyReportRequest(_message.Message):
    __slots__ = ("from_date", "to_date")
    FROM_DATE_FIELD_NUMBER: _ClassVar[int]
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    from_date: str
    to_date: str
    def __init__(self, from_date: _Optional[str] = ..., to_date: _Optional[str] = ...) -> None: ...

class DailyPoints(_message.Message):
    __slots__ = ("local_date", "earned", "redeemed", "expired", "reversed", "adjusted_down")
    LOCAL_DATE_FIELD_NUMBER: _ClassVar[int]
    EARNED_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_FIELD_NUMBER: _ClassVar[int]
    REVERSED_FIELD_NUMBER: _ClassVar[int]
    ADJUSTED_DOWN_FIELD_NUMBER: _ClassVar[int]
    local_date: str
    earned: int
    redeemed: int
    expired: int
    reversed: int
    adjusted_down: int
    def __init__(self, local_date: _Optional[str] = ..., earned: _Optional[int] = ..., redeemed: _Optional[int] = ..., expired: _Optional[int] = ..., reversed: _Optional[int] = ..., adjusted_down: _Optional[int] = ...) -> None: ...

class DailyReport(_message.Message):
    __slots__ = ("days",)
    DAYS_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedCompositeFieldContainer[DailyPoints]
    def __init__(self, days: _Optional[_Iterable[_Union[DailyPoints, _Mapping]]] = ...) -> None: ...
