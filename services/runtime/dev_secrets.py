"""Secrets that are public because this repository prints them, refused by every production process.

The dev overlay (``infra/k8s/overlays/dev``) and the test suite configure fixed secrets: an admin
token, PII keys, notify's keys, a database password. They are fine on a laptop and in CI, and a
disaster anywhere else: whoever reads the repository could mint admin calls, unseal personal data or
sign unsubscribe links. ``patron up`` generates its secrets at random (under ``.patron/``) and no
tooling seeds a tenant or an API key, so those need no entry here.

A process with ``PATRON_ENV=production`` (the default) refuses to start when a setting holds one of
these values; development and test processes accept them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from services.runtime.settings import RuntimeSettings

KNOWN_DEVELOPMENT_SECRETS: frozenset[str] = frozenset(
    {
        # infra/k8s/overlays/dev/kustomization.yaml, secretGenerator
        "dev-only-admin-token-not-a-secret",  # patron-admin token
        "ZGV2LW9ubHktcGlpLWtleS1ub3QtYS1zZWNyZXQtMDA=",  # patron-profile-pii pii-key
        "ZGV2LW9ubHktaW5kZXgta2V5LW5vdC1zZWNyZXQtMDA=",  # patron-profile-pii pii-index-key
        "ZGV2LW9ubHktbm90aWZ5LXNlY3JldC1rZXktMDAwMDA=",  # patron-notify-keys secret-key
        "ZGV2LW9ubHktbm90aWZ5LWxpbmsta2V5LTAwMDAwMDA=",  # patron-notify-keys link-key
        "dev-only-password",  # patron-dev-postgres password, in every patron-*-db url
        # the test suite: tests/conftest.py ADMIN_TOKEN, tests/support.py TEST_PII_KEY and
        # TEST_PII_INDEX_KEY (b"k" * 32, b"i" * 32), notify keys of tests (b"s" * 32, b"l" * 32)
        "test-admin-token-0123456789abcdef",
        "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=",
        "aWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWk=",
        "c3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3M=",
        "bGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGw=",
    }
)


def _canonical(value: str) -> str:
    """One spelling per secret: a key written in url-safe or standard base64, padded or not, is the
    same key (the settings decode either), so it must not slip through re-encoded."""
    return value.strip().rstrip("=").replace("-", "+").replace("_", "/")


_CANONICAL = frozenset(_canonical(secret) for secret in KNOWN_DEVELOPMENT_SECRETS)


def is_known_development_secret(value: str) -> bool:
    """Whether ``value`` is one of :data:`KNOWN_DEVELOPMENT_SECRETS` (in any base64 spelling)."""
    return bool(value.strip()) and _canonical(value) in _CANONICAL


def refuse_development_secret(variable: str, value: str, runtime: RuntimeSettings) -> None:
    """Stop a production process configured with a known development value, naming the variable.

    Raises ValueError; development and test processes pass.
    """
    if runtime.allows_development_secrets or not is_known_development_secret(value):
        return
    raise ValueError(
        f"{variable} holds a known development value, printed in this repository; outside development "
        "set a secret of your own (or PATRON_ENV=development on a development machine)"
    )


def refuse_development_password(variable: str, url: str, runtime: RuntimeSettings) -> None:
    """As :func:`refuse_development_secret`, for the password inside a database URL."""
    try:
        password = urlsplit(url).password or ""
    except ValueError:  # a URL the settings accepted but urlsplit cannot read carries no password we know
        return
    refuse_development_secret(variable, password, runtime)
