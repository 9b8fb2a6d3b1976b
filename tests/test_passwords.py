"""The password rules of the profile service's domain: the policy, Argon2id hashes remade when the
parameters change, NFKC, and an unknown account costing a hash check like a known one."""

from __future__ import annotations

import time

from services.profile.domain.passwords import HashParameters, Passwords, check_new_password
from services.runtime.errors import ViolationCollector

# Cheap but real: enough work that a skipped hash would show in the timings.
PARAMETERS = HashParameters(time_cost=2, memory_kib=16_384, parallelism=1)


def faults(password: str, email: str = "ops@shop.example") -> list[str]:
    errors = ViolationCollector()
    check_new_password(password, email, errors)
    return [violation.message for violation in errors.violations]


def test_the_policy_bounds_length_and_refuses_the_email() -> None:
    assert faults("a" * 12) == []
    assert faults("a" * 256) == []
    assert faults("a" * 11) == ["must be at least 12 characters"]
    assert faults("a" * 257) == ["must be at most 256 characters"]
    assert faults("OPS@Shop.Example") == ["must not be the e-mail address"]
    assert faults(" ops@shop.example ") == ["must not be the e-mail address"]


async def test_hashes_verify_and_are_remade_for_other_parameters() -> None:
    passwords = Passwords(PARAMETERS)
    stored = await passwords.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=16384,t=2,p=1$")
    assert await passwords.verify(stored, "correct horse battery staple")
    assert not await passwords.verify(stored, "correct horse battery stapler")
    assert not await passwords.verify("not a hash", "correct horse battery staple")
    assert not passwords.needs_rehash(stored)
    assert Passwords(HashParameters(time_cost=3, memory_kib=16_384, parallelism=1)).needs_rehash(stored)
    assert passwords.needs_rehash("not a hash")


async def test_passwords_are_compared_after_nfkc() -> None:
    passwords = Passwords(PARAMETERS)
    full_width = "".join(chr(ord(c) + 0xFEE0) if c != " " else c for c in "correct horse 123")
    stored = await passwords.hash(full_width)
    assert await passwords.verify(stored, "correct horse 123")


async def test_no_account_costs_a_hash_check_too() -> None:
    passwords = Passwords(PARAMETERS)
    stored = await passwords.hash("correct horse battery staple")
    assert not await passwords.verify(None, "warm up the dummy hash")

    async def fastest(hash_: str | None) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            assert not await passwords.verify(hash_, "a wrong password")
            times.append(time.perf_counter() - started)
        return min(times)

    known, unknown = await fastest(stored), await fastest(None)
    assert unknown > known / 2, (known, unknown)
