"""Wake-ups: LISTEN/NOTIFY on a dedicated connection, fanned out to the tasks waiting for them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import asyncpg

logger = logging.getLogger(__name__)

OUTBOX_CHANNEL = "patron_outbox"  # a producer committed outbox rows: the sequencer has work
SEQUENCED_CHANNEL = "patron_sequenced"  # positions were assigned: streams have events to send


class Signal:
    """A counter that tasks wait on; ``fire`` wakes every waiter at once."""

    def __init__(self) -> None:
        self.version = 0
        self._event = asyncio.Event()

    def fire(self) -> None:
        self.version += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait_after(self, version: int, limit_seconds: float) -> bool:
        """Wait until fired after ``version`` was read, or ``limit_seconds``; True when fired."""
        if self.version != version:
            return True
        event = self._event
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that lands as
        # the event fires, and a background loop would then outlive its service's shutdown.
        try:
            async with asyncio.timeout(limit_seconds):
                await event.wait()
        except TimeoutError:
            return False
        return True


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The plain libpq URL asyncpg takes, from a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class Listener:
    """Holds one LISTEN connection and fires a Signal per channel; reconnects with backoff.

    After every (re)connection it fires all signals, because notifications sent while it was away
    are lost: the waiters then look for themselves.
    """

    def __init__(self, dsn: str, channels: Iterable[str]) -> None:
        self._dsn = dsn
        self.signals = {channel: Signal() for channel in channels}
        self._stopped = asyncio.Event()
        self.connected = asyncio.Event()

    def _on_notify(self, _connection: Any, _pid: int, channel: str, _payload: str) -> None:
        signal = self.signals.get(channel)
        if signal is not None:
            signal.fire()

    async def run(self) -> None:
        backoff = 0.1
        while not self._stopped.is_set():
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._dsn, timeout=5)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _c, lost=lost: lost.set())
                for channel in self.signals:
                    await connection.add_listener(channel, self._on_notify)
                self.connected.set()
                backoff = 0.1
                for signal in self.signals.values():
                    signal.fire()
                stop = asyncio.ensure_future(self._stopped.wait())
                gone = asyncio.ensure_future(lost.wait())
                await asyncio.wait({stop, gone}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                gone.cancel()
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                logger.warning("event listener lost its connection: %s; retrying in %.1f s", error, backoff)
            finally:
                self.connected.clear()
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            if not self._stopped.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(backoff):
                        await self._stopped.wait()
                backoff = min(backoff * 2, 5.0)

    def stop(self) -> None:
        self._stopped.set()
