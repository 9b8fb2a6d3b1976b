"""What the scoring service adds to the shared runtime (see ``services.runtime.plugins``): its settings."""

from __future__ import annotations

from services.runtime.plugins import ServicePlugin
from services.scoring.settings import ScoringSettings

PLUGIN = ServicePlugin(settings=ScoringSettings)
