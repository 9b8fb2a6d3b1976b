"""The dashboard in a real browser: headless Chromium (Debian's) driven by Playwright against the real
gateway served over HTTP, the real services behind it, and operators signed in with the session API.

Each test watches its page: no console error, no Content-Security-Policy violation, no uncaught
exception, no failed answer but the ones it expects. Screenshots are saved as artifacts (see
tests/browser.py); PATRON_UPDATE_SCREENSHOTS=1 also rewrites docs/images/dashboard.png for the README.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from services.runtime.server import ServiceServer
from tests.browser import (
    SHOPPERS,
    Shop,
    Watch,
    artifacts,
    chromium,
    open_context,
    screenshot,
    seed_shop,
    served_gateway,
    updating_screenshots,
)
from tests.conftest import create_tenant
from tests.operator_support import PASSWORD, create_operator
from tests.test_dashboard import KPIS

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = pytest.mark.timeout(180)

Failures = tuple[tuple[str, str, int], ...]
README_IMAGE = Path(__file__).resolve().parent.parent / "docs" / "images" / "dashboard.png"
SIGNED_OUT = ("GET", "/v1/session", 401)  # the page asks who is signed in before anyone is
EVERY_INPUT_LABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter((el) => el.type !== 'hidden')
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
    && !el.getAttribute('aria-labelledby'))
  .map((el) => el.outerHTML.slice(0, 120))"""


@dataclass(frozen=True)
class Operators:
    owner: str
    analyst: str
    support: str


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
async def base_url(services: dict[str, ServiceServer]) -> AsyncIterator[str]:
    async with served_gateway(services) as url:
        yield url


@pytest.fixture(scope="module")
async def shop(api: httpx.AsyncClient) -> Shop:
    tenant = await create_tenant(api, "Dashboard tea shop")
    return await seed_shop(api, tenant.tenant_id, tenant.api_key)


@pytest.fixture(scope="module")
async def operators(api: httpx.AsyncClient, shop: Shop) -> Operators:
    owner = await create_operator(api, shop.tenant_id, "owner", "owner@tea.example")
    analyst = await create_operator(api, shop.tenant_id, "analyst", "analyst@tea.example")
    support = await create_operator(api, shop.tenant_id, "support", "support@tea.example")
    return Operators(owner["email"], analyst["email"], support["email"])


@pytest.fixture(scope="module")
def expected_failures() -> Failures:
    """What any page may fail to load: who is signed in, before anyone is."""
    return (SIGNED_OUT,)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifacts(tmp_path_factory)


async def open_page(browser: Browser, base_url: str, lang: str = "en") -> tuple[Page, Watch]:
    context = await open_context(browser, lang)
    page = await context.new_page()
    watch = Watch()
    watch.attach(page)
    await page.goto(f"{base_url}/dashboard")
    await page.wait_for_selector("#signin-submit")
    return page, watch


@dataclass
class Signed:
    """A browser page signed in as one operator, kept for the module (signing in hashes a password,
    and a fresh profile loads plotly.js again); each test starts its own watch on it."""

    page: Page
    watch: Watch

    def fresh(self) -> tuple[Page, Watch]:
        self.watch.errors.clear()
        self.watch.failures.clear()
        return self.page, self.watch


@pytest.fixture(scope="module")
async def owner(browser: Browser, base_url: str, shop: Shop, operators: Operators) -> AsyncIterator[Signed]:
    page, watch = await open_page(browser, base_url)
    await sign_in(page, shop.tenant_id, operators.owner)
    yield Signed(page, watch)
    await page.context.close()


@pytest.fixture(scope="module")
async def analyst(browser: Browser, base_url: str, shop: Shop, operators: Operators) -> AsyncIterator[Signed]:
    page, watch = await open_page(browser, base_url)
    await sign_in(page, shop.tenant_id, operators.analyst)
    yield Signed(page, watch)
    await page.context.close()


async def visit(page: Page, route: str) -> None:
    """Go to a page of the dashboard by its address (#/...), as a link would, and wait until it is drawn."""
    await page.evaluate("(route) => { window.location.hash = '#/' + route; }", route)
    await page.wait_for_selector(f"#main[data-rendered='{route}']")


async def sign_in(page: Page, tenant_id: str, email: str) -> None:
    await page.fill("#signin-tenant", tenant_id)
    await page.fill("#signin-email", email)
    await page.fill("#signin-password", PASSWORD)
    await page.press("#signin-password", "Enter")
    await page.wait_for_selector("#nav:not([hidden])")


