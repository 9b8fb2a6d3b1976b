"""The security headers of every dashboard answer: a strict Content-Security-Policy and friends.

The policy allows scripts, styles, fonts and API calls from the gateway's own origin only; no inline
script, no inline style, no ``eval``, no frames. Images may also be ``data:`` URLs because plotly.js
draws a heat map on a canvas and shows it as an ``<image>`` with a ``data:`` URL. Nothing else is
loosened: plotly's own inline styles are avoided instead (docs/dashboard.md "Content-Security-Policy").
"""

from __future__ import annotations

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # The dashboard's addresses carry customer ids (#/customers/<id>): tell no other site where we were.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}

REVALIDATE = "no-cache"
"""The page and its modules: kept by the browser but checked (ETag) before each use, so that a new
release is picked up at once without a build step to fingerprint file names."""

IMMUTABLE = "public, max-age=31536000, immutable"
"""plotly.js, whose URL carries a digest of its content: a new version is a new URL."""
