"""Operators and their browsers for the tests: create an operator (admin), sign in, and send requests
with the session cookie (and the CSRF token on writes), as the dashboard does.

Each test gateway here is its own app (a replica) with its own clients; cookies are sent explicitly
and never kept in a client's jar, so no other test's request ever carries a session by accident.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

import httpx
from fastapi import FastAPI

from gateway.app import create_app
from services.runtime.server import ServiceServer
from services.runtime.settings import RuntimeSettings
from tests.conftest import ADMIN_TOKEN, gateway_settings
from tests.support import TEST_RUNTIME

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PASSWORD = "correct horse battery staple"


def addresses(services: dict[str, ServiceServer]) -> dict[str, str]:
    return {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}


@asynccontextmanager
async def replica(
    services: dict[str, ServiceServer],
    runtime: RuntimeSettings = TEST_RUNTIME,
    settings: dict[str, object] | None = None,
) -> AsyncIterator[FastAPI]:
    """A gateway app of its own (one replica, ``settings`` over the suite's), its lifespan running."""
    app = create_app(gateway_settings(addresses(services), **(settings or {})), runtime)
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def browser(
    app: FastAPI, address: str = "127.0.0.1", base_url: str = "http://gateway"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` from ``address`` (the peer the gateway sees)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


def set_cookies(response: httpx.Response) -> dict[str, Any]:
    """The response's Set-Cookie headers, parsed: name → morsel."""
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return dict(jar)


@dataclass
class Session:
    """A signed-in operator: its cookie and CSRF token, sent with each request it makes."""

    client: httpx.AsyncClient
    token: str
    csrf: str
    body: dict[str, Any]

    def headers(self, csrf: bool = True) -> dict[str, str]:
        cookie = f"patron_session={self.token}; patron_csrf={self.csrf}"
        return {"Cookie": cookie, **({"X-CSRF-Token": self.csrf} if csrf else {})}

    async def request(self, method: str, path: str, *, csrf: bool = True, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(csrf), **kwargs.pop("headers", {})}
        response = await self.client.request(method, path, headers=headers, **kwargs)
        self.client.cookies.clear()
        return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)


async def create_operator(
    api: httpx.AsyncClient, tenant_id: str, role: str, email: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    """An operator of the tenant, made by the admin."""
    body = {
        "email": email or f"{role}-{uuid.uuid4().hex[:8]}@shop.example",
        "password": password,
        "role": role,
    }
    response = await api.post(f"/v1/admin/tenants/{tenant_id}/operators", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def attempt(
    client: httpx.AsyncClient, tenant_id: str, email: str, password: str = PASSWORD
) -> httpx.Response:
    """A sign-in, whatever it answers (the client keeps no cookie of it)."""
    response = await client.post(
        "/v1/session", json={"tenant_id": tenant_id, "email": email, "password": password}
    )
    client.cookies.clear()
    return response


async def sign_in(client: httpx.AsyncClient, tenant_id: str, email: str, password: str = PASSWORD) -> Session:
    """Sign in (must succeed): the session as the browser would hold it."""
    response = await attempt(client, tenant_id, email, password)
    assert response.status_code == 201, response.text
    cookies = set_cookies(response)
    return Session(client, cookies["patron_session"].value, cookies["patron_csrf"].value, response.json())


async def operator_session(
    api: httpx.AsyncClient, client: httpx.AsyncClient, tenant_id: str, role: str
) -> Session:
    """A new operator of ``role``, signed in."""
    operator = await create_operator(api, tenant_id, role)
    return await sign_in(client, tenant_id, operator["email"])
