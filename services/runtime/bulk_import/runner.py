"""Running an import: read, batch, send with bounded concurrency, acknowledge in file order.

Up to ``concurrency`` batches are in flight; their answers are applied strictly in file order, so
the checkpoint always names a prefix of the file every row of which was answered (accepted,
duplicate or rejected and written to the rejected-rows file). A batch answered after a later one is
simply waited for. Stopping at any moment — a crash, Ctrl-C, an API refusal — loses at most the
batches in flight, which the next run sends again; since order ids and identity sets are
idempotent, those come back as duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.runtime.bulk_import import checkpoint
from services.runtime.bulk_import.batches import (
    Batch,
    api_errors,
    batches,
    customer_records,
    order_records,
    orders_body,
)
from services.runtime.bulk_import.checkpoint import Counts, ImportState
from services.runtime.bulk_import.client import ApiClient
from services.runtime.bulk_import.formats import Header, Record
from services.runtime.bulk_import.source import CsvSource

KINDS = ("orders", "customers")
DEFAULT_BATCH_SIZE = {"orders": 500, "customers": 100}
DEFAULT_CONCURRENCY = 4
# The gateway's default body limit is 1 MiB; stay clear of it.
DEFAULT_MAX_BODY_BYTES = 900_000

EXIT_OK, EXIT_REJECTED, EXIT_UNUSABLE, EXIT_ABORTED, EXIT_STOPPED = 0, 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class ImportOptions:
    kind: str
    path: Path
    concurrency: int = DEFAULT_CONCURRENCY
    batch_size: int | None = None  # None: the kind's default
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    timezone: str = "UTC"
    restart: bool = False
    stop_after_batches: int | None = None
    progress_seconds: float = 2.0


@dataclass(slots=True)
class ImportReport:
    counts: Counts
    finished: bool
    rejected_path: Path
    elapsed_s: float = 0.0
    records_this_run: int = 0
    retries: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if not self.finished:
            return EXIT_STOPPED
        return EXIT_REJECTED if self.counts.rejected else EXIT_OK


def rejected_path(path: Path) -> Path:
    """``orders.csv`` → ``orders.rejected.csv`` (other names get ``.rejected.csv`` appended)."""
    stem = path.name[: -len(".csv")] if path.name.lower().endswith(".csv") else path.name
    return path.with_name(stem + ".rejected.csv")


class _RejectedRows:
    """The rejected-rows file: ``line``, ``reasons`` and the row's own columns, in file order."""

    def __init__(self, path: Path, header: list[str], keep_bytes: int) -> None:
        self.path = path
        existing = path.stat().st_size if path.exists() else 0
        self._file = path.open("r+b" if existing else "wb")
        self._file.truncate(min(keep_bytes, existing))
        self._file.seek(0, os.SEEK_END)
        if self._file.tell() == 0:
            self._write(["line", "reasons", *header])

    def _write(self, values: list[str]) -> None:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(values)
        self._file.write(text.getvalue().encode())

    def add(self, record: Record, reasons: list[tuple[int, str]]) -> int:
        """Write every row of a rejected record with the reasons about it; the rows written."""
        faulty = ", ".join(str(at) for at in sorted({at for at, _ in reasons}))
        for line, row in zip(record.lines, record.rows, strict=True):
            own = [reason for at, reason in reasons if at == line] or [f"same order as line {faulty}"]
            self._write([str(line), "; ".join(own), *row])
        return len(record.lines)

    def sync(self) -> int:
        """Make what was written durable; the file's size (recorded in the checkpoint)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        return self._file.tell()

    def close(self) -> None:
        self._file.close()


class Importer:
    """One run of ``patron import`` over one file (see the module docstring)."""

    def __init__(self, options: ImportOptions, api: ApiClient, progress: TextIO = sys.stderr) -> None:
        if options.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        if options.concurrency < 1:
            raise ValueError("--concurrency must be at least 1")
        self.options = options
        self.batch_size = options.batch_size or DEFAULT_BATCH_SIZE[options.kind]
        if not 1 <= self.batch_size <= DEFAULT_BATCH_SIZE["orders"]:
            raise ValueError("--batch-size must be from 1 to 500")
        try:
            self.zone = ZoneInfo(options.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"--timezone {options.timezone!r} is not an IANA time zone") from None
        self._api = api
        self._progress = progress
        self._kind = options.kind
        self._first_offset = 0  # where this run started reading (for the ETA)

    async def run(self) -> ImportReport:
        """Import the file from its checkpoint on; raises StaleCheckpoint, ValueError (bad header),
        ImportAborted (the API refused a call as a whole)."""
        source = CsvSource(self.options.path)
        try:
            header = Header.parse(source.header, self._kind)
            state = (
                None
                if self.options.restart
                else checkpoint.load(self.options.path, self._kind, source.identity)
            )
            if state is None:
                state = ImportState(self._kind, source.identity, source.header_end, 1)
            report = ImportReport(state.counts, state.finished, rejected_path(self.options.path))
            if state.finished:
                report.notes.append("already imported (its checkpoint says so); --restart imports it again")
                return report
            rejected = _RejectedRows(report.rejected_path, list(source.header), state.rejected_bytes)
            try:
                await self._pump(source, header, state, rejected, report)
            finally:
                rejected.close()
            report.finished = state.finished
            return report
        finally:
            source.close()

    def _batches(self, source: CsvSource, header: Header, state: ImportState) -> Iterator[Batch]:
        rows = source.rows(state.offset, state.line)
        grouped = order_records if self._kind == "orders" else customer_records
        return batches(grouped(header, rows, self.zone), self.batch_size, self.options.max_body_bytes)

    async def _pump(
        self,
        source: CsvSource,
        header: Header,
        state: ImportState,
        rejected: _RejectedRows,
        report: ImportReport,
    ) -> None:
        started = time.monotonic()
        self._first_offset = state.offset
        in_flight: deque[tuple[Batch, asyncio.Task[list[list[tuple[int, str]] | str]]]] = deque()
        committed = 0
        ticker = asyncio.create_task(self._report_progress(state, report, started, source.identity.size))
        try:
            for batch in self._batches(source, header, state):
                if self._stop(committed):
                    break
                in_flight.append((batch, asyncio.create_task(self._send(batch))))
                while len(in_flight) >= self.options.concurrency and not self._stop(committed):
                    await self._commit(*in_flight.popleft(), state, rejected, report)
                    committed += 1
            else:
                while in_flight:
                    await self._commit(*in_flight.popleft(), state, rejected, report)
                state.finished = True
                checkpoint.save(self.options.path, state)
        finally:
            for _, task in in_flight:
                task.cancel()
            await asyncio.gather(*(task for _, task in in_flight), return_exceptions=True)
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            report.elapsed_s = time.monotonic() - started
            report.retries = self._api.retries
            self._print_progress(state, report, started, source.identity.size, final=True)

    def _stop(self, committed: int) -> bool:
        limit = self.options.stop_after_batches
        return limit is not None and committed >= limit

    async def _send(self, batch: Batch) -> list[list[tuple[int, str]] | str]:
        """Each sendable record's fate: "accepted", "duplicate", or its rejections (line, reason)."""
        records = batch.sendable
        if not records:
            return []
        if self._kind == "orders":
            answer = await self._api.post("/v1/orders/batch", orders_body(records))
            rejections = {r["index"]: r["errors"] for r in answer.body["rejected"]}
            return [
                api_errors(record, rejections.get(index, []), "orders")
                if result == "rejected"
                else str(result)
                for index, (record, result) in enumerate(zip(records, answer.body["results"], strict=True))
            ]
        fates: list[list[tuple[int, str]] | str] = []
        for record in records:
            answer = await self._api.post("/v1/customers/identify", record.encoded, ok=frozenset({200, 422}))
            if answer.status == 422:
                fates.append(api_errors(record, answer.body.get("errors", []), "customers"))
            else:
                fates.append("accepted" if answer.body["created"] else "duplicate")
        return fates

    async def _commit(
        self,
        batch: Batch,
        task: asyncio.Task[list[list[tuple[int, str]] | str]],
        state: ImportState,
        rejected: _RejectedRows,
        report: ImportReport,
    ) -> None:
        """Apply a batch's answer (the next in file order) and move the checkpoint past it."""
        fates = iter(await task)
        counts = state.counts
        for record in batch.records:
            fate: list[tuple[int, str]] | str = record.errors if record.body is None else next(fates)
            counts.records += 1
            report.records_this_run += 1
            if isinstance(fate, list):
                counts.rejected += 1
                counts.rejected_rows += rejected.add(record, fate)
            elif fate == "accepted":
                counts.accepted += 1
            else:
                counts.duplicates += 1
        counts.rows += batch.rows
        state.offset, state.line = batch.end_offset, batch.end_line
        state.rejected_bytes = rejected.sync()
        checkpoint.save(self.options.path, state)

    async def _report_progress(
        self, state: ImportState, report: ImportReport, started: float, size: int
    ) -> None:
        while True:
            await asyncio.sleep(self.options.progress_seconds)
            self._print_progress(state, report, started, size, final=False)

    def _print_progress(
        self, state: ImportState, report: ImportReport, started: float, size: int, *, final: bool
    ) -> None:
        elapsed = max(time.monotonic() - started, 1e-9)
        counts = state.counts
        rate = report.records_this_run / elapsed
        parts = [
            f"patron import {self._kind}: {counts.rows:,} rows read",
            f"{counts.records:,} {self._kind}: {counts.accepted:,} accepted, "
            f"{counts.duplicates:,} duplicates, {counts.rejected:,} rejected",
            f"{rate:,.0f} {self._kind}/s",
        ]
        if size > 0:
            parts.append(f"{100 * state.offset / size:.0f}%")
            bytes_rate = (state.offset - self._first_offset) / elapsed
            if not final and bytes_rate > 0:
                parts.append(f"ETA {_duration((size - state.offset) / bytes_rate)}")
        if final:
            parts.append(f"{elapsed:.1f} s")
        print(" · ".join(parts), file=self._progress, flush=True)


def _duration(seconds: float) -> str:
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}h{minute:02d}m" if hours else f"{minute}m{second:02d}s"
