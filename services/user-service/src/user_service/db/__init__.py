"""Persistence: the service's Database (configured by ``user_service.app``), models, repositories."""

from alvin_python_lib.db import Database

#: The service's database; ``user_service.app.init`` configures it from settings.
database = Database()

__all__ = ["database"]
