"""Which currencies Patron handles, one rule for every service and the gateway.

A tenant's currency and an order's currency must be **tender**: an ISO 4217 code of money a shop
is paid in. Refused are the codes ISO 4217 lists for something else: precious metals (XAU, XAG,
XPT, XPD), bond-market and accounting units (XBA-XBD, XDR, XSU, XUA, XAD), the testing code XTS,
"no currency" XXX, and the *fund* codes that index or settle a currency rather than pay in it
(BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW).

Money in another currency than the tenant's is never converted (Patron holds no exchange rates):
it earns no points and adds nothing to spend-based figures; see docs/currencies.md.
"""

from __future__ import annotations

import pycountry

NOT_TENDER = frozenset(
    {
        # metals
        "XAG",
        "XAU",
        "XPD",
        "XPT",
        # bond-market, accounting and settlement units
        "XBA",
        "XBB",
        "XBC",
        "XBD",
        "XDR",
        "XSU",
        "XUA",
        "XAD",
        # testing and "no currency"
        "XTS",
        "XXX",
        # funds codes
        "BOV",
        "CHE",
        "CHW",
        "CLF",
        "COU",
        "MXV",
        "USN",
        "UYI",
        "UYW",
    }
)


def is_tender(code: str) -> bool:
    """Whether ``code`` (any case) is an ISO 4217 currency a shop can be paid in."""
    upper = code.upper()
    return len(upper) == 3 and upper not in NOT_TENDER and pycountry.currencies.get(alpha_3=upper) is not None


def counts_as_money(order_currency: str, tenant_currency: str) -> bool:
    """Whether an order's amount counts as the tenant's money (points, spend, tiers): only in the
    tenant's own currency. An order that names no currency is in the tenant's."""
    return not order_currency or order_currency.strip().upper() == tenant_currency.strip().upper()
