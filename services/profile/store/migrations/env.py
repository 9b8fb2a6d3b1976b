"""Alembic environment of the profile service (shared logic in services.runtime.migrations)."""

from services.profile.store.tables import metadata
from services.runtime.migrations import run_migrations

run_migrations(metadata)
