"""What the business rules are handed: built once by ``user_service.app.bootstrap``.

Every use case takes a :class:`Deps` as its first argument, so a test (or another process) hands
in its own database, mailer, id generator or clock instead of patching module state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from alvin_python_lib.db import Database, utcnow
from alvin_python_lib.ids import IdGenerator
from user_service.remote.email import Mailer
from user_service.service.config import ServiceConfig


@dataclass(frozen=True)
class Deps:
    """The objects the use cases work with.

    ``database`` gives the unit of work's session (``database.session``); ``ids`` makes the id of
    each row the use cases insert; ``clock`` is the current time, timezone-aware UTC (session
    expiry and login throttling read it).
    """

    database: Database
    config: ServiceConfig
    mailer: Mailer
    ids: IdGenerator
    clock: Callable[[], datetime] = utcnow