async def wait_until(check: Any, seconds: float = 15) -> Any:
    """Poll an async check until it answers something truthy."""
    for _ in range(int(seconds / 0.2)):
        if answer := await check():
            return answer
        await asyncio.sleep(0.2)
    raise AssertionError("timed out")


async def test_sign_in_by_keyboard_with_labelled_fields(
    browser: Browser,
    expected_failures: Failures,
    base_url: str,
    shop: Shop,
    operators: Operators,
    shots: Path,
) -> None:
    page, watch = await open_page(browser, base_url)
    assert await page.evaluate(EVERY_INPUT_LABELLED) == []
    assert await page.locator("main#main").count() == 1
    assert await page.locator("header").count() == 1
    # From the top of the page (the skip link comes first), Tab reaches the three fields and the
    # button, in that order.
    await page.focus("a.skip-link")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Shift+Tab")
    assert await page.evaluate("() => document.activeElement.className") == "skip-link"
    reached: list[str] = []
    for _ in range(12):
        await page.keyboard.press("Tab")
        reached.append(
            await page.evaluate("() => document.activeElement.id || document.activeElement.tagName")
        )
    order = ["signin-tenant", "signin-email", "signin-password", "signin-submit"]
    assert all(name in reached for name in order), reached
    assert [reached.index(name) for name in order] == sorted(reached.index(name) for name in order)
    # A wrong password is refused and said so; Enter in the password field submits.
    await page.focus("#signin-tenant")
    await page.keyboard.type(shop.tenant_id)
    await page.keyboard.press("Tab")
    await page.keyboard.type(operators.owner)
    await page.keyboard.press("Tab")
    await page.keyboard.type("not the password")
    await page.keyboard.press("Enter")
    alert = page.locator("#signin-errors [role=alert]")
    await alert.wait_for()
    assert "refused" in (await alert.inner_text()).lower()
    await screenshot(page, shots, "signin-refused")
    await page.keyboard.type(PASSWORD)  # the password field was emptied and focused again
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#nav:not([hidden])")
    assert await page.get_attribute("#nav a[data-route=overview]", "aria-current") == "page"
    assert "owner@tea.example" in await page.inner_text("#who")
    # The language is a toggle, remembered across a reload.
    await page.click("#lang-toggle")
    await page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    assert await page.inner_text("#nav a[data-route=overview]") == "概览"
    await page.reload()
    await page.wait_for_selector("#nav:not([hidden])")
    assert await page.inner_text("#nav a[data-route=rfm]") == "客户分级"
    await screenshot(page, shots, "overview-zh")
    watch.assert_clean(*expected_failures, ("POST", "/v1/session", 401))
    await page.context.close()


async def test_the_overview_shows_the_apis_kpis(
    owner: Signed, expected_failures: Failures, api: httpx.AsyncClient, shop: Shop, shots: Path
) -> None:
    page, watch = owner.fresh()
    await visit(page, "overview")
    cards = page.locator("#kpi-cards[data-loaded=true]")
    await cards.wait_for()
    period = {"from": await cards.get_attribute("data-from"), "to": await cards.get_attribute("data-to")}
    expected = (await api.get("/v1/kpis", params=period, headers=shop.headers)).json()
    shown = await page.eval_on_selector_all(
        "#kpi-cards .kpi", "(cards) => cards.map((c) => [c.dataset.kpi, c.dataset.value])"
    )
    assert set(KPIS) <= {name for name, _ in shown}
    for name, value in shown:
        figure = expected[name]
        assert (float(value) if value else None) == (None if figure is None else pytest.approx(figure)), name
    seeded = [amount for *_, orders, _ in SHOPPERS for amount in orders]  # all within the last week
    assert expected["orders"] == len(seeded)
    assert float(dict(shown)["orders"]) == len(seeded)
    assert expected["revenue_minor"] == sum(seeded)
    # The comparison is with the API's previous period (nothing was sold then).
    assert expected["previous"]["orders"] == 0
    assert await page.inner_text("#kpi-cards [data-kpi=orders] .kpi-delta") == "previous period: 0"
    await page.wait_for_selector("#trend-chart .main-svg")
    await page.wait_for_timeout(300)
    path = await screenshot(page, shots, "overview")
    if updating_screenshots():
        shutil.copyfile(path, README_IMAGE)
    # Another period, then another figure: the trend is drawn again each time (it once stayed blank).
    await page.select_option("#period-days", "365")
    async with page.expect_response(lambda response: "/v1/kpis?" in response.url) as year:
        await page.click("#main form.toolbar button[type=submit]")
    assert (await year.value).status == 200
    await page.wait_for_selector("#kpi-cards[data-loaded=true]")
    await page.wait_for_function(
        "() => document.querySelector('#trend-chart')?.data?.[0]?.x?.length === 365"
        " && document.querySelector('#trend-chart .main-svg') !== null"
    )
    await page.select_option("#trend-metric", "orders")
    await page.wait_for_function(
        "() => document.querySelector('#trend-chart')?.data?.[0]?.name === 'Orders'"
        " && document.querySelector('#trend-chart .main-svg') !== null"
    )
    watch.assert_clean(*expected_failures)


