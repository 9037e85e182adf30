"""Test choices shared by the fixtures (``conftest.py``) and the tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from alvin_python_lib.db import utcnow
from user_service.db.models import User
from user_service.service.config import ServiceConfig, make_hasher

DEFAULT_PASSWORD = "correct horse battery"  # pragma: allowlist secret (a test password)

TEST_CONFIG = ServiceConfig(
    hasher=make_hasher(time_cost=1, memory_cost_kib=8, parallelism=1),  # cheap hashing in tests
    session_ttl=timedelta(hours=1),
    throttle_window=timedelta(minutes=15),
    throttle_max_failures_per_email=3,
    throttle_max_failures_per_ip=5,
    email_from="Tests <tests@example.com>",
)


class FixedClock:
    """The current time as the service sees it: fixed at creation, moved by :meth:`advance`."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward (or back, with a negative ``delta``)."""
        self.now += delta


#: The ``make_user`` fixture: signs up a user through the service (keyword arguments optional).
MakeUser = Callable[..., User]
