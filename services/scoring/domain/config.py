"""A tenant's scoring configuration: RFM, lifecycle, engagement, schedule and prediction settings.

The configuration is one document per tenant. ``parse_config`` checks every field of an operator's
document and reports every fault at once, each named by its path in the REST body
(``rfm.fixed_thresholds.recency_days``); a document that is not valid is never stored. Fields left
out keep their defaults, so ``{}`` is the default configuration.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from services.runtime.errors import ViolationCollector

RFM_METHODS = ("quintiles", "fixed")
RFM_SPLITS = ("mean", "median")
CUT_POINTS = 4  # four ascending cut points make five scores

MAX_WINDOW_DAYS = 3650
MAX_STAGE_DAYS = 3650
MAX_MULTIPLE = 100.0
MAX_HALF_LIFE_DAYS = 3650
MAX_WEIGHT = 1000.0
MAX_WEIGHTS = 64
MAX_EVENT_TYPE_LENGTH = 72
MAX_HORIZON_MONTHS = 120
MAX_MIN_MODEL_CUSTOMERS = 1_000_000
MAX_MINOR = 10**15

DEFAULT_WEIGHTS: Mapping[str, float] = {
    "view": 1.0,
    "search": 1.0,
    "favorite": 3.0,
    "add_to_cart": 4.0,
    "review": 5.0,
    "share": 5.0,
    "sign_in": 2.0,
    "survey_response": 3.0,
    "message_opened": 1.0,
    "message_clicked": 2.0,
    "order": 10.0,
}


@dataclass(frozen=True, slots=True)
class FixedThresholds:
    """An operator's own RFM cut points, four ascending values each.

    Recency in days (fewer days scores higher), frequency in paid orders and monetary in minor units
    (more scores higher).
    """

    recency_days: tuple[int, ...]
    frequency: tuple[int, ...]
    monetary_minor: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ScoringConfig:
    """Every setting of a tenant's scoring; the defaults are what a new tenant gets."""

    rfm_window_days: int = 365
    rfm_method: str = "quintiles"
    rfm_split: str = "median"
    rfm_fixed_thresholds: FixedThresholds | None = None
    decline_days: int = 30
    churn_days: int = 90
    decline_gap_multiple: float = 2.0
    churn_gap_multiple: float = 4.0
    min_gap_days: int = 7
    mature_orders: int = 3
    engagement_half_life_days: int = 30
    engagement_lookback_days: int = 365
    engagement_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    run_local_hour: int = 3
    schedule_enabled: bool = True
    clv_horizon_months: int = 12
    annual_discount_rate: float = 0.10
    min_model_customers: int = 100


def config_to_document(config: ScoringConfig) -> dict[str, Any]:
    """The configuration as the REST document (and the stored JSON) shows it."""
    fixed = config.rfm_fixed_thresholds
    return {
        "rfm": {
            "window_days": config.rfm_window_days,
            "method": config.rfm_method,
            "split": config.rfm_split,
            "fixed_thresholds": None if fixed is None else {k: list(v) for k, v in asdict(fixed).items()},
        },
        "lifecycle": {
            "decline_days": config.decline_days,
            "churn_days": config.churn_days,
            "decline_gap_multiple": config.decline_gap_multiple,
            "churn_gap_multiple": config.churn_gap_multiple,
            "min_gap_days": config.min_gap_days,
            "mature_orders": config.mature_orders,
        },
        "engagement": {
            "half_life_days": config.engagement_half_life_days,
            "lookback_days": config.engagement_lookback_days,
            "weights": dict(sorted(config.engagement_weights.items())),
        },
        "schedule": {"enabled": config.schedule_enabled, "local_hour": config.run_local_hour},
        "predictions": {
            "clv_horizon_months": config.clv_horizon_months,
            "annual_discount_rate": config.annual_discount_rate,
            "min_model_customers": config.min_model_customers,
        },
    }


