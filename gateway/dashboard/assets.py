"""The dashboard's files: its own (``static/``) and plotly.js from the installed ``plotly`` package.

Every file is read once and kept in memory with its ETag (they are small; plotly.js is ~5 MB, and
~1.7 MB gzipped, kept both ways). Only the files found under ``static/`` at start can be asked for:
a name is a key of that table, never a path joined onto a directory.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.resources
import re
from dataclasses import dataclass
from pathlib import Path

from gateway.dashboard.headers import IMMUTABLE, REVALIDATE

STATIC = Path(__file__).resolve().parent / "static"
PAGE = "index.html"

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}

# plotly.js injects a <style> element for its map traces (unused here) when no element has this id
# yet; a <template> with the id keeps it from trying, which the policy would refuse (and report).
_STYLE_GUARD = re.compile(r'getElementById\("([0-9a-f]{64})"\)\)\{var \w+=document\.createElement\("style"\)')
_PLOTLY_VERSION = re.compile(rb"plotly\.js v(\d+\.\d+\.\d+)")


@dataclass(frozen=True, slots=True)
class Asset:
    """One file as served: its bytes, type, validator and caching, and a gzip copy when it pays."""

    body: bytes
    content_type: str
    etag: str
    cache_control: str
    gzipped: bytes | None = None


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _asset(body: bytes, suffix: str, cache_control: str = REVALIDATE) -> Asset:
    return Asset(body, CONTENT_TYPES[suffix], etag_of(body), cache_control)


@functools.cache
def static_assets() -> dict[str, Asset]:
    """The dashboard's own files by their path under ``static/`` (``js/app.js``), the page aside."""
    found: dict[str, Asset] = {}
    for path in sorted(STATIC.rglob("*")):
        name = path.relative_to(STATIC).as_posix()
        if path.is_file() and path.suffix in CONTENT_TYPES and name != PAGE:
            found[name] = _asset(path.read_bytes(), path.suffix)
    return found


def plotly_file() -> Path:
    """plotly.min.js as the installed ``plotly`` wheel ships it (its package data)."""
    return Path(str(importlib.resources.files("plotly") / "package_data" / "plotly.min.js"))


@functools.cache
def plotly_asset() -> Asset:
    """plotly.js, cached for a year (its URL names its digest) and gzipped once (level 1: a quarter
    of a second, 1.7 MB; level 6 saves 0.2 MB for three times the CPU on the first request)."""
    body = plotly_file().read_bytes()
    asset = _asset(body, ".js", IMMUTABLE)
    return Asset(asset.body, asset.content_type, asset.etag, IMMUTABLE, gzip.compress(body, 1, mtime=0))


def plotly_version(body: bytes) -> str:
    """The plotly.js version its banner names ("unknown" when it names none)."""
    found = _PLOTLY_VERSION.search(body[:512])
    return found.group(1).decode() if found else "unknown"


def style_guard_ids(body: bytes) -> list[str]:
    """The ids plotly.js checks before injecting a <style> element of its own (see _STYLE_GUARD)."""
    return sorted(set(_STYLE_GUARD.findall(body.decode("utf-8", errors="replace"))))


@functools.cache
def page() -> Asset:
    """The single page, with plotly's URL (carrying its digest) and style guards filled in."""
    plotly = plotly_asset()
    guards = "".join(f'<template id="{i}"></template>' for i in style_guard_ids(plotly.body))
    text = (STATIC / PAGE).read_text(encoding="utf-8")
    text = text.replace("{{plotly_src}}", f"/dashboard/assets/plotly.min.js?v={plotly.etag.strip(chr(34))}")
    text = text.replace("{{plotly_guards}}", guards)
    text = text.replace("{{plotly_version}}", plotly_version(plotly.body))
    return _asset(text.encode(), ".html")
