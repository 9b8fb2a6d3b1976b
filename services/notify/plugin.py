"""What the notify service adds to the shared runtime (see ``services.runtime.plugins``): its settings
and the two keys ``patron up`` generates once under ``.patron/`` when the environment sets none."""

from __future__ import annotations

from services.notify.settings import NotifySettings, generate_key
from services.runtime.plugins import GeneratedSecrets, ServicePlugin

NOTIFY_KEYS = GeneratedSecrets(
    files={"PATRON_NOTIFY_SECRET_KEY": "notify_secret_key", "PATRON_NOTIFY_LINK_KEY": "notify_link_key"},
    generate=generate_key,
)

PLUGIN = ServicePlugin(settings=NotifySettings, secrets=(NOTIFY_KEYS,))
