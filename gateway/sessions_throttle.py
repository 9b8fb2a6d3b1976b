"""Sign-in throttling: token buckets of failed sign-ins per account and per client address.

Only failures take a token (a 401 of ``POST /v1/session``); a sign-in is refused with 429 (and
``Retry-After``) while either bucket is empty, whatever it sends, the right password included, so
that the answer never tells a right guess from a throttled one. The buckets are the rate limits'
(gateway.rate_limits: in the process, or in Redis across replicas); the account is the SHA-256 of the
tenant and the normalised e-mail, so no e-mail is kept in them. These limits stay on when the other
rate limits are turned off: they protect accounts, not capacity.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass

from starlette.exceptions import HTTPException

from gateway.rate_limits import RATE_LIMITED, BucketStore, Charge, Denial
from gateway.settings import GatewaySettings

LOGIN_ACCOUNT = "login_account"
LOGIN_ADDRESS = "login_address"
_DETAILS = {
    LOGIN_ACCOUNT: "too many failed sign-ins to this account",
    LOGIN_ADDRESS: "too many failed sign-ins from this address",
}


class SignInThrottled(HTTPException):
    """429 naming the bucket, with ``Retry-After`` in whole seconds."""

    def __init__(self, denial: Denial) -> None:
        seconds = denial.retry_after
        super().__init__(
            429,
            f"{_DETAILS[denial.bucket]}; retry after {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
        self.extensions = {"reason": RATE_LIMITED, "bucket": denial.bucket}


def account_key(tenant_id: str, email: str) -> str:
    """The account's bucket owner: SHA-256 of the tenant and the e-mail as the profile service keeps
    it (NFC, lower case), so that ``A@x`` and ``a@x`` share one bucket."""
    normalised = unicodedata.normalize("NFC", email).lower()
    return hashlib.sha256(f"{tenant_id}\n{normalised}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SignInThrottle:
    store: BucketStore
    settings: GatewaySettings

    def _charges(self, address: str, account: str, *, need: float, cost: float) -> list[Charge]:
        return [
            Charge(
                bucket,
                f"{bucket}:{owner}",
                getattr(self.settings, f"rate_{bucket}_per_second"),
                getattr(self.settings, f"rate_{bucket}_burst"),
                need,
                cost,
            )
            for bucket, owner in ((LOGIN_ADDRESS, address), (LOGIN_ACCOUNT, account))
        ]

    async def reserve(self, address: str, account: str) -> None:
        """Take an attempt from the address's and the account's buckets, or raise
        :class:`SignInThrottled` when either has none left. Taken before the password is checked, so
        that sign-ins sent at once cannot all pass a full bucket before the first failure counts."""
        denial = await self.store.take(self._charges(address, account, need=1.0, cost=1.0))
        if denial is not None:
            raise SignInThrottled(denial)

    async def give_back(self, address: str, account: str) -> None:
        """Return a reserved attempt that did not fail on the password (signed in, or the service
        could not answer): only wrong passwords use the buckets up."""
        await self.store.take(self._charges(address, account, need=0.0, cost=-1.0))
