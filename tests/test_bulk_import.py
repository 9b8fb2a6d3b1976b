"""``patron import``: CSV history through the real gateway and profile service, resumable.

End to end over the in-process gateway (the importer takes its httpx client): orders grouped from
rows, money in major units by the currency's exponent, rejected rows with their line numbers (the
importer's own and the API's), an interrupted run resumed with every order recorded exactly once,
a stale checkpoint refused, customers through identify; and the pieces without the database.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.runtime.bulk_import import checkpoint
from services.runtime.bulk_import.batches import batches, order_records
from services.runtime.bulk_import.client import ApiClient, ImportAborted
from services.runtime.bulk_import.command import run_import
from services.runtime.bulk_import.formats import Header, RowError, to_minor, to_time
from services.runtime.bulk_import.runner import ImportOptions, rejected_path
from services.runtime.bulk_import.source import CsvSource
from services.runtime.cli import main as patron
from tests.conftest import TenantKey
from tests.test_orders import order_events

ORDER_HEADER = "order_id,external_id,phone,paid_at,currency,amount,sku,category,unit_price_minor,quantity\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


async def run(
    api: httpx.AsyncClient, tenant: TenantKey, kind: str, path: Path, **options: object
) -> tuple[int, str]:
    out = io.StringIO()
    settings = ImportOptions(kind=kind, path=path, progress_seconds=0.05, **options)  # type: ignore[arg-type]
    code = await run_import(settings, tenant.api_key, client=api, out=out)
    return code, out.getvalue()


async def settled_order_count(urls: dict[str, str], tenant: TenantKey) -> int:
    """The tenant's order.paid count once it has not changed for half a second."""
    count, stable_since = -1, 0.0
    loop = asyncio.get_running_loop()
    while True:
        now = len(await order_events(urls, tenant))
        if now != count:
            count, stable_since = now, loop.time()
        elif loop.time() - stable_since >= 0.5:
            return count
        await asyncio.sleep(0.1)


def rejected_rows(path: Path) -> list[dict[str, str]]:
    with rejected_path(path).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


async def test_orders_are_grouped_converted_and_rejected_rows_named_by_line(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str], tmp_path: Path
) -> None:
    path = write(
        tmp_path / "orders.csv",
        ORDER_HEADER
        + "SO-1,m-1,,2024-03-01T10:00:00+08:00,CNY,199.50,TEA-1,tea,9900,1\n"  # line 2
        + "SO-1,,,,,,CUP-2,,10050,1\n"  # line 3: the same order
        + "SO-2,m-2,,2024-03-02,JPY,1500,RICE,,1500,1\n"  # line 4: a bare date, JPY has no decimals
        + "SO-3,m-3,,2024-03-03,CNY,10.5,TEA-1,,1050,abc\n"  # line 5: not a quantity (the importer)
        + "SO-4,m-4,,2024-03-04,XXX,1.00,TEA-1,,100,1\n"  # line 6: not a currency (the API)
        + "SO-5,m-5,,2024-03-05,CNY,3.00,TEA-1,,100,1\n"  # line 7
        + "SO-5,m-5,,,,,CUP-2,,-5,1\n"  # line 8: a bad price on the order's second row (the API)
        # line 9: quoted values, a phone written loosely, a time without offset, a thousands separator
        + '"SO-6",,+86 139 0000 0001,"2024-03-06 09:30",CNY,"1,000.00",TEA-1,"tea, green",100000,1\n'
        + "SO-7,m-7,,2024-03-07,CNY,1.001,TEA-1,,100,1\n",  # line 10: more decimals than CNY has
    )
    code, output = await run(api, tenant, "orders", path, batch_size=3, timezone="Asia/Shanghai")
    assert code == 1, output
    assert "3 accepted, 0 duplicates, 4 rejected" in output
    reasons = {row["line"]: row["reasons"] for row in rejected_rows(path)}
    assert set(reasons) == {"5", "6", "7", "8", "10"}
    assert reasons["5"].startswith("quantity: 'abc' is not a whole number")
    assert reasons["6"].startswith("currency: must be an ISO 4217 currency code")
    assert reasons["8"].startswith("unit_price_minor: must be an integer from 0")
    assert reasons["7"] == "same order as line 8"
    assert "CNY has 2 decimals" in reasons["10"]
    assert rejected_rows(path)[0]["order_id"] == "SO-3"  # the row's own columns follow

    one = (await api.get("/v1/orders/SO-1", headers=tenant.headers)).json()
    assert (one["amount_minor"], [i["sku"] for i in one["items"]]) == (19_950, ["TEA-1", "CUP-2"])
    two = (await api.get("/v1/orders/SO-2", headers=tenant.headers)).json()
    assert (two["amount_minor"], two["paid_at"]) == (1500, "2024-03-01T16:00:00Z")  # midnight in Shanghai
    six = (await api.get("/v1/orders/SO-6", headers=tenant.headers)).json()
    assert (six["amount_minor"], six["items"][0]["category"]) == (100_000, "tea, green")
    assert six["paid_at"] == "2024-03-06T01:30:00Z"
    paid = sorted(e.order_paid.order_id for e in await order_events(database_urls, tenant))
    assert paid == ["SO-1", "SO-2", "SO-6"]


