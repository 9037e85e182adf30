"""Throttles around the password-bearing use cases that the network reaches (the gRPC API).

Signups are counted per client address and in all, whatever their outcome, before any password
is hashed (``AbuseLimits.signup_*``); a wrong current password in a password change counts against
the user (``AbuseLimits.change_password_max_failures`` per ``ServiceConfig.throttle_window``).
Login throttling lives with the login itself (:func:`user_service.service.auth.authenticate`).
The operator's CLI calls the use cases directly and is not throttled.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from alvin_python_lib.db import transaction
from alvin_python_lib.errors import DomainError, InvalidArgument, ResourceExhausted
from user_service.db.repository import throttle as throttle_repo
from user_service.service import auth, users
from user_service.service.deps import Deps

__all__ = ["change_password", "count_signup", "signup"]

GLOBAL_SIGNUP_KEY = "signup:all"


def _refuse_over(
    failures: int,
    *,
    limit: int,
    window_start: datetime,
    window: timedelta,
    now: datetime,
    what: str,
) -> None:
    if failures > limit:
        retry_after = (window_start + window - now).total_seconds()
        raise ResourceExhausted(
            f"Too many {what}; try again later.", retry_after=max(1.0, retry_after)
        )


def count_signup(deps: Deps, *, client_ip: str = "") -> None:
    """Count a signup attempt per address and in all; ResourceExhausted over either limit.

    Committed before the signup (a refused attempt counts nothing: its transaction rolls back).
    """
    limits = deps.config.limits
    window = limits.signup_window
    now = deps.clock()
    keys = {GLOBAL_SIGNUP_KEY: limits.signup_max_global}
    if client_ip:
        keys[f"signup:ip:{client_ip[:64]}"] = limits.signup_max_per_ip
    with transaction(deps.database.session) as session:
        for key in sorted(keys):  # one lock order for every request
            failures, window_start = throttle_repo.count_failure(session, key, now, window)
            _refuse_over(
                failures,
                limit=keys[key],
                window_start=window_start,
                window=window,
                now=now,
                what="signups",
            )


def signup(deps: Deps, *, client_ip: str = "", **fields: Any) -> Any:
    """:func:`users.signup` behind the signup throttles (``fields``: its keyword arguments)."""
    count_signup(deps, client_ip=client_ip)
    return users.signup(deps, **fields)


def change_password(deps: Deps, *, user_id: int, current_password: str, new_password: str) -> None:
    """:func:`auth.change_password` behind a throttle of wrong current passwords per user."""
    config = deps.config
    key = f"password:{user_id}"
    now = deps.clock()
    with transaction(deps.database.session) as session:
        failures, window_start = throttle_repo.count_failure(
            session, key, now, config.throttle_window
        )
        _refuse_over(
            failures,
            limit=config.limits.change_password_max_failures,
            window_start=window_start,
            window=config.throttle_window,
            now=now,
            what="password changes",
        )
    try:
        auth.change_password(
            deps, user_id=user_id, current_password=current_password, new_password=new_password
        )
    except DomainError as error:
        wrong_password = isinstance(error, InvalidArgument) and any(
            v.field == "current_password" for v in error.violations
        )
        if not wrong_password:
            # a new password the policy refused, or a busy hasher, proves nothing about the
            # current one
            with transaction(deps.database.session) as session:
                throttle_repo.forgive(session, key, window_start)
        raise
    with transaction(deps.database.session) as session:
        throttle_repo.reset(session, key)
