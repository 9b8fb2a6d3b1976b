"""Routes of the dashboard: the page, its files, plotly.js and the segment catalogue.

None of them is an API operation (they are left out of the OpenAPI document) and none needs a key:
the page holds no tenant data; what it shows comes from ``/v1`` with the operator's session. Every
answer carries the security headers of :mod:`gateway.dashboard.headers`.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.dashboard.assets import Asset, etag_of, page, plotly_asset, static_assets
from gateway.dashboard.catalogue import catalogue_json
from gateway.dashboard.headers import REVALIDATE, SECURITY_HEADERS
from gateway.problems import problem

router = APIRouter(include_in_schema=False)


def _answer(request: Request, asset: Asset) -> Response:
    """The asset, or 304 when the browser holds this version; gzipped when it can be and is asked."""
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": asset.cache_control}
    if asset.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
    if asset.etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", "").lower():
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=asset.content_type, headers=headers)


@router.get("/dashboard")
async def dashboard_page(request: Request) -> Response:
    """The single page; everything else is drawn by its scripts."""
    return _answer(request, await asyncio.to_thread(page))


@router.get("/dashboard/")
async def dashboard_slash() -> Response:
    """Paths have no trailing slash; this one is only a typing habit worth forgiving."""
    return RedirectResponse("/dashboard", status_code=308, headers=SECURITY_HEADERS)


@router.get("/dashboard/assets/plotly.min.js")
async def plotly_script(request: Request) -> Response:
    """plotly.js from the installed package (read and gzipped once, off the event loop)."""
    return _answer(request, await asyncio.to_thread(plotly_asset))


@router.get("/dashboard/catalogue.json")
async def segment_catalogue(request: Request) -> Response:
    """The fields, operators and behaviour types of the segment language, for the builder."""
    body = catalogue_json()
    return _answer(request, Asset(body, "application/json", etag_of(body), REVALIDATE))


@router.get("/dashboard/assets/{name:path}")
async def dashboard_asset(name: str, request: Request) -> Response:
    """One of the dashboard's own files (scripts, styles, dictionaries); 404 for anything else."""
    asset = static_assets().get(name)
    if asset is None:
        return await dashboard_elsewhere(name)
    return _answer(request, asset)


@router.get("/dashboard/{rest:path}")
async def dashboard_elsewhere(rest: str) -> Response:
    """Nothing else lives under /dashboard (the pages are #/ addresses of the one page)."""
    return problem(404, "no such dashboard file", headers=SECURITY_HEADERS)
