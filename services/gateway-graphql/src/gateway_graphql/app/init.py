"""Process initialisation shared by every entry point (gunicorn workers, runserver, shell)."""

from __future__ import annotations

from alvin_python_lib.logging import configure_logging
from gateway_graphql.app.settings import Settings, get_settings


def init_app(process: str, settings: Settings | None = None) -> Settings:
    """Configure logging for ``process`` and return the settings."""
    settings = settings or get_settings()
    configure_logging(
        level=settings.log_level,
        fmt=settings.effective_log_format,
        service=f"{settings.service_name}.{process}",
    )
    return settings
