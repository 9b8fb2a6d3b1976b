"""Identities: the ways a person arrives (phone, e-mail, WeChat ids, ...), normalised and masked.

Normalising first is what makes "+86 138 0013 8000" and "13800138000" the same person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from services.runtime.errors import ViolationCollector

IDENTITY_TYPES: tuple[str, ...] = (
    "phone",
    "email",
    "wechat_openid",
    "wechat_unionid",
    "app_user_id",
    "platform_nick",
    "external_id",
)
MAX_IDENTITIES_PER_CALL = 20
MAX_IDENTITY_LENGTH = 256


@dataclass(frozen=True, slots=True)
class IdentityInput:
    """An identity as a caller wrote it. ``verified``: the caller proved that the person controls it
    (a code sent to the phone, a link opened from the mailbox); only such an identity, or one of a
    type the tenant trusts, may merge two existing customers (``identity_resolution``)."""

    type: str
    value: str
    verified: bool = False


@dataclass(frozen=True, slots=True)
class NormalizedIdentity:
    """An identity in its canonical form, with the masked form shown in listings.

    ``verified`` is part of equality: ``{phone, verified}`` and ``{phone, unverified}`` are different
    claims, and a batch resolving both must not fold one into the other.
    """

    type: str
    value: str
    masked: str
    verified: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """Which identity this is, however well it was proved."""
        return self.type, self.value


def normalize_phone(value: str, default_region: str) -> str:
    """E.164 form of a phone number; numbers without "+" are read in the tenant's region."""
    parsed = phonenumbers.parse(value, default_region)
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str) -> str:
    """Lower-cased, syntax-checked e-mail address (deliverability is not probed)."""
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(str(error)) from None
    return result.normalized.lower()


def mask(identity_type: str, value: str) -> str:
    """The form shown to operators: enough to recognise, not enough to contact."""
    if identity_type == "phone":
        parsed = phonenumbers.parse(value, None)
        national = str(parsed.national_number)
        if len(national) >= 8:
            national = national[:3] + "*" * (len(national) - 7) + national[-4:]
        else:
            national = national[:1] + "*" * (len(national) - 1)
        return f"+{parsed.country_code} {national}"
    if identity_type == "email":
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if len(value) > 6:
        return f"{value[:2]}***{value[-2:]}"
    return f"{value[:1]}***"


def normalize_identities(items: Sequence[IdentityInput], default_region: str) -> list[NormalizedIdentity]:
    """Validate and normalise a call's identities; duplicates after normalising are kept once
    (verified when any of them says so).

    Raises InvalidArgument naming ``identities[i].type`` or ``identities[i].value`` for every fault.
    """
    errors = ViolationCollector()
    if not items:
        errors.add("identities", "at least one identity is required")
    if len(items) > MAX_IDENTITIES_PER_CALL:
        errors.add("identities", f"at most {MAX_IDENTITIES_PER_CALL} identities per call")
    errors.raise_if_any()
    result: dict[tuple[str, str], NormalizedIdentity] = {}
    for index, item in enumerate(items):
        field = f"identities[{index}]"
        if item.type not in IDENTITY_TYPES:
            errors.add(f"{field}.type", f"must be one of {', '.join(IDENTITY_TYPES)}")
            continue
        raw = item.value.strip()
        if not raw:
            errors.add(f"{field}.value", "must not be empty")
            continue
        if len(raw) > MAX_IDENTITY_LENGTH:
            errors.add(f"{field}.value", f"must be at most {MAX_IDENTITY_LENGTH} characters")
            continue
        try:
            if item.type == "phone":
                value = normalize_phone(raw, default_region)
            elif item.type == "email":
                value = normalize_email(raw)
            else:
                value = raw
        except (ValueError, phonenumbers.NumberParseException) as error:
            errors.add(f"{field}.value", f"{item.type}: {error}")
            continue
        earlier = result.get((item.type, value))
        verified = item.verified or (earlier is not None and earlier.verified)
        result[(item.type, value)] = NormalizedIdentity(item.type, value, mask(item.type, value), verified)
    errors.raise_if_any()
    return list(result.values())
