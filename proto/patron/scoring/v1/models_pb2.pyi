import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetModelRequest(_message.Message):
    __slots__ = ("as_of",)
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    as_of: str
    def __init__(self, as_of: _Optional[str] = ...) -> None: ...

class BgNbdParameters(_message.Message):
    __slots__ = ("r", "alpha", "a", "b", "log_likelihood")
    R_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    LOG_LIKELIHOOD_FIELD_NUMBER: _ClassVar[int]
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    def __init__(self, r: _Optional[float] = ..., alpha: _Optional[float] = ..., a: _Optional[float] = ..., b: _Optional[float] = ..., log_likelihood: _Optional[float] = ...) -> None: ...

class GammaGammaParameters(_message.Message):
    __slots__ = ("p", "q", "gamma", "log_likelihood")
    P_FIELD_NUMBER: _ClassVar[int]
    Q_FIELD_NUMBER: _ClassVar[int]
    GAMMA_FIELD_NUMBER: _ClassVar[int]
    LOG_LIKELIHOOD_FIELD_NUMBER: _ClassVar[int]
    p: float
    q: float
    gamma: float
    log_likelihood: float
    def __init__(self, p: _Optional[float] = ..., q: _Optional[float] = ..., gamma: _Optional[float] = ..., log_likelihood: _Optional[float] = ...) -> None: ...

class FitDiagnostics(_message.Message):
    __slots__ = ("converged", "iterations", "evaluations", "gradient_norm", "message")
    CONVERGED_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_NORM_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    converged: bool
    iterations: int
    evaluations: int
    gradient_norm: float
    message: str
    def __init__(self, converged: _Optional[bool] = ..., iterations: _Optional[int] = ..., evaluations: _Optional[int] = ..., gradient_norm: _Optional[float] = ..., message: _Optional[str] = ...) -> None: ...

class Model(_message.Message):
    __slots__ = ("as_of", "status", "detail", "customers", "repeat_customers", "currency", "bgnbd", "gamma_gamma", "bgnbd_fit", "gamma_gamma_fit", "clv_horizon_months", "annual_discount_rate", "duration_ms", "fitted_at")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    REPEAT_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    BGNBD_FIELD_NUMBER: _ClassVar[int]
    GAMMA_GAMMA_FIELD_NUMBER: _ClassVar[int]
    BGNBD_FIT_FIELD_NUMBER: _ClassVar[int]
    GAMMA_GAMMA_FIT_FIELD_NUMBER: _ClassVar[int]
    CLV_HORIZON_MONTHS_FIELD_NUMBER: _ClassVar[int]
    ANNUAL_DISCOUNT_RATE_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    FITTED_AT_FIELD_NUMBER: _ClassVar[int]
    as_of: str
    status: str
    detail: str
    customers: int
    repeat_customers: int
    currency: str
    bgnbd: BgNbdParameters
    gamma_gamma: GammaGammaParameters
    bgnbd_fit: FitDiagnostics
    gamma_gamma_fit: FitDiagnostics
    clv_horizon_months: int
    annual_discount_rate: float
    duration_ms: int
    fitted_at: _timestamp_pb2.Timestamp
    def __init__(self, as_of: _Optional[str] = ..., status: _Optional[str] = ..., detail: _Optional[str] = ..., customers: _Optional[int] = ..., repeat_customers: _Optional[int] = ..., currency: _Optional[str] = ..., bgnbd: _Optional[_Union[BgNbdParameters, _Mapping]] = ..., gamma_gamma: _Optional[_Union[GammaGammaParameters, _Mapping]] = ..., bgnbd_fit: _Optional[_Union[FitDiagnostics, _Mapping]] = ..., gamma_gamma_fit: _Optional[_Union[FitDiagnostics, _Mapping]] = ..., clv_horizon_months: _Optional[int] = ..., annual_discount_rate: _Optional[float] = ..., duration_ms: _Optional[int] = ..., fitted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
