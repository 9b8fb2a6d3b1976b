"""Alembic environment of the loyalty service (shared logic in services.runtime.migrations)."""

from services.loyalty.store.tables import metadata
from services.runtime.migrations import run_migrations

run_migrations(metadata)
