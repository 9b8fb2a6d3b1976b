"""The CSV file of a segment export: its header, its rows, and the escaping that keeps it inert.

RFC 4180: UTF-8 without a byte-order mark, ``,`` between cells, ``\\r\\n`` after every line, a cell
quoted (``"``, doubled inside) only when it holds a comma, a quote or a line break.

**Formula injection (OWASP "CSV Injection").** A spreadsheet runs a cell that begins with ``=``,
``+``, ``-`` or ``@`` (or a tab or line break before one) as a formula. Masked contacts keep the
first character of what a customer typed (an e-mail may begin with ``=`` or ``-``), so every cell
that begins with one of those — or with their full-width forms (U+FF1D, U+FF0B, U+FF0D, U+FF20),
which some spreadsheets read alike — is written with a ``'`` in front, which makes a spreadsheet
show it as text. A cell that already begins with ``'`` gets one too, so that the rule is undone
exactly by dropping the first character of every cell that begins with ``'``. Masked phones begin
with ``+`` (``+86 138****8000``) and therefore always come as ``'+86 138****8000``.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

HEADER: tuple[str, ...] = ("customer_id", "entered_at", "phone", "email")

FORMULA_STARTS = frozenset("=+-@\t\r\n'\uff1d\uff0b\uff0d\uff20")
"""First characters that make a cell a formula in some spreadsheet (and the escape itself)."""

ESCAPE = "'"


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One member of an export's snapshot, with the masked contacts profile gave (None: none)."""

    seq: int
    customer_id: uuid.UUID
    entered_at: datetime
    phone: str | None
    email: str | None


def inert(cell: str) -> str:
    """``cell`` as a spreadsheet will only ever show it: a ``'`` before a formula's first character."""
    if cell and cell[0] in FORMULA_STARTS:
        return ESCAPE + cell
    return cell


def utc_text(moment: datetime) -> str:
    """An instant as RFC 3339 in UTC to the second (``2026-12-04T08:00:00Z``): what spreadsheets and
    parsers read alike."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lines(rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerows([inert(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def header_line() -> str:
    """The first line of every export file."""
    return _lines([HEADER])


def row_lines(rows: Iterable[ExportRow]) -> str:
    """The lines of ``rows``, in their order: id, entry time, masked phone and e-mail ("" for none)."""
    return _lines(
        (str(row.customer_id), utc_text(row.entered_at), row.phone or "", row.email or "") for row in rows
    )
