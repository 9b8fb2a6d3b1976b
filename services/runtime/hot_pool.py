"""A small pool of raw asyncpg connections for a service's one-statement hot paths.

Loyalty's redemption, adjustment and balance read are each one statement on an autocommit
connection (``services.loyalty.store.fast_moves``), and so is each service's part of the customer
360. Through SQLAlchemy every call paid for a pool checkout and checkin
with their reset of the isolation level, a greenlet switch, parameter processing and a result
object, which measured about a tenth of the loyalty process's CPU under the benchmark. On a raw
asyncpg connection the statement is prepared once per connection (asyncpg's statement cache) and
a call is an acquire, a bind-and-execute and a release. The release does not reset the session
(asyncpg's default ``RESET ALL`` / ``UNLISTEN *`` ... is one more round trip per call): these
connections run only the hot statements, which change no session state (no SET, LISTEN, advisory
lock or cursor; a transaction left open is still rolled back by asyncpg). Waiting for a free
connection is bounded by the call's gRPC deadline, not by a timer of its own.

The pool is separate from the service's SQLAlchemy pool (it needs connections that are never in
a transaction), opened on first use, at most ``db_hot_pool_size`` connections (a setting: loyalty's 8,
the others' 4, whose hot statements are only reads): each statement holds its connection for one
round trip, and a few connections keep the two cores busy, while more would only queue on the hot
accounts' row locks inside PostgreSQL. They count against PostgreSQL's connection limit with the
service's own pool (docs/scaling.md). A connection that cannot be had, or that breaks, answers
:class:`Unavailable` (UNAVAILABLE, safe to retry: an autocommit statement either committed or did
nothing, and the idempotency key replays a committed one).

The connections plan generically (``plan_cache_mode``): every hot statement is keyed by tenant
and customer, so the plan for an average tenant is right for all of them. Custom plans were
wrong for a tenant the table statistics did not know yet: estimated at one row, its lots were
walked through the expiry index instead of the customer's own (docs/loyalty.md).

When the service stops, the pool closes first (its background task is cancelled before the
server drains): statements in flight finish, and calls still arriving get :class:`HotPathClosed`,
on which the callers take their transactional path over the service's SQLAlchemy pool, which
stays open until the server has drained.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from services.runtime.database import Database
from services.runtime.errors import Unavailable
from services.runtime.server import ServiceServer

STATEMENT_TIMEOUT_MS = 10_000
CONNECT_TIMEOUT_SECONDS = 5.0

_UNAVAILABLE = (asyncpg.PostgresConnectionError, OSError, TimeoutError)


class HotPathClosed(Exception):
    """The pool is closed (the service is stopping): take the transactional path instead."""


def asyncpg_dsn(database: Database) -> str:
    """The service database's URL as asyncpg takes it (``postgresql://``, password included)."""
    url = database.engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def _keep_session(_: Any) -> None:
    """Release without a reset query (see the module docstring)."""


async def _json_codecs(connection: Any) -> None:
    """json and jsonb as Python values, as the service's SQLAlchemy pool answers them."""
    for kind in ("json", "jsonb"):
        await connection.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class HotConnections:
    """Raw autocommit connections to the service's database, for single-statement calls."""

    def __init__(self, database: Database, service: str, size: int) -> None:
        self._database = database
        self._service = service
        self._size = size
        self._pool: Any = None
        self._opening = asyncio.Lock()
        self._closed = False

    async def _open(self) -> Any:
        async with self._opening:
            if self._closed:
                raise HotPathClosed
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    asyncpg_dsn(self._database),
                    min_size=1,
                    max_size=self._size,
                    timeout=CONNECT_TIMEOUT_SECONDS,
                    reset=_keep_session,
                    init=_json_codecs,
                    server_settings={
                        "application_name": f"patron-{self._service}-hot",
                        "statement_timeout": str(STATEMENT_TIMEOUT_MS),
                        "plan_cache_mode": "force_generic_plan",
                    },
                )
            return self._pool

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        """One connection (an ``asyncpg.Connection``) for the caller's statement, then back to the
        pool; UNAVAILABLE when the database cannot be reached, HotPathClosed once closing."""
        pool = self._pool if self._pool is not None else await self._open()
        try:
            async with pool.acquire() as connection:
                yield connection
        except _UNAVAILABLE as error:
            raise Unavailable("the service's database is unavailable") from error
        except asyncpg.InterfaceError:
            if self._closed:  # "pool is closing": it was closed while this call waited
                raise HotPathClosed from None
            raise

    async def fetchrow(self, query: str, *arguments: Any) -> Any:
        """The first row of one statement on a connection of the pool (an ``asyncpg.Record`` or
        None); HotPathClosed once closing, UNAVAILABLE when the database cannot be reached."""
        async with self.acquire() as connection:
            return await connection.fetchrow(query, *arguments)

    async def fetch(self, query: str, *arguments: Any) -> list[Any]:
        """Every row of one statement on a connection of the pool (see :meth:`fetchrow`)."""
        async with self.acquire() as connection:
            rows: list[Any] = await connection.fetch(query, *arguments)
            return rows

    async def close(self) -> None:
        """Close the pool once the statements in flight are done; later calls get HotPathClosed."""
        async with self._opening:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def hold(self, _: ServiceServer) -> None:
        """Background task of the service: keeps the pool for the service's life and closes it
        when the service stops (the task is cancelled then)."""
        try:
            await asyncio.Event().wait()
        finally:
            await self.close()


class RecordView:
    """Attribute access to an asyncpg record, for the row mappings written against SQLAlchemy rows
    (``row.column``)."""

    def __init__(self, record: Any) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        return self._record[name]
