"""Alembic per service: the programmatic entry points and the shared async ``env.py`` logic.

Each service keeps its revisions in ``services/<name>/store/migrations``; its ``env.py`` calls
:func:`run_migrations` with the service's metadata. ``patron migrate``, ``patron up``, the Kubernetes
Job and the tests all go through :func:`upgrade` and :func:`downgrade`.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.runtime.settings import SERVICE_NAMES, asyncpg_url

_URL_ATTRIBUTE = "patron_database_url"


def earlier_revision(revision_file: str, filename: str) -> ModuleType:
    """The revision module ``filename`` beside ``revision_file`` (a revision's ``__file__``), loaded
    by path: a revision that changes a stored function derives its text from the earlier one's, so
    the two cannot drift apart. Revision files are not importable by name (they start with a digit)."""
    path = Path(revision_file).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"revision_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def alembic_config(service: str, database_url: str) -> Config:
    """An Alembic configuration for one service's migrations against one database."""
    if service not in SERVICE_NAMES:
        raise ValueError(f"unknown service {service!r}")
    config = Config()
    config.set_main_option("script_location", f"services.{service}.store:migrations")
    config.attributes[_URL_ATTRIBUTE] = asyncpg_url(database_url)
    return config


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    """Migrate a service's database up to ``revision``. Blocking: call it off the event loop."""
    command.upgrade(alembic_config(service, database_url), revision)


def downgrade(service: str, database_url: str, revision: str = "base") -> None:
    """Migrate a service's database down to ``revision``. Blocking: call it off the event loop."""
    command.downgrade(alembic_config(service, database_url), revision)


def _configure_and_run(connection: Connection, target_metadata: sa.MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str, target_metadata: sa.MetaData) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure_and_run, target_metadata)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations(target_metadata: sa.MetaData) -> None:
    """The body of every service's ``env.py``: offline SQL or online through asyncpg."""
    config = context.config
    url = config.attributes.get(_URL_ATTRIBUTE) or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL given to Alembic")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, target_metadata))