async def test_an_interrupted_import_resumes_and_records_every_order_once(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str], tmp_path: Path
) -> None:
    rows = [
        f"R-{n:03d},c-{n % 7},,2024-0{1 + n % 9}-1{n % 10},CNY,{n}.00,SKU-{k},,{n * 100 // 2},2\n"
        for n in range(1, 41)
        for k in range(1 + n % 3)
    ]
    path = write(tmp_path / "history.csv", ORDER_HEADER + "".join(rows))
    code, output = await run(api, tenant, "orders", path, batch_size=4, concurrency=3, stop_after_batches=3)
    assert code == 4, output
    state = json.loads(checkpoint.state_path(path).read_text())
    assert state["finished"] is False
    assert state["counts"]["accepted"] == 12  # three batches of four orders acknowledged
    # Batches in flight when it stopped may still be recorded: the server finishes what it received.
    first_run = await settled_order_count(database_urls, tenant)
    assert 12 <= first_run <= 12 + 3 * 4

    code, output = await run(api, tenant, "orders", path, batch_size=4, concurrency=3)
    assert code == 0, output
    events = await order_events(database_urls, tenant)
    assert sorted(e.order_paid.order_id for e in events) == [f"R-{n:03d}" for n in range(1, 41)]
    state = json.loads(checkpoint.state_path(path).read_text())
    assert state["finished"] is True
    counts = state["counts"]
    assert (counts["records"], counts["accepted"] + counts["duplicates"], counts["rejected"]) == (40, 40, 0)
    assert counts["duplicates"] == first_run - 12  # the re-sent batches, answered as duplicates
    assert counts["rows"] == len(rows)

    code, output = await run(api, tenant, "orders", path)  # finished: nothing more to do
    assert code == 0
    assert "already imported" in output


async def test_a_different_file_under_the_same_name_refuses_the_checkpoint(
    api: httpx.AsyncClient, tenant: TenantKey, tmp_path: Path
) -> None:
    body = "".join(f"S-{n},s-{n},,2024-01-01,CNY,1,SKU,,100,1\n" for n in range(10))
    path = write(tmp_path / "orders.csv", ORDER_HEADER + body)
    assert (await run(api, tenant, "orders", path, batch_size=2, stop_after_batches=1))[0] == 4
    write(path, ORDER_HEADER.replace("phone", "email") + body)
    code, output = await run(api, tenant, "orders", path, batch_size=2)
    assert code == 2
    assert "is not the file" in output
    assert "--restart" in output
    code, output = await run(api, tenant, "customers", path)
    assert code == 2
    code, output = await run(api, tenant, "orders", path, batch_size=2, restart=True)
    assert code == 0, output
    state = json.loads(checkpoint.state_path(path).read_text())["counts"]
    assert (state["accepted"] + state["duplicates"], state["rejected"]) == (10, 0)


