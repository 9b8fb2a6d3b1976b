"""Identity normalisation and masking (domain rules, no I/O)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.profile.domain.identities import (
    IdentityInput,
    mask,
    normalize_email,
    normalize_identities,
    normalize_phone,
)
from services.runtime.errors import InvalidArgument


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("13800138000", "CN", "+8613800138000"),
        ("+86 138 0013 8000", "CN", "+8613800138000"),
        ("138-0013-8000", "CN", "+8613800138000"),
        ("+1 650 253 0000", "CN", "+16502530000"),
        ("(650) 253-0000", "US", "+16502530000"),
    ],
)
def test_phone_numbers_normalise_to_e164(raw: str, region: str, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


def test_email_is_lower_cased() -> None:
    assert normalize_email("Alice.Smith@Example.COM") == "alice.smith@example.com"


def test_every_fault_is_named_by_its_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        normalize_identities(
            [
                IdentityInput("phone", "12"),
                IdentityInput("fax", "1"),
                IdentityInput("email", "not-an-address"),
                IdentityInput("app_user_id", "   "),
            ],
            "CN",
        )
    fields = [v.field for v in caught.value.violations]
    assert fields == [
        "identities[0].value",
        "identities[1].type",
        "identities[2].value",
        "identities[3].value",
    ]


def test_no_identity_is_an_error() -> None:
    with pytest.raises(InvalidArgument) as caught:
        normalize_identities([], "CN")
    assert caught.value.violations[0].field == "identities"


def test_the_same_person_written_twice_counts_once() -> None:
    result = normalize_identities(
        [IdentityInput("phone", "13800138000"), IdentityInput("phone", "+86 138 0013 8000")], "CN"
    )
    assert len(result) == 1


def test_masks_hide_the_middle() -> None:
    assert mask("phone", "+8613800138000") == "+86 138****8000"
    assert mask("email", "alice@example.com") == "a***@example.com"
    assert mask("wechat_openid", "oABCDEFG12345") == "oA***45"


cn_mobiles = st.integers(min_value=0, max_value=99_999_999).map(lambda n: f"139{n:08d}")


@given(cn_mobiles)
def test_normalising_is_idempotent_and_masking_never_reveals_the_number(number: str) -> None:
    once = normalize_phone(number, "CN")
    assert normalize_phone(once, "CN") == once
    masked = mask("phone", once)
    assert number not in masked.replace(" ", "")
    assert masked.endswith(number[-4:])


@given(st.text(min_size=1, max_size=64).filter(lambda s: s.strip()))
def test_free_form_identities_are_kept_as_given_but_stripped(value: str) -> None:
    result = normalize_identities([IdentityInput("external_id", value)], "CN")
    assert result[0].value == value.strip()
