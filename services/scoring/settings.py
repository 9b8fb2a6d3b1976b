"""The scoring service's settings: the shared service settings plus how often due moments are applied."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    """``PATRON_SCORING_*``: where scoring listens, the due worker's period, the batch runs' limits."""

    model_config = SettingsConfigDict(env_prefix="PATRON_SCORING_", extra="ignore")
    grpc_port: int = 50052
    segment_due_every_seconds: float = Field(
        default=10.0,
        gt=0,
        le=30,
        description="how often the due worker looks for segment members whose due moment has come "
        "(at most 30 s: a time-caused change must apply within a minute)",
    )
    rescore_every_seconds: float = Field(
        default=0.2,
        gt=0,
        le=0.5,
        description="how often the re-scorer re-scores the customers whose behaviour changed since "
        "(at most 0.5 s: a segment reading scores must move within a second of the event)",
    )
    run_max_concurrent: int = Field(
        default=2,
        ge=1,
        le=64,
        description="how many batch runs run at once across every tenant and replica (the others wait "
        "queued, first come first served); each takes a core and a connection for minutes",
    )
    run_cooldown_seconds: int = Field(
        default=600,
        ge=0,
        le=86_400,
        description="the least time between two manual runs of one tenant (a request sooner answers "
        "429 with Retry-After); 0 turns the cooldown off. Scheduled runs are not counted",
    )
    run_db_pool_size: int = Field(
        default=2,
        ge=1,
        le=32,
        description="connections of the batch runs' own pool (a run holds one at a time), apart from the "
        "pool that serves the API, so runs never starve the API; runs beyond it wait for a connection",
    )
    run_dispatch_every_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="how often a replica looks for queued runs that a slot freed elsewhere lets start",
    )
