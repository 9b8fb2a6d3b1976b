"""Alembic environment of the scoring service (shared logic in services.runtime.migrations)."""

from services.runtime.migrations import run_migrations
from services.scoring.store.tables import metadata

run_migrations(metadata)
