"""The profile service's ``patron`` commands: ``patron rotate-pii``."""

from __future__ import annotations

import argparse
import asyncio

from services.profile.settings import ProfileSettings
from services.runtime.plugins import Command
from services.runtime.settings import RuntimeSettings


def rotate_pii(options: argparse.Namespace) -> int:
    """Re-seal every stored personal datum with the current key, the second step of a key rotation."""
    from services.profile.store.rekey import rotate
    from services.runtime.database import Database

    settings = ProfileSettings()
    cipher = settings.pii_cipher(RuntimeSettings())

    async def run() -> dict[str, int]:
        database = Database.from_settings(settings, "profile")
        try:
            return await rotate(database, cipher)
        finally:
            await database.dispose()

    for column, count in asyncio.run(run()).items():
        print(f"patron rotate-pii: re-sealed {count} values of {column} with key {cipher.key_id}")
    return 0


ROTATE_PII = Command(
    name="rotate-pii",
    help="re-seal the profile's personal data with PATRON_PROFILE_PII_KEY (keep the retired keys set)",
    run=rotate_pii,
)
