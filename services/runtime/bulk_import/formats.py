"""The CSV formats of ``patron import``: rows to API bodies, with every fault named by its column.

Orders: one row per line item; consecutive rows with the same ``order_id`` are one order, whose
order-level columns come from its first row (later rows may leave them empty or repeat them).
Customers: one row per customer. ``docs/import.md`` documents both formats.

Money is converted without floats: ``amount`` / ``unit_price`` in major units are parsed as decimals
and scaled by the currency's ISO 4217 exponent; more decimals than the currency has are refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

IDENTITY_COLUMNS = (
    "phone",
    "email",
    "external_id",
    "app_user_id",
    "wechat_openid",
    "wechat_unionid",
    "platform_nick",
)
ORDER_COLUMNS = (
    "order_id",
    "customer_id",
    "paid_at",
    "currency",
    "amount_minor",
    "amount",
    "coupon_code",
    "channel",
)
ITEM_COLUMNS = ("sku", "category", "brand", "unit_price_minor", "unit_price", "quantity")
CUSTOMER_ATTRIBUTES = (
    "nickname",
    "gender",
    "birthday",
    "province",
    "city",
    "registered_at",
    "registration_channel",
    "device",
)
CUSTOM_PREFIX = "custom."

# ISO 4217 minor-unit exponents that are not 2 (every other currency has 2 decimals).
_EXPONENTS = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
_NAIVE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class RowError(ValueError):
    """A value of a row that cannot become part of an API body; ``column`` names where."""

    def __init__(self, column: str, message: str, line: int | None = None) -> None:
        super().__init__(f"{column}: {message}")
        self.column = column
        self.line = line


def currency_exponent(currency: str) -> int:
    """Decimals of the currency's minor unit (ISO 4217): 2 unless listed otherwise."""
    return _EXPONENTS.get(currency.upper(), 2)


def to_minor(value: str, currency: str, column: str) -> int:
    """An amount in major units ("199.00") as an integer count of the currency's minor units."""
    try:
        amount = Decimal(value.replace(",", "").strip())
    except InvalidOperation:
        raise RowError(column, f"{value!r} is not a number") from None
    if not amount.is_finite():
        raise RowError(column, f"{value!r} is not a number")
    exponent = currency_exponent(currency)
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise RowError(column, f"{currency} has {exponent} decimals, {value!r} has more")
    return int(scaled)


def to_int(value: str, column: str) -> int:
    """A whole number; "1,000" and " 12 " are accepted, "1.5" and "" are not."""
    text = value.replace(",", "").strip()
    if not re.fullmatch(r"[+-]?\d{1,19}", text):
        raise RowError(column, f"{value!r} is not a whole number")
    return int(text)


def to_time(value: str, zone: ZoneInfo, column: str) -> str:
    """RFC 3339 as is; a date, or a date and time without offset, read in ``zone``; as RFC 3339."""
    text = value.strip()
    if _DATE.match(text):
        try:
            moment = datetime.combine(date.fromisoformat(text), time(), zone)
        except ValueError:
            raise RowError(column, f"{value!r} is not a date") from None
        return moment.isoformat()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise RowError(column, f"{value!r} is not an RFC 3339 time or a date (YYYY-MM-DD)") from None
    if parsed.tzinfo is None:
        if not _NAIVE_TIME.match(text):
            raise RowError(column, f"{value!r} is not an RFC 3339 time or a date (YYYY-MM-DD)")
        parsed = parsed.replace(tzinfo=zone)
    return parsed.isoformat()


@dataclass(frozen=True, slots=True)
class Header:
    """The columns of a file, by name; unknown columns are an error so that typos are caught."""

    names: tuple[str, ...]
    index: dict[str, int]

    @classmethod
    def parse(cls, names: Sequence[str], kind: str) -> Header:
        """Check the header row of an ``orders`` or ``customers`` file; ValueError says what is wrong."""
        cleaned = tuple(n.strip().lower() for n in names)
        known = set(IDENTITY_COLUMNS) | (
            set(ORDER_COLUMNS) | set(ITEM_COLUMNS) if kind == "orders" else {*CUSTOMER_ATTRIBUTES}
        )
        unknown = [
            n for n in cleaned if n not in known and not (kind == "customers" and n.startswith(CUSTOM_PREFIX))
        ]
        if unknown:
            raise ValueError(f"unknown column(s) {', '.join(unknown)}; see docs/import.md")
        duplicated = sorted({n for n in cleaned if cleaned.count(n) > 1})
        if duplicated:
            raise ValueError(f"column(s) named twice: {', '.join(duplicated)}")
        required = ("order_id", "paid_at", "currency", "sku") if kind == "orders" else ()
        missing = [n for n in required if n not in cleaned]
        if kind == "orders" and "amount_minor" not in cleaned and "amount" not in cleaned:
            missing.append("amount_minor or amount")
        if kind == "orders" and "unit_price_minor" not in cleaned and "unit_price" not in cleaned:
            missing.append("unit_price_minor or unit_price")
        identity_columns = [n for n in cleaned if n in IDENTITY_COLUMNS or n == "customer_id"]
        if not identity_columns:
            missing.append("customer_id or an identity column (" + ", ".join(IDENTITY_COLUMNS) + ")")
        if missing:
            raise ValueError(f"missing column(s): {'; '.join(missing)}")
        return cls(cleaned, {n: i for i, n in enumerate(cleaned)})

    def get(self, row: Sequence[str], name: str) -> str:
        """The row's value in a column ("" when the file has no such column or the row is short)."""
        position = self.index.get(name)
        return row[position].strip() if position is not None and position < len(row) else ""


