"""Factories for tests: real users made through the service layer."""

from __future__ import annotations

import itertools

from user_service.db.models import User
from user_service.service import users

DEFAULT_PASSWORD = "correct horse battery"  # noqa: S105 - a test password
_counter = itertools.count(1)


def make_user(
    *,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    display_name: str | None = None,
    invited_by_id: int | None = None,
) -> User:
    """Sign up a user (committed through the service, rolled back by the ``db`` fixture)."""
    n = next(_counter)
    return users.signup(
        email=email or f"user{n}@example.com",
        password=password,
        display_name=display_name or f"User {n}",
        invited_by_id=invited_by_id,
    )
