"""The embedded PostgreSQL of ``patron up`` (the ``pgserver`` wheel: a real server, no install).

Its data lives under ``.patron/pgdata`` and survives restarts; it listens on a Unix socket only.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import asyncpg

logger = logging.getLogger(__name__)


@dataclass
class EmbeddedPostgres:
    """A running embedded server and the socket directory it listens on."""

    server: Any
    socket_dir: str

    @classmethod
    def start(cls, data_dir: Path) -> EmbeddedPostgres:
        """Initialise (first time) and start the server. Blocking: call it off the event loop."""
        import pgserver

        data_dir.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(data_dir, cleanup_mode="stop")
        query = parse_qs(urlparse(server.get_uri()).query)
        return cls(server=server, socket_dir=query["host"][0])

    def url(self, database: str) -> str:
        """SQLAlchemy/asyncpg URL of ``database`` on this server."""
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}"

    async def ensure_databases(self, names: list[str]) -> None:
        """Create each database that does not exist yet."""
        connection = await asyncpg.connect(host=self.socket_dir, user="postgres", database="postgres")
        try:
            existing = {r["datname"] for r in await connection.fetch("SELECT datname FROM pg_database")}
            for name in names:
                if name not in existing:
                    await connection.execute(f'CREATE DATABASE "{name}"')
                    logger.info("created database %s", name)
        finally:
            await connection.close()

    def stop(self) -> None:
        """Stop the server (fast shutdown: running transactions are rolled back)."""
        self.server.cleanup()

    async def stop_async(self) -> None:
        await asyncio.to_thread(self.stop)
