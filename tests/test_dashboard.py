"""The dashboard's files as the gateway serves them: headers (CSP and friends), caching, plotly.js from
the installed package, no inline script or style, the segment catalogue, and the labels of both
languages. The pages themselves are driven in a real browser in tests/test_dashboard_browser.py."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from gateway.dashboard.assets import STATIC, plotly_file, style_guard_ids
from gateway.dashboard.catalogue import catalogue
from gateway.dashboard.headers import CONTENT_SECURITY_POLICY, SECURITY_HEADERS
from services.scoring.domain.rfm import GROUPS
from services.scoring.domain.segments.fields import EVENT_TYPES, FIELDS, LIFECYCLE_STAGES, Op
from tests.conftest import gateway_client, gateway_settings

# The policy the issue asks for, word for word: a change to it must be deliberate (and documented).
STRICT_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
JS = STATIC / "js"
KPIS = [
    "customers",
    "active_customers",
    "dau",
    "wau",
    "mau",
    "orders",
    "revenue_minor",
    "aov_minor",
    "arpu_minor",
    "repurchase_rate",
    "ltv_minor",
    "nps",
    "csat",
    "coupon_redemption_rate",
    "points_liability",
]


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """The gateway app, in process; the dashboard's files need no service behind it."""
    async with gateway_client(gateway_settings({})) as http:
        yield http