@dataclass(slots=True)
class Record:
    """One unit sent to the API (an order and its rows, or a customer's row), with its CSV lines.

    ``body`` is None when a row could not be converted; ``errors`` then hold (line, reason).
    ``columns`` says which CSV column each of the body's identities came from.
    """

    lines: list[int]
    rows: list[list[str]]
    body: dict[str, Any] | None = None
    errors: list[tuple[int, str]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    encoded: bytes = b""


def _identities(header: Header, row: Sequence[str]) -> tuple[list[dict[str, str]], list[str]]:
    pairs = [(name, header.get(row, name)) for name in IDENTITY_COLUMNS]
    given = [(name, value) for name, value in pairs if value]
    return [{"type": name, "value": value} for name, value in given], [name for name, _ in given]


def _optional(header: Header, row: Sequence[str], name: str) -> str | None:
    return header.get(row, name) or None


def _money(header: Header, row: Sequence[str], minor: str, major: str, currency: str) -> int:
    if header.get(row, minor):
        return to_int(header.get(row, minor), minor)
    if header.get(row, major):
        return to_minor(header.get(row, major), currency, major)
    raise RowError(minor if minor in header.index else major, "is required")


def order_record(header: Header, lines: list[int], rows: list[list[str]], zone: ZoneInfo) -> Record:
    """The ``POST /v1/orders`` body for the rows of one order (the first row carries the order)."""
    record = Record(lines, rows)
    first = rows[0]
    try:
        for line, row in zip(lines[1:], rows[1:], strict=True):
            for name in (*ORDER_COLUMNS, *IDENTITY_COLUMNS):
                value = header.get(row, name)
                if value and value != header.get(first, name):
                    raise RowError(name, f"differs from the order's first row (line {lines[0]})", line)
        for name in ("paid_at", "currency"):
            if not header.get(first, name):
                raise RowError(name, "is required")
        currency = header.get(first, "currency")
        body: dict[str, Any] = {
            "order_id": header.get(first, "order_id"),
            "paid_at": to_time(header.get(first, "paid_at"), zone, "paid_at"),
            "currency": currency,
            "amount_minor": _money(header, first, "amount_minor", "amount", currency),
        }
        identities, record.columns = _identities(header, first)
        if header.get(first, "customer_id"):
            body["customer_id"] = header.get(first, "customer_id")
        if identities:
            body["identities"] = identities
        for name in ("coupon_code", "channel"):
            if (label := _optional(header, first, name)) is not None:
                body[name] = label
        body["items"] = [_item(header, line, row, currency) for line, row in zip(lines, rows, strict=True)]
    except RowError as error:
        record.errors.append((error.line or lines[0], str(error)))
        return record
    record.body = body
    return record


def _item(header: Header, line: int, row: Sequence[str], currency: str) -> dict[str, Any]:
    try:
        return _item_fields(header, row, currency)
    except RowError as error:
        raise RowError(error.column, str(error).partition(": ")[2], line) from None


def _item_fields(header: Header, row: Sequence[str], currency: str) -> dict[str, Any]:
    quantity = header.get(row, "quantity")
    item: dict[str, Any] = {
        "sku": header.get(row, "sku"),
        "unit_price_minor": _money(header, row, "unit_price_minor", "unit_price", currency),
        "quantity": to_int(quantity, "quantity") if quantity else 1,
    }
    for name in ("category", "brand"):
        if (value := _optional(header, row, name)) is not None:
            item[name] = value
    return item


def customer_record(header: Header, line: int, row: list[str], zone: ZoneInfo) -> Record:
    """The ``POST /v1/customers/identify`` body for one row."""
    record = Record([line], [row])
    identities, record.columns = _identities(header, row)
    attributes: dict[str, Any] = {}
    try:
        for name in CUSTOMER_ATTRIBUTES:
            value = header.get(row, name)
            if value:
                attributes[name] = to_time(value, zone, name) if name == "registered_at" else value
        custom = {
            n[len(CUSTOM_PREFIX) :]: header.get(row, n) for n in header.names if n.startswith(CUSTOM_PREFIX)
        }
        custom = {key: value for key, value in custom.items() if value}
        if custom:
            attributes["custom"] = custom
    except RowError as error:
        record.errors.append((line, str(error)))
        return record
    body: dict[str, Any] = {"identities": identities}
    if attributes:
        body["attributes"] = attributes
    record.body = body
    return record


def encode(body: dict[str, Any]) -> bytes:
    """A body as compact UTF-8 JSON (batches are joined from these without parsing them again)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
