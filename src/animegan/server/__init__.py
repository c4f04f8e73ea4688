"""The web service: ``create_app(settings)`` (FastAPI) and :class:`ServerSettings`; run it with ``animegan serve``."""

from ..extras import require

require("fastapi", extra="server", feature="the animegan web service")

from .app import create_app
from .settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
