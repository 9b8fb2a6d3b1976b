"""The checkpoint of an import: how far into the file every row has been acknowledged.

Kept next to the file as ``<FILE>.import-state`` (JSON), rewritten atomically (a temporary file
renamed over it) after each batch that extends the acknowledged prefix, so that a crash at any
moment leaves either the old or the new state. It names the file by size, modification time and a
SHA-256 of its header row: a different file under the same name is refused rather than resumed
at an offset that means nothing in it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from services.runtime.bulk_import.source import FileIdentity

STATE_FORMAT = 1


class StaleCheckpoint(Exception):
    """The checkpoint belongs to another file (or another kind of import) than the one given."""


@dataclass(slots=True)
class Counts:
    """What an import has done so far (carried over when it is resumed)."""

    rows: int = 0
    records: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejected_rows: int = 0


@dataclass(slots=True)
class ImportState:
    """Everything up to ``offset`` (just past line ``line``) is acknowledged; the rejected-rows file
    then held ``rejected_bytes`` bytes."""

    kind: str
    identity: FileIdentity
    offset: int
    line: int
    rejected_bytes: int = 0
    finished: bool = False
    counts: Counts = field(default_factory=Counts)


def state_path(path: Path) -> Path:
    """``orders.csv`` → ``orders.csv.import-state``."""
    return path.with_name(path.name + ".import-state")


def load(path: Path, kind: str, identity: FileIdentity) -> ImportState | None:
    """The checkpoint of this file, or None when there is none; StaleCheckpoint when it is another's."""
    target = state_path(path)
    if not target.exists():
        return None
    try:
        raw = json.loads(target.read_text())
        if raw.get("format") != STATE_FORMAT:
            raise StaleCheckpoint(f"{target} was written by another version of patron import")
        stored = FileIdentity(**raw["identity"])
        state = ImportState(
            kind=raw["kind"],
            identity=stored,
            offset=int(raw["offset"]),
            line=int(raw["line"]),
            rejected_bytes=int(raw["rejected_bytes"]),
            finished=bool(raw["finished"]),
            counts=Counts(**raw["counts"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise StaleCheckpoint(f"{target} is not a checkpoint patron import can read ({error})") from None
    if state.kind != kind:
        raise StaleCheckpoint(f"{target} is the checkpoint of a {state.kind} import, not of {kind}")
    if stored != identity:
        changed = [
            name
            for name in ("size", "mtime_ns", "header_sha256")
            if getattr(stored, name) != getattr(identity, name)
        ]
        raise StaleCheckpoint(
            f"{path} is not the file {target} was written for ({', '.join(changed)} changed); "
            "run with --restart to import it from the beginning"
        )
    return state


def save(path: Path, state: ImportState) -> None:
    """Write the checkpoint atomically (and durably: the rename is what a crash may lose, not the data)."""
    target = state_path(path)
    temporary = target.with_name(target.name + ".tmp")
    document = {"format": STATE_FORMAT, **asdict(state)}
    with temporary.open("w") as handle:
        json.dump(document, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
