"""Personal data is sealed at rest and bound to its tenant and kind."""

import os
import uuid

import asyncpg
import httpx
import pytest
from cryptography.exceptions import InvalidTag

from services.profile.store.pii import PiiCipher, load_pii_keys
from tests.conftest import TenantKey


def test_round_trip_and_binding() -> None:
    cipher = PiiCipher(os.urandom(32), os.urandom(32))
    tenant, other = uuid.uuid4(), uuid.uuid4()
    sealed = cipher.encrypt(tenant, "phone", "+8613800138000")
    assert cipher.decrypt(tenant, "phone", sealed) == "+8613800138000"
    assert cipher.encrypt(tenant, "phone", "+8613800138000") != sealed  # random nonce
    with pytest.raises(InvalidTag):
        cipher.decrypt(other, "phone", sealed)
    with pytest.raises(InvalidTag):
        cipher.decrypt(tenant, "email", sealed)
    assert cipher.blind_index(tenant, "phone", "x") == cipher.blind_index(tenant, "phone", "x")
    assert cipher.blind_index(tenant, "phone", "x") != cipher.blind_index(other, "phone", "x")


def test_development_keys_are_refused_in_production() -> None:
    with pytest.raises(ValueError, match="required outside development"):
        load_pii_keys("", "", allow_development=False)
    with pytest.raises(ValueError, match="both"):
        load_pii_keys("abc", "", allow_development=True)
    with pytest.raises(ValueError, match="32 bytes"):
        load_pii_keys("c2hvcnQ", "c2hvcnQ", allow_development=False)
    assert load_pii_keys("", "", allow_development=True) is not None


async def test_no_phone_or_email_in_clear_in_the_database(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    response = await api.post(
        "/v1/customers/identify",
        json={
            "identities": [
                {"type": "phone", "value": "13912345678"},
                {"type": "email", "value": "Secret.Person@example.org"},
            ],
            "attributes": {"nickname": "Secret Nick"},
        },
        headers=tenant.headers,
    )
    assert response.status_code == 200
    connection = await asyncpg.connect(database_urls["profile"])
    try:
        dump = ""
        for table in ("customers", "identities"):
            rows = await connection.fetch(f"SELECT t::text AS row FROM {table} t")  # noqa: S608
            dump += "\n".join(r["row"] for r in rows)
    finally:
        await connection.close()
    for secret in ("13912345678", "secret.person", "Secret.Person", "Secret Nick"):
        assert secret not in dump
        assert secret.encode().hex() not in dump
