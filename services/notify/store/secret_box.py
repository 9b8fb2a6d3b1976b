"""Secrets at rest: AES-256-GCM with the tenant and the kind of secret bound in as associated data.

Layout: one version byte, a 12-byte nonce, then the sealed bytes. A sealed value copied to another
tenant's row, or to a row of another kind, does not open. The key is ``NotifySettings.sealing_key``.
"""

from __future__ import annotations

import os
import uuid

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = 1
_NONCE_BYTES = 12


class SecretBox:
    """Seals and opens the secrets notify keeps (a webhook's signing secret)."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @staticmethod
    def _aad(tenant_id: uuid.UUID, kind: str) -> bytes:
        return tenant_id.bytes + kind.encode()

    def seal(self, tenant_id: uuid.UUID, kind: str, plaintext: str) -> bytes:
        """The sealed form of ``plaintext`` for that tenant and kind."""
        nonce = os.urandom(_NONCE_BYTES)
        return (
            bytes([_VERSION])
            + nonce
            + self._aead.encrypt(nonce, plaintext.encode(), self._aad(tenant_id, kind))
        )

    def open(self, tenant_id: uuid.UUID, kind: str, sealed: bytes) -> str:
        """The clear secret; raises (cryptography's InvalidTag, ValueError) when it was not sealed so."""
        if len(sealed) < 1 + _NONCE_BYTES or sealed[0] != _VERSION:
            raise ValueError("not a sealed notify secret")
        nonce = sealed[1 : 1 + _NONCE_BYTES]
        return self._aead.decrypt(nonce, sealed[1 + _NONCE_BYTES :], self._aad(tenant_id, kind)).decode()
