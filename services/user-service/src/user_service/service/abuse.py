"""Throttles around the password-bearing use cases that the network reaches (the gRPC API).

Signups are counted per client address and in all, whatever their outcome, before any password
is hashed (``AbuseLimits.signup_*``); a wrong current password in a password change or an email
change counts against the user (``AbuseLimits.change_password_max_failures`` per
``ServiceConfig.throttle_window``, one budget for both: each form checks the same password, so a
stolen session must not get a fresh set of guesses from the other).
Login throttling lives with the login itself (:func:`user_service.service.auth.authenticate`).
The operator's CLI calls the use cases directly and is not throttled.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from alvin_python_lib.db import transaction
from alvin_python_lib.errors import DomainError, InvalidArgument, ResourceExhausted
from user_service.db.repository import throttle as throttle_repo
from user_service.service import auth, users, verification
from user_service.service.deps import Deps

__all__ = ["change_password", "count_signup", "request_email_change", "signup"]

GLOBAL_SIGNUP_KEY = "signup:all"

_T = TypeVar("_T")


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
    _current_password_checked(
        deps,
        user_id,
        lambda: auth.change_password(
            deps, user_id=user_id, current_password=current_password, new_password=new_password
        ),
    )


def request_email_change(
    deps: Deps, *, user_id: int, new_email: str, current_password: str
) -> None:
    """:func:`verification.request_email_change` behind the same throttle of wrong current
    passwords per user as :func:`change_password` (the password is what a stolen session lacks)."""
    _current_password_checked(
        deps,
        user_id,
        lambda: verification.request_email_change(
            deps, user_id=user_id, new_email=new_email, current_password=current_password
        ),
    )


def _current_password_checked(deps: Deps, user_id: int, use_case: Callable[[], _T]) -> _T:
    """Run ``use_case``, which checks the user's current password, with each attempt counted
    against ``password:<user_id>`` before the check (committed first, so concurrent guesses
    cannot pass the limit together). Only a wrong current password keeps its count; a success
    clears the counter."""
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
            what="wrong passwords",
        )
    try:
        result = use_case()
    except DomainError as error:
        wrong_password = isinstance(error, InvalidArgument) and any(
            v.field == "current_password" for v in error.violations
        )
        if not wrong_password:
            # a new password or address the rules refused, a busy hasher or another limit
            # proves nothing about the current password
            with transaction(deps.database.session) as session:
                throttle_repo.forgive(session, key, window_start)
        raise
    with transaction(deps.database.session) as session:
        throttle_repo.reset(session, key)
    return result
