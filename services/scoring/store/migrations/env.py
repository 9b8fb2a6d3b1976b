"""Alembic environment of the scoring service (shared logic in services.runtime.migrations)."""

from services.scoring.store.tables import metadata
from services.runtime.migrations import run_migrations

run_migrations(metadata)
