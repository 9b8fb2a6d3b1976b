"""Personal data at rest: AES-256-GCM encryption and a keyed-hash blind index.

Ciphertext layout: one version byte, the key id byte, a 12-byte nonce, then the sealed bytes. The
tenant id and the kind of datum are bound in as associated data, so a ciphertext copied to another
tenant or column does not decrypt. The blind index (HMAC-SHA256 of tenant, kind and normalised value)
is how a phone number is found without ever being stored in clear.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import uuid

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_FORMAT_VERSION = 1
_NONCE_BYTES = 12
# Development-only material: refused by `load_pii_keys` outside development and test.
_DEVELOPMENT_SEED = b"patron-development-only-pii-seed"


class PiiCipher:
    """Encrypts and indexes personal data with keys from configuration.

    Rotation without downtime: the current key seals, retired keys (by id) still open what they
    sealed until ``patron rotate-pii`` has re-sealed every row with the current key.
    """

    def __init__(
        self,
        encryption_key: bytes,
        index_key: bytes,
        key_id: int = 1,
        retired: dict[int, bytes] | None = None,
    ) -> None:
        if len(encryption_key) != 32 or len(index_key) != 32:
            raise ValueError("PII keys must be 32 bytes each")
        if encryption_key == index_key:
            raise ValueError("the encryption key and the index key must differ")
        if not 1 <= key_id <= 255 or key_id in (retired or {}):
            raise ValueError("the key id must be 1..255 and differ from every retired key's id")
        self._aead = AESGCM(encryption_key)
        self._openers = {key_id: self._aead, **{i: AESGCM(k) for i, k in (retired or {}).items()}}
        self._index_key = index_key
        self._key_id = key_id

    @property
    def key_id(self) -> int:
        """The id of the key that seals new data (byte 1 of every ciphertext)."""
        return self._key_id

    @staticmethod
    def _aad(tenant_id: uuid.UUID, kind: str) -> bytes:
        return tenant_id.bytes + kind.encode()

    def blind_index(self, tenant_id: uuid.UUID, kind: str, value: str) -> bytes:
        """Deterministic keyed hash used to look a value up (32 bytes)."""
        message = tenant_id.bytes + b"\x00" + kind.encode() + b"\x00" + value.encode()
        return hmac.new(self._index_key, message, hashlib.sha256).digest()

    def encrypt(self, tenant_id: uuid.UUID, kind: str, plaintext: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), self._aad(tenant_id, kind))
        return bytes([_FORMAT_VERSION, self._key_id]) + nonce + sealed

    def decrypt(self, tenant_id: uuid.UUID, kind: str, ciphertext: bytes) -> str:
        if len(ciphertext) < 2 + _NONCE_BYTES or ciphertext[0] != _FORMAT_VERSION:
            raise ValueError("not a Patron PII ciphertext")
        opener = self._openers.get(ciphertext[1])
        if opener is None:
            raise ValueError(f"ciphertext was sealed with key id {ciphertext[1]}, which is not configured")
        nonce = ciphertext[2 : 2 + _NONCE_BYTES]
        opened = opener.decrypt(nonce, ciphertext[2 + _NONCE_BYTES :], self._aad(tenant_id, kind))
        return opened.decode()


def _decode_key(name: str, value: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"{name} is not base64") from None
    if len(raw) != 32:
        raise ValueError(f"{name} must decode to 32 bytes, got {len(raw)}")
    return raw


def parse_retired_keys(value: str) -> dict[int, bytes]:
    """``"1:<base64>,2:<base64>"`` → {1: key, 2: key} (PATRON_PROFILE_PII_RETIRED_KEYS)."""
    keys: dict[int, bytes] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        key_id, _, key = item.partition(":")
        if not key_id.isdigit() or not 1 <= int(key_id) <= 255:
            raise ValueError("PATRON_PROFILE_PII_RETIRED_KEYS: each entry is <id 1..255>:<base64 key>")
        keys[int(key_id)] = _decode_key("PATRON_PROFILE_PII_RETIRED_KEYS", key)
    return keys


def load_pii_keys(
    encryption_key: str,
    index_key: str,
    *,
    allow_development: bool,
    key_id: int = 1,
    retired_keys: str = "",
) -> PiiCipher:
    """Build the cipher from configured keys; without keys, development gets a fixed throwaway pair."""
    if encryption_key and index_key:
        return PiiCipher(
            _decode_key("PATRON_PROFILE_PII_KEY", encryption_key),
            _decode_key("PATRON_PROFILE_PII_INDEX_KEY", index_key),
            key_id=key_id,
            retired=parse_retired_keys(retired_keys),
        )
    if encryption_key or index_key:
        raise ValueError("set both PATRON_PROFILE_PII_KEY and PATRON_PROFILE_PII_INDEX_KEY, or neither")
    if not allow_development:
        raise ValueError(
            "PATRON_PROFILE_PII_KEY and PATRON_PROFILE_PII_INDEX_KEY are required outside development"
        )
    return PiiCipher(
        hashlib.sha256(_DEVELOPMENT_SEED + b"/encryption").digest(),
        hashlib.sha256(_DEVELOPMENT_SEED + b"/index").digest(),
    )


def generate_key() -> str:
    """A fresh key in the form the settings expect (urlsafe base64 of 32 random bytes)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
