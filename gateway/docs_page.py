"""The Swagger page of the API, with Swagger UI's scripts and styles served by the gateway itself.

FastAPI's default page loads Swagger UI from a CDN: a third party then sees who reads the API's
documents, and a page with a strict Content-Security-Policy cannot load it. The assets here come
from the installed ``swagger-ui-py`` package (only its static files are used) and are served under
``/docs/assets``; nothing is copied into the repository.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = "/docs/assets"


def swagger_assets() -> Path:
    """The directory of Swagger UI's built files in the installed package."""
    return Path(str(importlib.resources.files("swagger_ui") / "static"))


def install_docs(app: FastAPI, openapi_url: str, title: str) -> None:
    """Serve ``/docs`` (the Swagger page for ``openapi_url``) and its assets on ``app``."""
    app.mount(ASSETS, StaticFiles(directory=swagger_assets()), name="swagger-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_page() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )
