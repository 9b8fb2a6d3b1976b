"""A real browser for the dashboard's tests: headless Chromium (Debian's ``chromium``) driven by
Playwright, against the real gateway served over HTTP on a loopback port.

The tests skip, saying why, only where no Chromium can be had (``.ci/run`` installs Debian's package
when it is missing). Screenshots go to ``PATRON_TEST_ARTIFACTS`` (default: a pytest temporary
directory, printed); ``PATRON_UPDATE_SCREENSHOTS=1`` also rewrites the README's picture.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn

from gateway.app import create_app
from services.runtime.server import ServiceServer
from tests.conftest import gateway_settings
from tests.support import TEST_RUNTIME, free_port

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Response

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
VIEWPORT = {"width": 1280, "height": 800}
# A policy violation is reported as a console error, so that the one list below catches it too.
REPORT_CSP_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`
    + ` at ${event.sourceFile}:${event.lineNumber}`);
});
"""


def chromium_path() -> str:
    """Debian's Chromium, or skip the test saying how to get it."""
    try:
        import playwright.async_api  # noqa: F401 - only whether it is installed
    except ImportError:
        pytest.skip("Playwright for Python is not installed (pip install -e '.[dev]')")
    configured = os.environ.get("PATRON_CHROMIUM")
    for candidate in (configured, *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("no Chromium on this machine: apt-get install -y chromium (.ci/run does it when it can)")


@asynccontextmanager
async def served_gateway(services: dict[str, ServiceServer], **overrides: object) -> AsyncIterator[str]:
    """The real gateway app over HTTP on a loopback port of this process, in this event loop."""
    addresses = {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}
    app = create_app(gateway_settings(addresses, **overrides), TEST_RUNTIME)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless Chromium, launched by its executable path (Playwright downloads no browser here)."""
    from playwright.async_api import async_playwright

    path = chromium_path()
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=path, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Watch:
    """What went wrong on a page: console errors (CSP violations included), uncaught exceptions and
    failed answers. ``allowed`` lists the failed answers a test expects, as (method, path, status)."""

    errors: list[str] = field(default_factory=list)
    failures: list[tuple[str, str, int]] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        # A failed answer is also logged by Chromium as "Failed to load resource"; answers are judged
        # by their status below, where the expected ones (a 401 before sign-in) can be named.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            path = response.url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
            self.failures.append((response.request.method, "/" + path, response.status))

    def assert_clean(self, *allowed: tuple[str, str, int]) -> None:
        unexpected = [failure for failure in self.failures if failure not in allowed]
        assert self.errors == [], "\n".join(self.errors)
        assert unexpected == [], unexpected


async def open_context(browser: Browser, lang: str = "en") -> BrowserContext:
    """A fresh browser profile (no cookies, empty storage) at the README's size, in ``lang``."""
    from playwright.async_api import ViewportSize

    size = ViewportSize(width=VIEWPORT["width"], height=VIEWPORT["height"])
    context = await browser.new_context(viewport=size, locale="zh-CN" if lang == "zh" else "en-GB")
    await context.add_init_script(REPORT_CSP_VIOLATIONS)
    return context


def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: PATRON_TEST_ARTIFACTS, else a temporary directory of the run."""
    configured = os.environ.get("PATRON_TEST_ARTIFACTS")
    directory = Path(configured) if configured else tmp_path_factory.mktemp("dashboard-screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


async def screenshot(page: Page, directory: Path, name: str, **options: Any) -> Path:
    """Save a screenshot of the page (not the whole scroll height unless asked) and return its path."""
    path = directory / f"{name}.png"
    await page.screenshot(path=str(path), **options)
    return path


def updating_screenshots() -> bool:
    """Whether this run rewrites the README's screenshot (PATRON_UPDATE_SCREENSHOTS=1)."""
    return os.environ.get("PATRON_UPDATE_SCREENSHOTS") == "1"


@dataclass(frozen=True)
class Shop:
    """A tenant with customers, orders, behaviour, a saved segment, a journey and a campaign."""

    tenant_id: str
    api_key: str
    customers: dict[str, str]  # nickname -> customer id
    segment_id: str
    campaign_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


SHOPPERS = (
    # nickname, phone, gender, province, orders (amount in fen), days ago of the last order
    ("Wei", "13800138001", "female", "Zhejiang", (19900, 8800, 25600, 9900), 1),
    ("Fang", "13800138002", "female", "Jiangsu", (5900,), 2),
    ("Lei", "13800138003", "male", "Zhejiang", (39900, 12900), 3),
    ("Min", "13800138004", "female", "Guangdong", (2900, 3900, 4900), 5),
    ("Jun", "13800138005", "male", "Beijing", (), 0),
    ("Hui", "13800138006", "other", "Shanghai", (99900,), 6),
)


async def _ok(response: Any, *statuses: int) -> Any:
    assert response.status_code in (statuses or (200, 201, 202)), response.text
    return response.json() if response.content else None


async def seed_shop(api: Any, tenant_id: str, api_key: str) -> Shop:
    """Customers who ordered in the last week, an abandoned cart, a segment, a journey, a campaign."""
    from datetime import UTC, datetime, timedelta

    headers = {"Authorization": f"Bearer {api_key}"}
    now = datetime.now(UTC).replace(microsecond=0)
    customers: dict[str, str] = {}
    for nickname, phone, gender, province, orders, last in SHOPPERS:
        identified = await _ok(
            await api.post(
                "/v1/customers/identify",
                headers=headers,
                json={
                    "identities": [
                        {"type": "phone", "value": phone},
                        {"type": "email", "value": f"{nickname.lower()}@example.com"},
                    ],
                    "attributes": {"nickname": nickname, "gender": gender, "province": province},
                },
            )
        )
        customer_id = identified["customer_id"]
        customers[nickname] = customer_id
        for index, amount in enumerate(orders):
            paid_at = now - timedelta(days=last + 2 * (len(orders) - 1 - index), hours=1)
            await _ok(
                await api.post(
                    "/v1/orders",
                    headers=headers,
                    json={
                        "order_id": f"{nickname}-{index}",
                        "customer_id": customer_id,
                        "paid_at": paid_at.isoformat(),
                        "currency": "CNY",
                        "amount_minor": amount,
                        "items": [{"sku": f"tea-{index}", "unit_price_minor": amount, "quantity": 1}],
                    },
                )
            )
    events = [
        {
            "event_id": f"cart-{name}",
            "type": "add_to_cart",
            "occurred_at": (now - timedelta(hours=2)).isoformat(),
            "customer_id": customers[name],
            "properties": {"sku": "tea-9"},
        }
        for name in ("Jun", "Fang")
    ]
    await _ok(await api.post("/v1/events", headers=headers, json={"events": events}))
    segment = await _ok(
        await api.post(
            "/v1/segments",
            headers=headers,
            json={
                "name": "Zhejiang buyers",
                "condition": {"field": "attributes.province", "op": "eq", "value": "Zhejiang"},
            },
        )
    )
    await _ok(await api.post("/v1/journeys", headers=headers, json={"from_template": "abandoned_cart"}))
    templates = []
    for name in ("Spring tea A", "Spring tea B"):
        body = {"name": name, "channel": "email", "purpose": "marketing", "subject": "Tea", "body": "New tea"}
        templates.append(
            (await _ok(await api.post("/v1/notify/templates", headers=headers, json=body)))["template_id"]
        )
    campaign = await _ok(
        await api.post(
            "/v1/campaigns",
            headers=headers,
            json={
                "name": "Spring tea",
                "segment_id": segment["segment_id"],
                "variants": [
                    {"name": "A", "template_id": templates[0], "weight": 1},
                    {"name": "B", "template_id": templates[1], "weight": 1},
                ],
                "holdout_percent": 20,
            },
        )
    )
    return Shop(tenant_id, api_key, customers, segment["segment_id"], campaign["campaign_id"])
