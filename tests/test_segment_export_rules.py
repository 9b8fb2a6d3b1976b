"""Segment export rules without I/O: the masked forms profile hands out, the CSV file's shape and its
formula escaping, the batch checks of profile's contact lookup, the expiry and retry rules."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.profile.domain.contacts import MAX_CONTACT_BATCH, parse_customer_ids
from services.profile.domain.identities import mask, normalize_email, normalize_phone
from services.runtime.errors import InvalidArgument
from services.scoring.domain.segments.export_csv import (
    FORMULA_STARTS,
    HEADER,
    ExportRow,
    header_line,
    inert,
    row_lines,
    utc_text,
)
from services.scoring.domain.segments.export_worker import EXPORT_BATCH, backoff
from services.scoring.domain.segments.exports import FILE_TTL, SegmentExport, as_seen

NOW = datetime(2026, 12, 5, 8, 30, tzinfo=UTC)


def parsed(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def uninert(cell: str) -> str:
    """What the documented rule gives back: drop the first character of a cell that begins with '."""
    return cell[1:] if cell.startswith("'") else cell


# --- masking (profile's, the forms the export carries) --------------------------------------------


def test_masked_phone_and_email_keep_too_little_to_contact() -> None:
    phone = normalize_phone("13812345678", "CN")
    assert mask("phone", phone) == "+86 138****5678"
    assert mask("email", normalize_email("Alice.Wong@Example.com")) == "a***@example.com"
    assert mask("email", normalize_email("=cmd@example.com")) == "=***@example.com"


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_a_masked_mobile_shows_three_and_four_digits_only(number: str) -> None:
    try:
        phone = normalize_phone(number, "CN")
    except ValueError:
        return
    masked = mask("phone", phone)
    assert masked == f"+86 {number[:3]}****{number[-4:]}"
    assert number not in masked.replace(" ", "")


def test_a_batch_of_ids_is_checked_whole() -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    assert parse_customer_ids([*ids, ids[0]]) == [uuid.UUID(i) for i in ids]
    with pytest.raises(InvalidArgument) as empty:
        parse_customer_ids([])
    assert empty.value.violations[0].field == "customer_ids"
    with pytest.raises(InvalidArgument) as large:
        parse_customer_ids([str(uuid.uuid4()) for _ in range(MAX_CONTACT_BATCH + 1)])
    assert large.value.violations[0].field == "customer_ids"
    with pytest.raises(InvalidArgument) as malformed:
        parse_customer_ids([ids[0], "nope", ids[1], "'; DROP TABLE identities; --"])
    assert [v.field for v in malformed.value.violations] == ["customer_ids[1]", "customer_ids[3]"]
    assert EXPORT_BATCH == MAX_CONTACT_BATCH  # scoring's batch is one profile call


# --- the CSV file ----------------------------------------------------------------------------------


def test_the_header_and_a_row() -> None:
    customer = uuid.UUID("0b7e2a52-3d55-4c1e-9d7e-6f2f4f7c1a01")
    entered = datetime(2026, 12, 4, 16, 5, 9, 123456, tzinfo=timezone(timedelta(hours=8)))
    text = header_line() + row_lines(
        [
            ExportRow(1, customer, entered, "+86 138****5678", "a***@example.com"),
            ExportRow(2, customer, entered, None, None),
        ]
    )
    assert text == (
        "customer_id,entered_at,phone,email\r\n"
        f"{customer},2026-12-04T08:05:09Z,'+86 138****5678,a***@example.com\r\n"
        f"{customer},2026-12-04T08:05:09Z,,\r\n"
    )
    assert parsed(text)[0] == list(HEADER)


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\uff1d1+1", "'\uff1d1+1"),  # full-width equals
        ("'=1", "''=1"),  # the escape itself, so that the rule can be undone
        ("a=1", "a=1"),
        ("", ""),
        ("a***@example.com", "a***@example.com"),
    ],
)
def test_cells_that_a_spreadsheet_would_run_get_a_quote_in_front(cell: str, written: str) -> None:
    assert inert(cell) == written


def test_commas_quotes_and_line_breaks_stay_inside_their_cell() -> None:
    customer = uuid.uuid4()
    row = ExportRow(1, customer, NOW, '=1,"2"\r\n3', "-x@y,z")
    cells = parsed(row_lines([row]))
    assert cells == [[str(customer), utc_text(NOW), '\'=1,"2"\r\n3', "'-x@y,z"]]


@given(st.text(), st.text())
def test_every_cell_reads_back_inert_and_the_rule_undoes_exactly(phone: str, email: str) -> None:
    row = ExportRow(1, uuid.UUID(int=7), NOW, phone or None, email or None)
    cells = parsed(row_lines([row]))
    assert len(cells) == 1
    assert len(cells[0]) == 4
    for cell, original in zip(cells[0][2:], (phone, email), strict=True):
        assert not cell or cell[0] not in FORMULA_STARTS - {"'"}
        assert uninert(cell) == original


# --- expiry and retries ----------------------------------------------------------------------------


def export(status: str, expires_at: datetime | None) -> SegmentExport:
    return SegmentExport(
        uuid.uuid4(), uuid.uuid4(), 1, status, 3, 3, 3, NOW - timedelta(hours=1), None, expires_at, None
    )


def test_a_done_file_expires_at_its_time_pruned_or_not() -> None:
    assert as_seen(export("done", NOW + timedelta(seconds=1)), NOW).status == "done"
    assert as_seen(export("done", NOW), NOW).status == "expired"
    assert as_seen(export("running", None), NOW).status == "running"
    assert timedelta(hours=24) == FILE_TTL


def test_retries_back_off_to_five_minutes() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4, 7, 8, 20)] == [5, 10, 20, 40, 300, 300, 300]