async def test_customers_are_identified_and_rejected_rows_named(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "customers.csv",
        "\ufeffphone,email,nickname,birthday,registered_at,custom.level\n"
        "13900000001,wei@example.cn,Wei,1990-01-02,2020-05-01,gold\n"
        "12,,Bad,,,\n"  # line 3: not a phone number
        "+86 139 0000 0001,,,,,\n"  # line 4: the first customer again
        "13900000002,,Li,2999-01-01,,\n",  # line 5: a birthday in the future
    )
    code, output = await run(api, tenant, "customers", path, batch_size=2)
    assert code == 1, output
    assert "1 accepted, 1 duplicates, 2 rejected" in output
    reasons = {row["line"]: row["reasons"] for row in rejected_rows(path)}
    assert reasons["3"].startswith("phone: ")
    assert reasons["5"].startswith("birthday: ")
    found = await api.post(
        "/v1/customers/identify",
        json={"identities": [{"type": "email", "value": "wei@example.cn"}]},
        headers=tenant.headers,
    )
    customer = (await api.get(f"/v1/customers/{found.json()['customer_id']}", headers=tenant.headers)).json()
    assert customer["attributes"]["nickname"] == "Wei"
    assert customer["attributes"]["custom"] == {"level": "gold"}
    theirs = await api.get(f"/v1/customers/{found.json()['customer_id']}", headers=other_tenant.headers)
    assert theirs.status_code == 404


async def test_a_bad_key_aborts_and_keeps_the_checkpoint(api: httpx.AsyncClient, tmp_path: Path) -> None:
    path = write(tmp_path / "orders.csv", ORDER_HEADER + "A-1,a,,2024-01-01,CNY,1,SKU,,100,1\n")
    out = io.StringIO()
    code = await run_import(ImportOptions("orders", path), "ptk_wrong", client=api, out=out)
    assert code == 3
    assert "HTTP 401" in out.getvalue()
    assert not checkpoint.state_path(path).exists()


def test_the_command_needs_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PATRON_API_KEY", raising=False)
    assert patron(["import", "orders", str(tmp_path / "none.csv")]) == 2


# --- the pieces, without the database ----------------------------------------------------------


