"""Message templates (``services/notify/domain/templates.py``): checked at save time, rendered only
with the personal data a customer has, and sized as an SMS travels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain.templates import (
    MAX_BODY,
    CheckedTemplate,
    MissingPersonalData,
    Rendered,
    check_template,
    render,
    sms_size,
)
from services.runtime.errors import InvalidArgument


def faults(channel: str, subject: str | None, body: str) -> dict[str, list[str]]:
    with pytest.raises(InvalidArgument) as caught:
        check_template(channel, subject, body)
    found: dict[str, list[str]] = {}
    for violation in caught.value.violations:
        found.setdefault(violation.field, []).append(violation.message)
    return found


def test_a_template_names_the_personal_fields_and_data_keys_it_uses() -> None:
    checked = check_template(
        "email",
        "{{ customer.nickname }}, your {{ loyalty.tier }} gift",
        "Points: {{ loyalty.points }}. Code {{ coupon.code }}. {% for item in data.items %}{{ item.name }}"
        "{% endfor %}{% assign n = data.count | plus: 1 %}{{ n }}",
    )
    assert checked.personal_fields == {"customer.nickname", "loyalty.tier", "loyalty.points", "coupon.code"}
    assert checked.data_keys == {"items", "count"}


def test_unknown_variables_bad_syntax_and_forbidden_tags_are_faults_at_save_time() -> None:
    assert (
        "unknown variable 'custmer.nickname'" in faults("sms", None, "Hi {{ custmer.nickname }}")["body"][0]
    )
    assert "unknown variable 'customer.phone'" in faults("sms", None, "{{ customer.phone }}")["body"][0]
    assert "not a valid template" in faults("sms", None, "Hi {{ customer.nickname ")["body"][0]
    assert "'include' is not allowed" in faults("email", None, "{% include 'secrets' %}")["body"][0]
    both = faults("email", "{{ nope }}", "{{ data }}")
    assert set(both) == {"subject", "body"}
    assert faults("sms", None, "   ") == {"body": ["must not be empty"]}
    assert "at most 1000" in faults("sms", None, "x" * (MAX_BODY["sms"] + 1))["body"][0]
    assert faults("fax", None, "hi") == {"channel": ["must be one of email, push, sms, wechat"]}


def test_missing_personal_data_is_reported_instead_of_rendering_a_gap() -> None:
    checked = check_template("sms", None, "Dear {{ customer.nickname }}, {{ data.sku }} is back")
    assert render(checked, {"customer.nickname": None}, {"sku": "TEA-1"}) == MissingPersonalData(
        ("customer.nickname",)
    )
    assert render(checked, {"customer.nickname": "  "}, {}) == MissingPersonalData(
        ("customer.nickname", "data.sku")
    )
    assert render(checked, {"customer.nickname": "小王"}, {"sku": "TEA-1"}) == Rendered(
        None, "Dear 小王, TEA-1 is back"
    )


def test_a_value_is_text_never_template_or_code() -> None:
    checked = check_template("email", "{{ data.title }}", "{{ customer.nickname }}")
    hostile = "{{ 7 | times: 6 }}{% raw %}"
    assert render(checked, {"customer.nickname": hostile}, {"title": "${jndi:x}"}) == Rendered(
        "${jndi:x}", hostile
    )


def test_sms_sizes_follow_gsm7_and_ucs2() -> None:
    assert (sms_size("a" * 160).encoding, sms_size("a" * 160).segments) == ("gsm7", 1)
    assert sms_size("a" * 161).segments == 2
    assert sms_size("€" * 80).units == 160  # an extension character takes two septets
    assert (sms_size("你好" * 35).encoding, sms_size("你好" * 35).segments) == ("ucs2", 1)
    assert sms_size("你" * 71).segments == 2
    assert sms_size("你" * 134).segments == 2
    assert sms_size("你" * 135).segments == 3
    assert sms_size("😀").units == 2  # outside the BMP: a surrogate pair


@given(st.text(max_size=400))
def test_segments_hold_the_text(text: str) -> None:
    size = sms_size(text)
    single, part = (160, 153) if size.encoding == "gsm7" else (70, 67)
    assert size.segments >= 1
    assert size.units <= (single if size.segments == 1 else part * size.segments)


def test_checked_templates_are_plain_data() -> None:
    checked = check_template("push", "Hi", "Body {{ data.x }}")
    assert isinstance(checked, CheckedTemplate)
    assert checked.personal_fields == frozenset()
