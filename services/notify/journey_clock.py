"""The journeys' clock: the real time, or — in development and tests only — the real time moved on by
an offset read from a file, so that a 24-hour wait or a birthday three days away can be run end to
end in seconds without touching any row (``PATRON_NOTIFY_JOURNEY_CLOCK_FILE``)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path


class JourneyClock:
    """``now()``: UTC now plus the offset in seconds written in ``offset_file`` (re-read when it changes)."""

    def __init__(self, offset_file: str | None = None) -> None:
        self._path = Path(offset_file) if offset_file else None
        self._stamp: tuple[int, int] | None = None
        self._offset = timedelta()

    def now(self) -> datetime:
        """The journeys' current time."""
        if self._path is not None:
            self._refresh(self._path)
        return datetime.now(UTC) + self._offset

    def _refresh(self, path: Path) -> None:
        try:
            status = os.stat(path)
            stamp = (status.st_mtime_ns, status.st_ino)
        except FileNotFoundError:
            self._offset = timedelta()
            return
        if stamp != self._stamp:
            text = path.read_text().strip()
            self._offset = timedelta(seconds=float(text or 0))
            self._stamp = stamp


def advance_clock(offset_file: str | Path, seconds: float) -> None:
    """Move a development clock on by ``seconds`` (tests and demos)."""
    path = Path(offset_file)
    current = float(path.read_text().strip() or 0) if path.exists() else 0.0
    temporary = path.with_suffix(".tmp")
    temporary.write_text(str(current + seconds))
    os.replace(temporary, path)
