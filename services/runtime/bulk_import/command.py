"""The ``patron import`` sub-command: options, the HTTP client, exit codes (docs/import.md).

Exit codes: 0 every row imported (accepted or already there); 1 finished, some rows rejected (see
``FILE.rejected.csv``); 2 the import could not start (no such file, unknown columns, a checkpoint of
another file, bad options); 3 aborted by the API (bad key, server error, retries exhausted) — run
again to resume; 4 stopped by ``--max-batches`` before the end — run again to continue; 130
interrupted (Ctrl-C) — run again to resume.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TextIO

import httpx

from services.runtime.bulk_import.checkpoint import StaleCheckpoint
from services.runtime.bulk_import.client import ApiClient, ImportAborted
from services.runtime.bulk_import.runner import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_BODY_BYTES,
    EXIT_ABORTED,
    EXIT_UNUSABLE,
    KINDS,
    Importer,
    ImportOptions,
    ImportReport,
)

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT_SECONDS = 60.0
EXIT_INTERRUPTED = 130


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare ``patron import`` on the ``patron`` command's sub-parsers."""
    parser = commands.add_parser(
        "import",
        help="import history from a CSV file through the API (resumable; see docs/import.md)",
        description="Import orders or customers from a CSV file through the gateway. Re-running "
        "resumes from FILE.import-state; rejected rows go to FILE.rejected.csv with their line numbers.",
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("file", type=Path)
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the gateway (default {DEFAULT_URL})")
    parser.add_argument("--api-key", default=None, help="the tenant's API key (default: $PATRON_API_KEY)")
    parser.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="batches in flight (default 4)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="orders a call (default 500) / customers a batch (default 100)",
    )
    parser.add_argument(
        "--timezone",
        default="UTC",
        help="zone of times written without an offset, and of bare dates (default UTC)",
    )
    parser.add_argument("--restart", action="store_true", help="ignore the checkpoint and start from the top")
    parser.add_argument(
        "--max-batches", type=int, default=None, help="stop after this many batches (a trial)"
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"largest request body (default {DEFAULT_MAX_BODY_BYTES:,}; keep it under the gateway's limit)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds allowed for one call (default 60)",
    )


def _summary(report: ImportReport, kind: str, out: TextIO) -> None:
    counts = report.counts
    for note in report.notes:
        print(f"patron import {kind}: {note}", file=out)
    print(
        f"patron import {kind}: {counts.records:,} {kind} in {counts.rows:,} rows: "
        f"{counts.accepted:,} accepted, {counts.duplicates:,} duplicates, {counts.rejected:,} rejected"
        + (f" ({counts.rejected_rows:,} rows written to {report.rejected_path})" if counts.rejected else "")
        + (f"; {report.retries} calls retried" if report.retries else ""),
        file=out,
    )
    if not report.finished:
        print(f"patron import {kind}: stopped before the end; run again to continue", file=out)


async def run_import(
    options: ImportOptions,
    api_key: str,
    *,
    url: str = DEFAULT_URL,
    call_timeout: float = DEFAULT_TIMEOUT_SECONDS,
    client: httpx.AsyncClient | None = None,
    out: TextIO = sys.stderr,
) -> int:
    """Run one import and return its exit code; ``client`` lets tests pass an in-process transport."""
    try:
        own = client is None
        http = client or httpx.AsyncClient(base_url=url, timeout=call_timeout)
        try:
            importer = Importer(options, ApiClient(http, api_key), out)
            report = await importer.run()
        finally:
            if own:
                await http.aclose()
    except (StaleCheckpoint, ValueError, OSError) as error:
        print(f"patron import {options.kind}: {error}", file=out)
        return EXIT_UNUSABLE
    except ImportAborted as error:
        print(f"patron import {options.kind}: aborted: {error}; run again to resume", file=out)
        return EXIT_ABORTED
    _summary(report, options.kind, out)
    return report.exit_code


def main(options: argparse.Namespace) -> int:
    """``patron import`` from parsed arguments."""
    api_key = options.api_key or os.environ.get("PATRON_API_KEY", "")
    if not api_key:
        print("patron import: give --api-key or set PATRON_API_KEY", file=sys.stderr)
        return EXIT_UNUSABLE
    settings = ImportOptions(
        kind=options.kind,
        path=options.file,
        concurrency=options.concurrency,
        batch_size=options.batch_size,
        max_body_bytes=options.max_body_bytes,
        timezone=options.timezone,
        restart=options.restart,
        stop_after_batches=options.max_batches,
    )
    try:
        return asyncio.run(run_import(settings, api_key, url=options.url, call_timeout=options.timeout))
    except KeyboardInterrupt:
        print(f"patron import {options.kind}: interrupted; run again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
