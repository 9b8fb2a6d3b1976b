"""One pooled ``aiohttp.ClientSession`` shared by the HTTP-based providers (or by one webhook worker).

Why lazily: an ``aiohttp.ClientSession`` belongs to the event loop it was created in and must be
created inside a coroutine, while providers are built synchronously (``registry.build_provider``) from
code that may run before the loop starts. :class:`SharedSession` is handed around instead and opens the
session on the first request, in the running loop.

Why these settings: ``limit`` bounds the connections in flight across every provider (the worker's
concurrency); idle connections are dropped after ``KEEPALIVE_SECONDS``, before common servers' own 5 s
keep-alive (uvicorn, Node, Apache) closes them under a reused request; resolved addresses are cached for
``DNS_TTL_SECONDS`` only, since the SSRF guard resolves before every request anyway and a long cache would
only widen the gap between its answer and the connector's. Redirects and timeouts are per request
(``allow_redirects=False``, ``aiohttp.ClientTimeout``) at the callers.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

KEEPALIVE_SECONDS = 2.0
DNS_TTL_SECONDS = 10


class SharedSession:
    """Opens one ``aiohttp.ClientSession`` on first use and closes it once; the owner calls ``aclose``."""

    def __init__(
        self,
        *,
        limit: int,
        headers: Mapping[str, str] | None = None,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
        dns_ttl_seconds: int = DNS_TTL_SECONDS,
    ) -> None:
        self.limit, self.keepalive, self.dns_ttl = limit, keepalive_seconds, dns_ttl_seconds
        self.headers = dict(headers or {})
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def get(self) -> aiohttp.ClientSession:
        """The session, opened in the running loop on the first call (no await before it is stored, so
        concurrent first callers share one). After ``aclose`` it refuses, as a closed client would."""
        if self._closed:
            raise RuntimeError("the shared HTTP session has been closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.limit,
                limit_per_host=0,
                ttl_dns_cache=self.dns_ttl,
                keepalive_timeout=self.keepalive,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, headers=self.headers, auto_decompress=True, trust_env=False
            )
        return self._session

    async def aclose(self) -> None:
        """Close the pooled connections; idempotent, and harmless when no request was ever made."""
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
