"""Personal data is sealed at rest and bound to its tenant and kind."""

import asyncio
import os
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from cryptography.exceptions import InvalidTag

from services.profile.store.pii import PiiCipher, load_pii_keys
from tests.conftest import TenantKey
from tests.support import PostgresServer, run_command


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


async def pg_dump(url: str, directory: Path) -> Path:
    """A plain-SQL dump of a whole database in a file, made with the pg_dump that ships with pgserver.

    The session's database holds every earlier test's data by now (hundreds of megabytes of dump):
    dumping and searching it run as programs, so the services on the test loop keep serving."""
    from pgserver._commands import POSTGRES_BIN_PATH

    path = directory / f"dump-{uuid.uuid4().hex}.sql"
    result = await run_command(
        str(POSTGRES_BIN_PATH / "pg_dump"),
        "--no-owner",
        f"--dbname={url}",
        f"--file={path}",
        limit_seconds=120,
    )
    assert result.returncode == 0, result.stderr
    return path


async def holds(dump: Path, text: str) -> bool:
    """Whether the dump holds ``text`` (``grep -F``: found 0, not found 1, trouble 2)."""
    result = await run_command("grep", "-F", "-q", "--", text, str(dump))
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0


async def assert_absent(dump: Path, *secrets: str) -> None:
    for secret in secrets:
        assert not await holds(dump, secret), f"{secret!r} is in the dump in clear"
        assert not await holds(dump, secret.encode().hex()), f"{secret!r} is in the dump as bytea hex"


async def test_no_phone_or_email_in_a_database_dump_before_or_after_erasure(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str], tmp_path: Path
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
    secrets = ("13912345678", "secret.person@example.org", "Secret.Person", "Secret Nick")
    before = await pg_dump(database_urls["profile"], tmp_path)
    assert await holds(before, "customers")
    await assert_absent(before, *secrets)
    customer = response.json()["customer_id"]
    assert (await api.delete(f"/v1/customers/{customer}", headers=tenant.headers)).status_code == 200
    await assert_absent(await pg_dump(database_urls["profile"], tmp_path), *secrets)


async def test_keys_rotate_without_downtime(postgres: PostgresServer) -> None:
    """Seal with key 1; serve with key 2 current and key 1 retired; re-seal; then key 1 can go."""
    from patron.events.v1 import envelope_pb2  # noqa: F401 - the outbox needs the payloads loaded
    from services.profile.domain.customers import CustomerAttributes
    from services.profile.domain.identities import NormalizedIdentity
    from services.profile.store.customers import SqlCustomerStore
    from services.profile.store.rekey import rotate
    from services.profile.store.tables import outbox as outbox_table
    from services.runtime import migrations
    from services.runtime.database import Database, create_engine
    from services.runtime.events.outbox import Outbox

    name = f"patron_rekey_{uuid.uuid4().hex[:6]}"
    url = await postgres.create_database(name)
    database = Database(create_engine(url, application_name="rekey-test"))
    try:
        await asyncio.to_thread(migrations.upgrade, "profile", url)
        key_1, key_2, index = os.urandom(32), os.urandom(32), os.urandom(32)
        tenant = uuid.uuid4()
        connection = await asyncpg.connect(url)
        await connection.execute(
            "INSERT INTO tenants (tenant_id, name, timezone, currency, default_region) "
            "VALUES ($1, 'r', 'Asia/Shanghai', 'CNY', 'CN')",
            tenant,
        )
        outbox = Outbox("profile", outbox_table, 16)
        old = SqlCustomerStore(database, PiiCipher(key_1, index, key_id=1), outbox)
        phone = NormalizedIdentity("phone", "+8613811112222", "+86 138****2222")
        result = await old.identify(tenant, [phone], CustomerAttributes(nickname="Rotating"))

        rotated = PiiCipher(key_2, index, key_id=2, retired={1: key_1})
        during = SqlCustomerStore(database, rotated, outbox)
        customer = await during.get(tenant, result.customer_id)
        assert customer is not None
        assert customer.attributes.nickname == "Rotating"
        assert await rotate(database, rotated) == {"identities.value_enc": 1, "customers.nickname_enc": 1}
        assert await connection.fetchval("SELECT get_byte(value_enc, 1) FROM identities") == 2

        after = SqlCustomerStore(database, PiiCipher(key_2, index, key_id=2), outbox)
        again = await after.identify(tenant, [phone], CustomerAttributes())
        assert again.customer_id == result.customer_id  # the blind index did not change
        customer = await after.get(tenant, result.customer_id)
        assert customer is not None
        assert customer.attributes.nickname == "Rotating"
        await connection.close()
    finally:
        await database.dispose()
        await postgres.drop_database(name)
