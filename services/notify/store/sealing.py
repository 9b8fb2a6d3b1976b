"""Secrets at rest (a provider's password, a webhook's signing secret): AES-256-GCM.

Layout: a version byte, a 12-byte nonce, then the sealed JSON. The tenant id and what the secret
belongs to (``channel:email``, ``webhook:<id>``) are bound in as associated data, so a sealed value
copied to another tenant or row does not open. The key comes from configuration
(``PATRON_NOTIFY_SECRET_KEY``), never from the code.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = 1
_NONCE = 12


class Sealer:
    """Seals and opens small JSON objects of secrets."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the sealing key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, tenant_id: uuid.UUID, owner: str, secrets: Mapping[str, str]) -> bytes:
        """The sealed form of ``secrets`` for ``owner`` in the tenant."""
        nonce = os.urandom(_NONCE)
        plain = json.dumps(dict(secrets), sort_keys=True).encode()
        return bytes([_VERSION]) + nonce + self._aead.encrypt(nonce, plain, tenant_id.bytes + owner.encode())

    def open(self, tenant_id: uuid.UUID, owner: str, sealed: bytes | None) -> dict[str, str]:
        """The secrets sealed for ``owner`` (empty when none were stored)."""
        if not sealed:
            return {}
        if sealed[0] != _VERSION:
            raise ValueError("unknown sealed-secret format")
        nonce, body = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
        opened: dict[str, str] = json.loads(self._aead.decrypt(nonce, body, tenant_id.bytes + owner.encode()))
        return opened
