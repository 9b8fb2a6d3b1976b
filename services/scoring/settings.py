"""The scoring service's settings: the shared service settings plus how often due moments are applied."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    """``PATRON_SCORING_*``: where scoring listens, and the due worker's period."""

    model_config = SettingsConfigDict(env_prefix="PATRON_SCORING_", extra="ignore")
    grpc_port: int = 50052
    segment_due_every_seconds: float = Field(
        default=10.0,
        gt=0,
        le=30,
        description="how often the due worker looks for segment members whose due moment has come "
        "(at most 30 s: a time-caused change must apply within a minute)",
    )