_SECTIONS = {
    "rfm": {"window_days", "method", "split", "fixed_thresholds"},
    "lifecycle": {
        "decline_days",
        "churn_days",
        "decline_gap_multiple",
        "churn_gap_multiple",
        "min_gap_days",
        "mature_orders",
    },
    "engagement": {"half_life_days", "lookback_days", "weights"},
    "schedule": {"enabled", "local_hour"},
    "predictions": {"clv_horizon_months", "annual_discount_rate", "min_model_customers"},
}


class _Reader:
    """Reads typed fields out of a nested document, recording a violation for each bad one."""

    def __init__(self, document: Mapping[str, Any], errors: ViolationCollector) -> None:
        self.errors = errors
        self.sections: dict[str, Mapping[str, Any]] = {}
        for name, value in document.items():
            if name not in _SECTIONS:
                errors.add(name, "unknown field")
            elif not isinstance(value, Mapping):
                errors.add(name, "must be an object")
            else:
                unknown = sorted(set(value) - _SECTIONS[name])
                for key in unknown:
                    errors.add(f"{name}.{key}", "unknown field")
                self.sections[name] = value

    def get(self, section: str, key: str, default: Any) -> Any:
        return self.sections.get(section, {}).get(key, default)

    def integer(self, section: str, key: str, default: int, low: int, high: int) -> int:
        value = self.get(section, key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.errors.add(f"{section}.{key}", "must be an integer")
            return default
        if not low <= value <= high:
            self.errors.add(f"{section}.{key}", f"must be between {low} and {high}")
            return default
        return value

    def number(self, section: str, key: str, default: float, low: float, high: float) -> float:
        value = self.get(section, key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.errors.add(f"{section}.{key}", "must be a finite number")
            return default
        if not low <= value <= high:
            self.errors.add(f"{section}.{key}", f"must be between {low} and {high}")
            return default
        return float(value)

    def choice(self, section: str, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.get(section, key, default)
        if value not in choices:
            self.errors.add(f"{section}.{key}", f"must be one of {', '.join(choices)}")
            return default
        return str(value)

    def boolean(self, section: str, key: str, default: bool) -> bool:
        value = self.get(section, key, default)
        if not isinstance(value, bool):
            self.errors.add(f"{section}.{key}", "must be true or false")
            return default
        return value


def _cut_points(reader: _Reader, path: str, value: Any, low: int) -> tuple[int, ...]:
    ok = (
        isinstance(value, list)
        and len(value) == CUT_POINTS
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )
    if not ok:
        reader.errors.add(path, f"must be a list of {CUT_POINTS} integers")
        return ()
    if any(not low <= v <= MAX_MINOR for v in value):
        reader.errors.add(path, f"values must be between {low} and {MAX_MINOR}")
        return ()
    if any(b <= a for a, b in itertools.pairwise(value)):
        reader.errors.add(path, "must be strictly ascending")
        return ()
    return tuple(value)


def _fixed_thresholds(reader: _Reader, method: str) -> FixedThresholds | None:
    value = reader.get("rfm", "fixed_thresholds", None)
    if value is None:
        if method == "fixed":
            reader.errors.add("rfm.fixed_thresholds", "required when method is fixed")
        return None
    if not isinstance(value, Mapping):
        reader.errors.add("rfm.fixed_thresholds", "must be an object")
        return None
    names = {"recency_days": 0, "frequency": 1, "monetary_minor": 1}
    for key in sorted(set(value) - set(names)):
        reader.errors.add(f"rfm.fixed_thresholds.{key}", "unknown field")
    cuts = {
        name: _cut_points(reader, f"rfm.fixed_thresholds.{name}", value.get(name), low)
        for name, low in names.items()
    }
    if any(len(c) != CUT_POINTS for c in cuts.values()):
        return None
    return FixedThresholds(cuts["recency_days"], cuts["frequency"], cuts["monetary_minor"])


def _weights(reader: _Reader) -> dict[str, float]:
    value = reader.get("engagement", "weights", DEFAULT_WEIGHTS)
    if not isinstance(value, Mapping) or len(value) > MAX_WEIGHTS:
        reader.errors.add("engagement.weights", f"must be an object of at most {MAX_WEIGHTS} weights")
        return dict(DEFAULT_WEIGHTS)
    weights: dict[str, float] = {}
    for name, weight in value.items():
        path = f"engagement.weights.{name}"
        if not isinstance(name, str) or not 0 < len(name) <= MAX_EVENT_TYPE_LENGTH:
            reader.errors.add(path, f"event type names are 1 to {MAX_EVENT_TYPE_LENGTH} characters")
        elif isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            reader.errors.add(path, "must be a finite number")
        elif not 0 <= weight <= MAX_WEIGHT:
            reader.errors.add(path, f"must be between 0 and {MAX_WEIGHT}")
        else:
            weights[name] = float(weight)
    return weights


def parse_config(document: Mapping[str, Any]) -> ScoringConfig:
    """A validated configuration from a (REST or stored) document; InvalidArgument names each fault."""
    errors = ViolationCollector()
    read = _Reader(document, errors)
    defaults = ScoringConfig()
    method = read.choice("rfm", "method", defaults.rfm_method, RFM_METHODS)
    config = ScoringConfig(
        rfm_window_days=read.integer("rfm", "window_days", defaults.rfm_window_days, 1, MAX_WINDOW_DAYS),
        rfm_method=method,
        rfm_split=read.choice("rfm", "split", defaults.rfm_split, RFM_SPLITS),
        rfm_fixed_thresholds=_fixed_thresholds(read, method),
        decline_days=read.integer("lifecycle", "decline_days", defaults.decline_days, 1, MAX_STAGE_DAYS),
        churn_days=read.integer("lifecycle", "churn_days", defaults.churn_days, 1, MAX_STAGE_DAYS),
        decline_gap_multiple=read.number(
            "lifecycle", "decline_gap_multiple", defaults.decline_gap_multiple, 1.0, MAX_MULTIPLE
        ),
        churn_gap_multiple=read.number(
            "lifecycle", "churn_gap_multiple", defaults.churn_gap_multiple, 1.0, MAX_MULTIPLE
        ),
        min_gap_days=read.integer("lifecycle", "min_gap_days", defaults.min_gap_days, 1, MAX_STAGE_DAYS),
        mature_orders=read.integer("lifecycle", "mature_orders", defaults.mature_orders, 2, 1000),
        engagement_half_life_days=read.integer(
            "engagement", "half_life_days", defaults.engagement_half_life_days, 1, MAX_HALF_LIFE_DAYS
        ),
        engagement_lookback_days=read.integer(
            "engagement", "lookback_days", defaults.engagement_lookback_days, 1, MAX_WINDOW_DAYS
        ),
        engagement_weights=_weights(read),
        run_local_hour=read.integer("schedule", "local_hour", defaults.run_local_hour, 0, 23),
        schedule_enabled=read.boolean("schedule", "enabled", defaults.schedule_enabled),
        clv_horizon_months=read.integer(
            "predictions", "clv_horizon_months", defaults.clv_horizon_months, 1, MAX_HORIZON_MONTHS
        ),
        annual_discount_rate=read.number(
            "predictions", "annual_discount_rate", defaults.annual_discount_rate, 0.0, 1.0
        ),
        min_model_customers=read.integer(
            "predictions",
            "min_model_customers",
            defaults.min_model_customers,
            2,
            MAX_MIN_MODEL_CUSTOMERS,
        ),
    )
    if config.churn_days <= config.decline_days:
        errors.add("lifecycle.churn_days", "must be greater than decline_days")
    if config.churn_gap_multiple <= config.decline_gap_multiple:
        errors.add("lifecycle.churn_gap_multiple", "must be greater than decline_gap_multiple")
    errors.raise_if_any()
    return config