def assert_secured(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name


async def test_the_page_carries_the_strict_policy_and_revalidates(client: httpx.AsyncClient) -> None:
    page = await client.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert CONTENT_SECURITY_POLICY == STRICT_POLICY
    assert_secured(page)
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-cache"
    again = await client.get("/dashboard", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert_secured(again)


async def test_a_trailing_slash_is_redirected(client: httpx.AsyncClient) -> None:
    answer = await client.get("/dashboard/")
    assert answer.status_code == 308
    assert answer.headers["location"] == "/dashboard"


class _Markup(HTMLParser):
    """Every tag with its attributes, and the text inside <script> and <style>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._open = tag if tag in ("script", "style") else None

    def handle_data(self, data: str) -> None:
        if self._open and data.strip():
            self.inline.append(f"<{self._open}> {data.strip()[:60]}")

    def handle_endtag(self, tag: str) -> None:
        self._open = None


async def test_the_page_has_no_inline_script_or_style(client: httpx.AsyncClient) -> None:
    markup = _Markup()
    markup.feed((await client.get("/dashboard")).text)
    assert markup.inline == []
    names = [tag for tag, _ in markup.tags]
    assert "style" not in names
    for tag, attributes in markup.tags:
        assert "style" not in attributes, tag
        assert not [a for a in attributes if a.startswith("on")], tag
        if tag == "script":
            assert (attributes.get("src") or "").startswith("/dashboard/assets/"), attributes
    scripts = [a["src"] for tag, a in markup.tags if tag == "script"]
    assert any(re.fullmatch(r"/dashboard/assets/plotly\.min\.js\?v=[0-9a-f]{32}", s or "") for s in scripts)
    # plotly.js injects a <style> unless these ids exist: the page carries them (see assets.py).
    ids = {a.get("id") for tag, a in markup.tags if tag == "template"}
    guards = style_guard_ids(plotly_file().read_bytes())
    assert guards, "plotly.js no longer guards its map styles by id: check the CSP test in the browser"
    assert set(guards) <= ids
    links = {a.get("id"): a for tag, a in markup.tags if tag == "link"}
    assert "no-inline-styles" in (links["plotly.js-style-global"].get("class") or "")


async def test_plotly_comes_from_the_installed_package_cached_for_a_year(client: httpx.AsyncClient) -> None:
    plain = await client.get("/dashboard/assets/plotly.min.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.content == plotly_file().read_bytes()
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert plain.headers["vary"] == "Accept-Encoding"
    assert_secured(plain)
    packed = await client.get("/dashboard/assets/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.content == plain.content  # httpx decodes: the same bytes
    assert int(packed.headers["content-length"]) < len(plain.content) // 2
    assert gzip.decompress(gzip.compress(plain.content)) == plain.content


async def test_every_own_file_is_served_with_its_type_and_nothing_else(client: httpx.AsyncClient) -> None:
    served = 0
    for path in sorted(STATIC.rglob("*")):
        name = path.relative_to(STATIC).as_posix()
        if not path.is_file() or name == "index.html":
            continue
        answer = await client.get(f"/dashboard/assets/{name}")
        assert answer.status_code == 200, name
        assert answer.content == path.read_bytes()
        kind = {
            ".js": "text/javascript",
            ".css": "text/css",
            ".json": "application/json",
            ".svg": "image/svg+xml",
        }
        assert answer.headers["content-type"].startswith(kind[path.suffix]), name
        assert answer.headers["cache-control"] == "no-cache"
        assert_secured(answer)
        served += 1
    assert served > 10
    for missing in ("nothing.js", "../router.py", "..%2Frouter.py", "js/../../assets.py", "index.html"):
        answer = await client.get(f"/dashboard/assets/{missing}")
        assert answer.status_code == 404, missing
        assert answer.headers["content-type"] == "application/problem+json"
        assert_secured(answer)


async def test_the_dashboard_is_no_api_operation(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert not [path for path in document["paths"] if path.startswith("/dashboard")]


async def test_with_an_operations_port_the_dashboard_stays_on_the_api_port() -> None:
    async with gateway_client(gateway_settings({}, operations_port=1)) as http:
        assert (await http.get("/dashboard")).status_code == 200
        assert (await http.get("/docs")).status_code == 404  # the documents moved; the dashboard did not


async def test_the_catalogue_is_scorings_own(client: httpx.AsyncClient) -> None:
    answer = await client.get("/dashboard/catalogue.json")
    assert answer.status_code == 200
    assert_secured(answer)
    served = answer.json()
    assert served == catalogue()
    assert [f["name"] for f in served["fields"]] == list(FIELDS)
    for item in served["fields"]:
        assert {Op(op) for op in item["ops"]} == FIELDS[item["name"]].ops
        assert item["money"] == item["name"].endswith("_minor")
    assert set(served["event_types"]) == EVENT_TYPES
    assert served["lifecycle_stages"] == list(LIFECYCLE_STAGES)


def dictionaries() -> dict[str, dict[str, str]]:
    return {lang: json.loads((STATIC / "i18n" / f"{lang}.json").read_text("utf-8")) for lang in ("en", "zh")}


def test_both_languages_label_the_same_things() -> None:
    en, zh = dictionaries()["en"], dictionaries()["zh"]
    assert set(en) == set(zh)
    assert all(isinstance(v, str) and v.strip() for d in (en, zh) for v in d.values())
    for key in en:  # placeholders agree, so no text loses a figure in translation
        assert set(re.findall(r"\{\w+\}", en[key])) == set(re.findall(r"\{\w+\}", zh[key])), key
    assert re.search(r"[\u4e00-\u9fff]", zh["nav.overview"])


def _used_keys() -> set[str]:
    keys: set[str] = set()
    for path in JS.rglob("*.js"):
        text = path.read_text("utf-8")
        keys |= set(re.findall(r"\bt(?:Or)?\('([^']+)'", text))
        keys |= set(re.findall(r"\['(customer\.\w+)'", text))  # the customer page's fact labels
    keys |= set(
        re.findall(r'data-i18n(?:-aria-label)?="([^"]+)"', (STATIC / "index.html").read_text("utf-8"))
    )
    return keys


def test_every_label_the_scripts_use_exists() -> None:
    en = dictionaries()["en"]
    used = _used_keys()
    assert len(used) > 100
    assert sorted(used - set(en)) == []
    families = {
        "kpi": KPIS,
        "field": list(FIELDS),
        "op": [op.value for op in Op],
        "event": sorted(EVENT_TYPES),
        "stage": list(LIFECYCLE_STAGES),
        "rfm.group": [group.code for group in GROUPS],
        "role": ["owner", "marketer", "analyst", "support"],
        "run": ["queued", "running", "succeeded", "failed"],
        "export": ["queued", "running", "done", "failed", "expired"],
        "campaigns.count": ["recipients", "planned", "sent", "suppressed", "deferred", "failed", "holdout"],
    }
    missing = [
        f"{family}.{code}"
        for family, codes in families.items()
        for code in codes
        if f"{family}.{code}" not in en
    ]
    assert missing == []


def test_the_scripts_never_write_markup_or_inline_styles() -> None:
    """Text goes in as text (no injection), and nothing the CSP would refuse: no inline style
    attribute, no eval. The scripts are small modules like the Python ones."""
    forbidden = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\('style'"
        r"|\.style\.cssText|javascript:"
    )
    faults = []
    for path in sorted(JS.rglob("*.js")):
        text = path.read_text("utf-8")
        faults += [f"{path.name}: {m.group(0)}" for m in forbidden.finditer(text)]
        if len(text.splitlines()) > 400:
            faults.append(f"{path.name}: {len(text.splitlines())} lines")
    assert faults == []


def test_the_readme_screenshot_is_small(repo_root: Path) -> None:
    image = repo_root / "docs" / "images" / "dashboard.png"
    assert image.exists(), "PATRON_UPDATE_SCREENSHOTS=1 pytest tests/test_dashboard_browser.py writes it"
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.stat().st_size < 400_000
    assert "docs/images/dashboard.png" in (repo_root / "README.md").read_text("utf-8")
