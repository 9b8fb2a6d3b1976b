"""The async database of one service: engine, transactions and a health probe (SQLAlchemy 2, asyncpg)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from services.runtime.settings import PlanCacheMode, ServiceSettings, asyncpg_url


def create_engine(
    database_url: str,
    *,
    application_name: str,
    pool_size: int = 10,
    max_overflow: int = 10,
    plan_cache_mode: PlanCacheMode = "auto",
) -> AsyncEngine:
    """An engine tuned for a service: pre-ping, bounded pool, named connections, 10 s statement cap,
    and the service's ``plan_cache_mode`` (``ServiceSettings.db_plan_cache_mode``)."""
    planning = {} if plan_cache_mode == "auto" else {"plan_cache_mode": plan_cache_mode}
    return create_async_engine(
        asyncpg_url(database_url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        # No pre-ping: it costs a round trip per checkout; a dead connection fails its call, which
        # maps to UNAVAILABLE, and the health watcher takes the service out of rotation meanwhile.
        pool_pre_ping=False,
        pool_recycle=1800,
        # errors and logs name the statement, never its values (personal data, keys, amounts)
        hide_parameters=True,
        connect_args={
            "server_settings": {
                "application_name": application_name,
                "statement_timeout": "10000",
                "idle_in_transaction_session_timeout": "30000",
                # No JIT for any service: compiling a plan's expressions costs tens of milliseconds
                # that short statements never repay, and the long ones (scoring runs, previews) turn it
                # off anyway. Off at connect time also means asyncpg's type introspection, which
                # saves and "restores" jit at session level, can never leave a transaction's
                # SET LOCAL value behind on a pooled connection.
                "jit": "off",
                **planning,
            },
            "timeout": 5,
        },
    )


class Database:
    """One service's database. Store code asks it for a transaction; nothing else touches the engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    def from_settings(cls, settings: ServiceSettings, service: str) -> Database:
        return cls(
            create_engine(
                settings.database_url,
                application_name=f"patron-{service}",
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                plan_cache_mode=settings.db_plan_cache_mode,
            )
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction that commits on success and rolls back on any error.

        Callbacks registered with :func:`after_commit` run once the commit succeeded.
        """
        async with self.engine.connect() as connection:
            try:
                async with connection.begin():
                    yield connection
            except BaseException:
                connection.info.pop(_AFTER_COMMIT, None)
                raise
            for callback in connection.info.pop(_AFTER_COMMIT, {}).values():
                callback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (a transaction too, so a read sees one snapshot)."""
        async with self.engine.connect() as connection:
            yield connection

    async def maintain(self, statement: str) -> None:
        """Run a statement that cannot run in a transaction block (``VACUUM``), on its own."""
        async with self.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(sa.text(statement))

    async def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            async with self.engine.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
        except (OSError, sa_exc.SQLAlchemyError, TimeoutError):
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()


_AFTER_COMMIT = "patron_after_commit"


def after_commit(connection: AsyncConnection, key: str, callback: Callable[[], None]) -> None:
    """Run ``callback`` when the transaction of ``connection`` commits (once per ``key``).

    Only for transactions opened by :meth:`Database.transaction`; a rolled-back one never runs it.
    """
    connection.info.setdefault(_AFTER_COMMIT, {})[key] = callback


async def driver_connection(connection: AsyncConnection) -> Any:
    """The asyncpg connection under a SQLAlchemy one: its statements skip SQLAlchemy's per-statement
    cost (prepared once per connection by asyncpg), for hot paths and COPY.

    Same session; the same transaction only once a statement through ``connection`` has begun it,
    since SQLAlchemy begins lazily: a transaction-scoped lock taken here first would be let go at
    once."""
    return (await connection.get_raw_connection()).driver_connection


# SQLSTATE classes and codes that mean "try again", not "you sent something wrong": the statement ran
# past statement_timeout (57014), the transaction lost a serialization or deadlock race (40001, 40P01),
# a lock was not available (55P03), the server is short of resources (53xxx) or shutting down (57P0x).
_TRANSIENT_SQLSTATES = ("57014", "40001", "40P01", "55P03", "53", "57P0")


def is_transient(error: BaseException) -> bool:
    """Whether a database error is momentary (load, a lost race), so the client may simply retry.

    Such errors answer UNAVAILABLE (HTTP 503) instead of INTERNAL: they are not bugs, and a client
    that retries (the importer, a storefront) succeeds once the load passes.
    """
    cause = error.orig if isinstance(error, sa_exc.DBAPIError) else error
    state = getattr(cause, "sqlstate", None)
    return isinstance(state, str) and state.startswith(_TRANSIENT_SQLSTATES)


def is_unavailable(error: BaseException) -> bool:
    """Whether an exception means the database cannot be reached (so the caller may retry)."""
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        return bool(error.connection_invalidated) or isinstance(
            error, (sa_exc.OperationalError, sa_exc.InterfaceError)
        )
    return isinstance(error, OSError)
