"""Reading a CSV file row by row with the byte offset and line number where each row ends.

The offsets are what makes an import resumable: a checkpoint records the offset up to which every
row was acknowledged, and the next run seeks there. The file is read as bytes and decoded line by
line (UTF-8, a leading byte-order mark ignored), so that an offset is exact whatever the text holds;
a quoted value may span lines, and a row's line number is the line where it starts.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_BOM = b"\xef\xbb\xbf"
# A single CSV value may be long (a JSON custom attribute, say), but not unboundedly so.
MAX_FIELD_CHARACTERS = 1_000_000


@dataclass(frozen=True, slots=True)
class Row:
    """One CSV row: its values, the line it starts on, the offset just past it, and why it cannot
    be read (None when it can)."""

    values: list[str]
    line: int
    end_offset: int
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """What tells one file from another under the same name: size, modification time, header."""

    size: int
    mtime_ns: int
    header_sha256: str


class CsvSource:
    """The rows of a CSV file from a byte offset on (the header row is always read first)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO = path.open("rb")
        stat = path.stat()
        header_line = self._file.readline()
        self.header_end = self._file.tell()
        self.header = next(csv.reader([header_line.removeprefix(_BOM).decode("utf-8", "replace")]), [])
        self.identity = FileIdentity(
            stat.st_size, stat.st_mtime_ns, hashlib.sha256(header_line.removeprefix(_BOM)).hexdigest()
        )
        self._offset = self.header_end
        self._line = 1
        self._bad_lines: set[int] = set()

    def close(self) -> None:
        self._file.close()

    def _lines(self) -> Iterator[str]:
        """Decoded physical lines, keeping ``_offset`` and ``_line`` at the end of what was handed out."""
        for raw in self._file:
            self._offset += len(raw)
            self._line += 1
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                self._bad_lines.add(self._line)
                yield raw.decode("utf-8", "replace")

    def rows(self, offset: int, line: int) -> Iterator[Row]:
        """Rows starting at ``offset`` (which is just past line ``line``); blank lines are skipped."""
        offset = max(offset, self.header_end)
        self._file.seek(offset)
        self._offset, self._line = offset, line
        csv.field_size_limit(MAX_FIELD_CHARACTERS)
        reader = csv.reader(self._lines())
        while True:
            start = self._line + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield Row([], start, self._offset, f"is not a CSV row: {error}")
                continue
            if not any(v.strip() for v in values):
                continue
            bad = any(n in self._bad_lines for n in range(start, self._line + 1))
            yield Row(values, start, self._offset, "is not valid UTF-8 text" if bad else None)
