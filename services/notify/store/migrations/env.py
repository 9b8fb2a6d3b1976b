"""Alembic environment of the notify service (shared logic in services.runtime.migrations)."""

from services.notify.store.tables import metadata
from services.runtime.migrations import run_migrations

run_migrations(metadata)
