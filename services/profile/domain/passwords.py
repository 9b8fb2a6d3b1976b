"""Operators' passwords: the policy a new one meets, and Argon2id hashing (``argon2-cffi``).

Hashing costs tens of milliseconds of CPU and, by default, 64 MiB of memory, so it runs in a worker
thread (the event loop keeps serving) behind a bound on concurrent hashes (a flood of sign-ins cannot
take the process's memory). A password is verified against a dummy hash when there is no account, so
that an unknown e-mail costs what a wrong password costs.
"""

from __future__ import annotations

import asyncio
import secrets
import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from services.runtime.errors import ViolationCollector

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256


@dataclass(frozen=True, slots=True)
class HashParameters:
    """Argon2id's costs; the defaults are RFC 9106's second recommended option (argon2-cffi's own)."""

    time_cost: int = 3
    memory_kib: int = 65_536
    parallelism: int = 4
    max_concurrent: int = 2


def normalise_password(password: str) -> str:
    """NFKC, as NIST SP 800-63B advises, so that one password typed on two keyboards is one password."""
    return unicodedata.normalize("NFKC", password)


def check_new_password(
    password: str, email: str, errors: ViolationCollector, field: str = "password"
) -> None:
    """A new password: 12 to 256 characters, and not the operator's e-mail (in any case)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        errors.add(field, f"must be at least {MIN_PASSWORD_LENGTH} characters")
    elif len(password) > MAX_PASSWORD_LENGTH:
        errors.add(field, f"must be at most {MAX_PASSWORD_LENGTH} characters")
    elif email and normalise_password(password).strip().casefold() == email.casefold():
        errors.add(field, "must not be the e-mail address")


class Passwords:
    """Argon2id hashes of passwords, made and checked off the event loop, a bounded number at once."""

    def __init__(self, parameters: HashParameters | None = None) -> None:
        parameters = parameters or HashParameters()
        self._hasher = PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_kib,
            parallelism=parameters.parallelism,
            type=Type.ID,
        )
        self._slots = asyncio.Semaphore(parameters.max_concurrent)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        """The encoded hash of a password (with its own random salt and the current parameters)."""
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, normalise_password(password))

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; with no stored hash, a dummy one is checked (always
        false), so that the answer takes as long as for a real account."""
        if stored is None:
            stored = await self._dummy_hash()
            await self._check(stored, password)
            return False
        return await self._check(stored, password)

    def needs_rehash(self, stored: str) -> bool:
        """Whether the hash was made with other parameters than today's (then it is made again at the
        next successful sign-in, the one moment the password is known)."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return True

    async def _check(self, stored: str, password: str) -> bool:
        async with self._slots:
            try:
                return await asyncio.to_thread(self._hasher.verify, stored, normalise_password(password))
            except (VerificationError, InvalidHashError):
                return False

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        return self._dummy