async def test_a_scoring_run_shows_its_progress_and_the_rfm_grid(
    owner: Signed, expected_failures: Failures, api: httpx.AsyncClient, shop: Shop, shots: Path
) -> None:
    page, watch = owner.fresh()
    await page.click("#nav a[data-route=rfm]")
    await page.click("#start-run")
    await page.wait_for_selector(".progress [role=status]:has-text('Scoring finished')", timeout=60_000)
    await page.wait_for_selector("#rfm-heatmap .main-svg")
    await page.wait_for_selector("#lifecycle-funnel .main-svg")
    summary = (await api.get("/v1/scoring/rfm", headers=shop.headers)).json()
    assert summary["customers_scored"] == 5  # the shoppers with orders
    assert await page.inner_text("#rfm-scored") == "5"
    rows = await page.locator("#rfm-groups-chart + div table tbody tr").count()
    assert rows == 8
    await screenshot(page, shots, "rfm", full_page=True)
    watch.assert_clean(*expected_failures)


async def preview_count(api: httpx.AsyncClient, shop: Shop, condition: dict[str, Any]) -> int:
    answer = await api.post("/v1/segments/preview", json={"condition": condition}, headers=shop.headers)
    assert answer.status_code == 200, answer.text
    count: int = answer.json()["count"]
    return count


async def test_a_segment_is_built_with_a_live_count_and_saved(
    owner: Signed, expected_failures: Failures, api: httpx.AsyncClient, shop: Shop, shots: Path
) -> None:
    province = {"field": "attributes.province", "op": "eq", "value": "Zhejiang"}
    # Scoring's projection has the seeded attributes (it follows profile's events).
    await wait_until(lambda: settled_count(api, shop, {"all": [province]}, 2))
    page, watch = owner.fresh()
    await page.click("#nav a[data-route=segments]")
    await page.click("#new-segment")
    leaf = page.locator(".builder-leaf").first
    await leaf.locator("select").nth(1).select_option("attributes.province")
    await leaf.locator("select").nth(2).select_option("eq")
    await leaf.get_by_label("Value").fill("Zhejiang")
    count = page.locator("#live-count[data-count]")
    await count.wait_for()
    condition = json.loads(await count.get_attribute("data-condition") or "{}")
    assert condition == {"all": [province]}
    assert (
        int(await count.get_attribute("data-count") or -1) == await preview_count(api, shop, condition) == 2
    )
    # A second condition narrows it: at least three orders (Wei has four, Lei two).
    await page.click("button:has-text('Add condition')")
    second = page.locator(".builder-leaf").nth(1)
    await second.locator("select").nth(1).select_option("orders.count")
    await second.locator("select").nth(2).select_option("gte")
    await second.get_by_label("Value").fill("3")
    await page.wait_for_function("() => document.querySelector('#live-count').dataset.count === '1'")
    condition = json.loads(await count.get_attribute("data-condition") or "{}")
    assert await preview_count(api, shop, condition) == 1
    assert await page.evaluate(EVERY_INPUT_LABELLED) == []
    await page.fill("#segment-name", "Loyal Zhejiang buyers")
    await screenshot(page, shots, "segment-builder", full_page=True)
    await page.click("#save-segment")
    await page.wait_for_selector("#segment-count")
    segment_id = page.url.rsplit("/", 1)[-1]
    saved = (await api.get(f"/v1/segments/{segment_id}", headers=shop.headers)).json()
    assert (saved["name"], saved["count"], saved["condition"]) == ("Loyal Zhejiang buyers", 1, condition)
    assert await page.inner_text("#segment-count") == "1"
    # The export shows its progress and ends with a file to download.
    await page.click("#start-export")
    await page.wait_for_selector("#export-download")
    await screenshot(page, shots, "segment", full_page=True)
    watch.assert_clean(*expected_failures)


