"""A lean HTTP/1.1 keep-alive client for open-loop benchmarks that cannot use wrk.

wrk keeps a closed loop (each connection sends its next request when the last is answered); an
open-loop benchmark (``bench.customer_360``) sends each call when it is due and so stays in Python.
httpx costs about 0.8 ms of generator CPU a call even with one connection per client: at 300
calls/s that is a quarter of a core taken from the two the system under test runs on. This client
sends a prepared request and reads the status line, the headers and a body framed by
Content-Length or chunked encoding, nothing more: about a fifth of that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlsplit

_HEAD_END = b"\r\n\r\n"
MAX_HEAD_BYTES = 64 * 1024


class HttpError(Exception):
    """The server broke the protocol, or the connection failed or timed out."""


class KeepAliveConnection:
    """One keep-alive connection for GET requests; (re)connects when needed, one call at a time."""

    def __init__(self, url: str, headers: Mapping[str, str], timeout_s: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http:// URLs are supported: {url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._base = parts.path.rstrip("/")
        lines = [f"Host: {parts.netloc}", *(f"{name}: {value}" for name, value in headers.items())]
        self._head_tail = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._timeout = timeout_s
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        """The status and body of ``GET path``; HttpError when the exchange fails (the connection is
        then dropped and the next call opens a new one)."""
        try:
            return await asyncio.wait_for(self._exchange(path), self._timeout)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as error:
            await self.close()
            raise HttpError(type(error).__name__) from error
        except HttpError:
            await self.close()
            raise

    async def _exchange(self, path: str) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port, limit=MAX_HEAD_BYTES)
        reader, writer = self._streams
        writer.write(f"GET {self._base}{path} HTTP/1.1\r\n".encode("latin-1") + self._head_tail)
        head = await reader.readuntil(_HEAD_END)
        status_line, *header_lines = head[: -len(_HEAD_END)].split(b"\r\n")
        try:
            status = int(status_line.split(b" ", 2)[1])
        except (IndexError, ValueError) as error:
            raise HttpError(f"bad status line {status_line!r}") from error
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if headers.get(b"transfer-encoding") == b"chunked":
            body = await _chunked(reader)
        else:
            body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
        if headers.get(b"connection") == b"close":
            await self.close()
        return status, body

    async def close(self) -> None:
        """Close the connection (the next call opens another)."""
        streams, self._streams = self._streams, None
        if streams is not None:
            streams[1].close()


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body (RFC 9112 §7.1), trailers skipped."""
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(parts)
        parts.append((await reader.readexactly(size + 2))[:-2])
