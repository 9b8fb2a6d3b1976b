"""From CSV rows to batches of records, and from the API's answers back to CSV lines.

Orders are grouped (consecutive rows of one ``order_id``); a batch closes at ``batch_size`` records
or before its body would pass ``max_body_bytes`` (the gateway refuses larger bodies with 413).
A row the importer cannot convert becomes a record rejected here, with its line, and travels in its
batch like the others so that the checkpoint and the rejected-rows file stay in file order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from services.runtime.bulk_import.formats import Header, Record, customer_record, encode, order_record
from services.runtime.bulk_import.source import Row

_BODY_OVERHEAD = len(b'{"orders":[]}')
_INDEXED = re.compile(r"^(?P<name>[a-z_]+)\[(?P<index>\d+)\]\.?(?P<rest>.*)$")


@dataclass(slots=True)
class Batch:
    """Records sent in one call (or, for customers, one after another), and where they end in the file."""

    number: int
    records: list[Record] = field(default_factory=list)
    end_offset: int = 0
    end_line: int = 0
    rows: int = 0
    size: int = _BODY_OVERHEAD

    @property
    def sendable(self) -> list[Record]:
        return [r for r in self.records if r.body is not None]


def _unreadable(row: Row) -> Record:
    return Record([row.line], [row.values], errors=[(row.line, f"line {row.line} {row.problem}")])


def order_records(header: Header, rows: Iterator[Row], zone: ZoneInfo) -> Iterator[tuple[Record, Row]]:
    """Orders (consecutive rows of one order id), each with the last row it took (for its offset)."""
    pending: list[Row] = []

    def close() -> tuple[Record, Row]:
        record = order_record(header, [r.line for r in pending], [r.values for r in pending], zone)
        return record, pending[-1]

    for row in rows:
        if row.problem is not None:
            if pending:
                yield close()
                pending = []
            yield _unreadable(row), row
            continue
        if pending and header.get(row.values, "order_id") != header.get(pending[0].values, "order_id"):
            yield close()
            pending = []
        pending.append(row)
        if not header.get(row.values, "order_id"):
            yield close()  # no id: it can only be its own (rejected) order
            pending = []
    if pending:
        yield close()


def customer_records(header: Header, rows: Iterator[Row], zone: ZoneInfo) -> Iterator[tuple[Record, Row]]:
    """One record per row."""
    for row in rows:
        record = (
            _unreadable(row)
            if row.problem is not None
            else customer_record(header, row.line, row.values, zone)
        )
        yield record, row


def batches(records: Iterator[tuple[Record, Row]], batch_size: int, max_body_bytes: int) -> Iterator[Batch]:
    """Records in batches of at most ``batch_size`` sendable records and ``max_body_bytes`` bytes."""
    number = 0
    batch = Batch(number)
    for record, last_row in records:
        if record.body is not None:
            record.encoded = encode(record.body)
            if _BODY_OVERHEAD + len(record.encoded) > max_body_bytes:
                record.body = None
                record.errors.append(
                    (record.lines[0], f"is {len(record.encoded)} bytes as JSON, more than one call may carry")
                )
        if record.body is not None and (
            len(batch.sendable) >= batch_size or batch.size + len(record.encoded) + 1 > max_body_bytes
        ):
            yield batch
            number += 1
            batch = Batch(number)
        batch.records.append(record)
        batch.rows += len(record.lines)
        batch.end_offset, batch.end_line = last_row.end_offset, last_row.line
        if record.body is not None:
            batch.size += len(record.encoded) + 1
    if batch.records:
        yield batch


def orders_body(records: list[Record]) -> bytes:
    """``{"orders": [...]}`` joined from the records' encoded bodies."""
    return b'{"orders":[' + b",".join(r.encoded for r in records) + b"]}"


def locate(record: Record, field_path: str, kind: str) -> tuple[int, str]:
    """The CSV line and column an API field path points at (``orders[3].items[1].quantity`` → the
    second row of that order, ``quantity``; ``identities[0].value`` → the identity's column)."""
    path = field_path
    if kind == "orders":
        match = _INDEXED.match(path)
        if match and match["name"] == "orders":
            path = match["rest"]
    line, column = record.lines[0], path or "order"
    match = _INDEXED.match(path)
    if match and match["name"] == "items" and int(match["index"]) < len(record.lines):
        line, column = record.lines[int(match["index"])], match["rest"] or "items"
    elif match and match["name"] == "identities" and int(match["index"]) < len(record.columns):
        column = record.columns[int(match["index"])]
    elif path.startswith("attributes."):
        column = path.removeprefix("attributes.")
    return line, column


def api_errors(record: Record, errors: list[dict[str, Any]], kind: str) -> list[tuple[int, str]]:
    """The API's faults of one record as (line, "column: message")."""
    located = []
    for error in errors:
        line, column = locate(record, str(error.get("field", "")), kind)
        located.append((line, f"{column}: {error.get('message', '')}"))
    return located or [(record.lines[0], "rejected by the API")]