async def test_retries_only_what_a_retry_can_help() -> None:
    answers = iter([503, 429, 504, 200])
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        seen.append(status)
        return httpx.Response(status, json={"ok": True}, headers={"Retry-After": "0"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://x") as http:
        client = ApiClient(http, "k", backoff_initial=0.001, backoff_max=0.01)
        assert (await client.post("/v1/orders/batch", b"{}")).body == {"ok": True}
        assert (seen, client.retries) == ([503, 429, 504, 200], 3)

    calls = 0

    def refuse(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(422, json={"detail": "bad"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse), base_url="http://x") as http:
        with pytest.raises(ImportAborted, match="HTTP 422"):
            await ApiClient(http, "k").post("/v1/orders/batch", b"{}")
    assert calls == 1

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    async with httpx.AsyncClient(transport=httpx.MockTransport(down), base_url="http://x") as http:
        with pytest.raises(ImportAborted, match="ConnectError after 3 attempts"):
            await ApiClient(http, "k", attempts=3, backoff_initial=0.001).post("/v1/x", b"{}")


def test_money_is_scaled_by_the_currency_exponent_without_floats() -> None:
    assert to_minor("199.99", "CNY", "amount") == 19_999
    assert to_minor("1,500", "JPY", "amount") == 1_500
    assert to_minor("1.234", "KWD", "amount") == 1_234
    assert to_minor("0.1", "usd", "amount") == 10
    assert to_minor("12345678901234.56", "CNY", "amount") == 1_234_567_890_123_456
    for value, currency in (("1.5", "JPY"), ("0.001", "CNY"), ("abc", "CNY"), ("NaN", "CNY"), ("inf", "CNY")):
        with pytest.raises(RowError):
            to_minor(value, currency, "amount")


def test_times_are_rfc_3339_or_read_in_the_given_zone() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    assert to_time("2024-03-01", shanghai, "paid_at") == "2024-03-01T00:00:00+08:00"
    assert to_time("2024-03-01 12:30", shanghai, "paid_at") == "2024-03-01T12:30:00+08:00"
    assert to_time("2024-03-01T12:30:00Z", shanghai, "paid_at") == "2024-03-01T12:30:00+00:00"
    parsed = datetime.fromisoformat(to_time("2024-03-01T12:30:00-05:00", shanghai, "paid_at"))
    assert parsed.astimezone(UTC).hour == 17
    for bad in ("2024-13-01", "yesterday", "2024-03-01T25:00", "1/2/2024"):
        with pytest.raises(RowError):
            to_time(bad, shanghai, "paid_at")


def test_a_header_names_every_problem() -> None:
    with pytest.raises(ValueError, match="unknown column"):
        Header.parse(["order_id", "paid", "currency"], "orders")
    with pytest.raises(ValueError, match="missing column"):
        Header.parse(["order_id", "phone", "currency", "sku", "unit_price_minor", "amount"], "orders")
    with pytest.raises(ValueError, match="named twice"):
        Header.parse(["phone", "phone"], "customers")
    assert Header.parse([" Phone ", "custom.tier"], "customers").names == ("phone", "custom.tier")


def test_batches_respect_the_size_the_body_limit_and_file_offsets(tmp_path: Path) -> None:
    lines = "".join(f"B-{n // 2},b,,2024-01-01,CNY,1,SKU-{n},,100,1\n" for n in range(40))  # 20 orders
    path = write(tmp_path / "orders.csv", ORDER_HEADER + lines)
    source = CsvSource(path)
    header = Header.parse(source.header, "orders")
    made = list(batches(order_records(header, source.rows(0, 1), ZoneInfo("UTC")), 500, 1_000))
    source.close()
    assert sum(len(b.records) for b in made) == 20
    assert all(b.size <= 1_000 for b in made)
    assert len(made) > 1
    assert made[-1].end_offset == path.stat().st_size
    assert [b.end_line for b in made][-1] == 41
    # Each batch ends exactly at a row boundary: resuming there starts with the next order.
    source = CsvSource(path)
    resumed = next(source.rows(made[0].end_offset, made[0].end_line))
    source.close()
    assert resumed.line == made[0].end_line + 1
    assert resumed.values[0] == made[1].records[0].rows[0][0]


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=25),
    batch_size=st.integers(min_value=1, max_value=6),
    max_body=st.integers(min_value=400, max_value=2_000),
)
def test_batches_cover_every_row_once_in_order_ending_on_row_boundaries(
    sizes: list[int], batch_size: int, max_body: int
) -> None:
    lines = "".join(
        f"P-{n},p,,2024-01-01,CNY,1,SKU-{k},,100,1\n" for n, size in enumerate(sizes) for k in range(size)
    )
    with tempfile.TemporaryDirectory() as scratch:
        path = write(Path(scratch) / "orders.csv", ORDER_HEADER + lines)
        source = CsvSource(path)
        header = Header.parse(source.header, "orders")
        made = list(batches(order_records(header, source.rows(0, 1), ZoneInfo("UTC")), batch_size, max_body))
        offsets = [b.end_offset for b in made]
        resumed = [next(source.rows(b.end_offset, b.end_line), None) for b in made]
        source.close()
    orders = [r.rows[0][0] for b in made for r in b.records]
    assert orders == [f"P-{n}" for n in range(len(sizes))]
    assert all(len(b.sendable) <= batch_size and b.size <= max_body for b in made)
    assert offsets == sorted(offsets)
    assert offsets[-1] == len((ORDER_HEADER + lines).encode())
    for following, nxt in zip([*made[1:], None], resumed, strict=True):
        assert (nxt is None) == (following is None)
        if following is not None and nxt is not None:
            assert nxt.values[0] == following.records[0].rows[0][0]
