"""Columns between PostgreSQL and numpy in PostgreSQL's binary COPY format, without a row in Python.

A tenant has up to millions of customers; fetching them as rows would cost seconds of object
creation. Every column here is fixed width and NOT NULL (bigint or double precision), so the binary
COPY stream is a sequence of equally sized records that numpy reads (and writes) as one structured
array: a 16-bit field count, then per column a 32-bit length and the big-endian value.
"""

from __future__ import annotations

import io
import struct
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.database import driver_connection

_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)
_KINDS = {"int8": ">i8", "float8": ">f8"}


def _record_dtype(kinds: Sequence[str]) -> np.dtype[Any]:
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for index, kind in enumerate(kinds):
        fields += [(f"len{index}", ">i4"), (f"v{index}", _KINDS[kind])]
    return np.dtype(fields)


async def fetch_columns(
    connection: AsyncConnection, query: str, args: Sequence[Any], kinds: Sequence[str]
) -> list[npt.NDArray[Any]]:
    """Run ``query`` (asyncpg placeholders $1..) and return its columns as numpy arrays.

    ``kinds`` names each output column's type, ``int8`` or ``float8``; the query must cast to
    exactly these and produce no NULL.
    """
    driver = await driver_connection(connection)
    buffer = io.BytesIO()
    await driver.copy_from_query(query, *args, output=buffer, format="binary")
    data = buffer.getvalue()
    if not data.startswith(_HEADER[:11]):
        raise ValueError("not a PostgreSQL binary COPY stream")
    extension = struct.unpack(">i", data[15:19])[0]
    body = data[19 + extension : len(data) - len(_TRAILER)]
    records = np.frombuffer(body, dtype=_record_dtype(kinds))
    native = {"int8": np.int64, "float8": np.float64}
    return [records[f"v{i}"].astype(native[kind]) for i, kind in enumerate(kinds)]


async def _chunks(records: npt.NDArray[Any], rows_per_chunk: int) -> AsyncIterator[bytes]:
    yield _HEADER
    for begin in range(0, records.size, rows_per_chunk):
        yield records[begin : begin + rows_per_chunk].tobytes()
    yield _TRAILER


async def copy_columns(
    connection: AsyncConnection,
    table: str,
    columns: Sequence[tuple[str, str, npt.NDArray[Any]]],
    rows_per_chunk: int = 200_000,
) -> int:
    """COPY equally long arrays into ``table``; ``columns`` are (name, kind, values). Returns rows."""
    rows = int(columns[0][2].size) if columns else 0
    records = np.empty(rows, dtype=_record_dtype([kind for _, kind, _ in columns]))
    records["count"] = len(columns)
    for index, (_, kind, values) in enumerate(columns):
        if values.size != rows:
            raise ValueError("every column must have the same number of rows")
        records[f"len{index}"] = 8
        records[f"v{index}"] = values.astype(_KINDS[kind])
    driver = await driver_connection(connection)
    await driver.copy_to_table(
        table, source=_chunks(records, rows_per_chunk), columns=[n for n, _, _ in columns], format="binary"
    )
    return rows