async def settled_count(api: httpx.AsyncClient, shop: Shop, condition: dict[str, Any], expected: int) -> bool:
    """Whether the preview counts ``expected`` yet (a slow preview on a loaded machine is asked again)."""
    answer = await api.post("/v1/segments/preview", json={"condition": condition}, headers=shop.headers)
    return answer.status_code == 200 and answer.json()["count"] == expected


async def test_a_customer_is_found_and_opened(
    owner: Signed, expected_failures: Failures, api: httpx.AsyncClient, shop: Shop, shots: Path
) -> None:
    page, watch = owner.fresh()
    await page.click("#nav a[data-route=customers]")
    await page.fill("#search-value", "13800138001")
    await page.press("#search-value", "Enter")
    link = page.locator(f"#customer-results a[href='#/customers/{shop.customers['Wei']}']")
    await link.click()
    await page.wait_for_selector("#customer-360")
    assert await page.inner_text("h1") == "Customer Wei"
    phone = await page.inner_text("[data-identity=phone]")
    assert phone == "+86 138****8001"  # masked, as the API gives it
    points = (await api.get(f"/v1/customers/{shop.customers['Wei']}/points", headers=shop.headers)).json()
    assert await page.inner_text("#points-balance") == f"{points['balance']:,}"
    timeline = await page.locator("section:has(h2:text('Timeline')) tbody tr").all_inner_texts()
    assert sum("Order paid" in row for row in timeline) == 4
    assert await page.locator("[data-degraded]").count() == 0
    await screenshot(page, shots, "customer", full_page=True)
    # Journeys and campaigns, with their results.
    await page.click("#nav a[data-route=campaigns]")
    await page.click("a:has-text('Spring tea')")
    await page.wait_for_selector("section:has(h2:text('Report')) table")
    await page.click("#nav a[data-route=journeys]")
    await page.click("#main table a")
    await page.wait_for_selector("section:has(h2:text('Results')) .kpi")
    watch.assert_clean(*expected_failures)


async def test_an_analyst_sees_no_edit_buttons_and_cannot_write(
    analyst: Signed, expected_failures: Failures, shop: Shop, shots: Path
) -> None:
    page, watch = analyst.fresh()
    for route, ready in (
        ("rfm", "#rfm-heatmap"),
        ("segments", "#main table"),
        (f"segments/{shop.segment_id}", "#segment-count"),
        ("segments/new", ".notice"),
        (f"campaigns/{shop.campaign_id}", "#campaign-progress"),
        ("journeys", "#main table"),
    ):
        await visit(page, route)
        await page.wait_for_selector(ready)
        assert await page.locator("[data-write]").count() == 0, route
        assert await page.locator("#start-run, #start-export, #new-segment, #save-segment").count() == 0
    await screenshot(page, shots, "analyst-segment-builder")
    # The server refuses the analyst's writes whatever a page would offer.
    status = await page.evaluate(
        """async () => (await fetch('/v1/segments', {method: 'POST', credentials: 'same-origin',
             headers: {'Content-Type': 'application/json',
                       'X-CSRF-Token': document.cookie.match(/patron_csrf=([^;]+)/)[1]},
             body: JSON.stringify({name: 'x', condition: {field: 'rfm.r', op: 'eq', value: 5}})})).status"""
    )
    assert status == 403
    watch.assert_clean(*expected_failures, ("POST", "/v1/segments", 403))


async def test_support_lands_on_the_customers_it_may_read(
    browser: Browser, base_url: str, expected_failures: Failures, shop: Shop, operators: Operators
) -> None:
    """Support reads customers but no KPIs (no operate scope): it starts there, and the navigation
    offers nothing else."""
    page, watch = await open_page(browser, base_url)
    await sign_in(page, shop.tenant_id, operators.support)
    await page.wait_for_selector("#main[data-rendered=customers]")
    visible = await page.eval_on_selector_all(
        "#nav a", "(links) => links.filter((a) => a.offsetParent !== null).map((a) => a.dataset.route)"
    )
    assert visible == ["customers"]
    await visit(page, f"customers/{shop.customers['Fang']}")
    await page.wait_for_selector("#customer-360")
    assert await page.locator("[data-degraded]").count() == 0
    watch.assert_clean(*expected_failures)
    await page.context.close()
