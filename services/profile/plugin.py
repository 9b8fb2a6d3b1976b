"""What the profile service adds to the shared runtime (see ``services.runtime.plugins``).

Its settings carry the keys of personal data; ``patron rotate-pii`` re-seals with a new key; and
``patron up`` generates the key pair once, under ``.patron/``, when the environment does not set it.
"""

from __future__ import annotations

from services.profile.command import ROTATE_PII
from services.profile.settings import ProfileSettings
from services.profile.store.pii import generate_key
from services.runtime.plugins import GeneratedSecrets, ServicePlugin

PII_KEYS = GeneratedSecrets(
    files={"PATRON_PROFILE_PII_KEY": "pii_key", "PATRON_PROFILE_PII_INDEX_KEY": "pii_index_key"},
    generate=generate_key,
)

PLUGIN = ServicePlugin(settings=ProfileSettings, commands=(ROTATE_PII,), secrets=(PII_KEYS,))
