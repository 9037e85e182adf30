"""Password reset: ask for a link by email, then set a new password with its token.

:func:`request_password_reset` answers the same way after the same work whether or not the
address has an account: one user lookup, the throttle counters, one outbox row (for an unknown
address a row the worker drops). It is throttled per address and per client address, so nobody
can mail-bomb an inbox through it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from alvin_python_lib import telemetry
from alvin_python_lib.db import transaction
from alvin_python_lib.errors import InvalidArgument, ResourceExhausted
from user_service.db.repository import session as session_repo
from user_service.db.repository import throttle as throttle_repo
from user_service.db.repository import user as user_repo
from user_service.service import account_mail, tokens
from user_service.service.deps import Deps
from user_service.service.validation import MAX_EMAIL_LENGTH, normalize_email, password_violations

TOO_MANY_RESETS = "Too many password reset requests; try again later."


def request_password_reset(deps: Deps, *, email: str, client_ip: str = "") -> None:
    """Queue a reset email for the account with ``email``, if there is one (no error otherwise).

    ``ResourceExhausted`` past ``reset_max_per_email`` requests for the address or
    ``reset_max_per_ip`` from the client address in ``reset_window`` (the same for every address).
    """
    normalized, violations = normalize_email(email)
    address = (normalized if not violations else email.strip().lower())[:MAX_EMAIL_LENGTH]
    session = deps.database.session()
    user = user_repo.get_user_by_email(session, normalized) if not violations else None
    with transaction(session):
        _count_request(session, deps, address, client_ip)
        account_mail.queue(session, deps, "reset", user_id=user.id if user is not None else None)


def _count_request(session: Session, deps: Deps, address: str, client_ip: str) -> None:
    # Counted in the caller's transaction: a refused request rolls its counts and its row back.
    config = deps.config
    now = deps.clock()
    limits = {f"reset-email:{address}": config.reset_max_per_email}
    if client_ip:
        limits[f"reset-ip:{client_ip[:64]}"] = config.reset_max_per_ip
    for key in sorted(limits):  # one lock order for every request
        count, window_start = throttle_repo.count_failure(session, key, now, config.reset_window)
        if count > limits[key]:
            retry_after = (window_start + config.reset_window - now).total_seconds()
            raise ResourceExhausted(TOO_MANY_RESETS, retry_after=max(1.0, retry_after))


def reset_password(deps: Deps, *, token: str, new_password: str) -> None:
    """Set a new password with a reset token: the token is used up, every session of the user is
    revoked and a "password changed" notice is queued; all in one transaction (a refused
    password leaves the token usable)."""
    hasher = deps.config.hasher
    with transaction(deps.database.session) as session:
        row = tokens.use(session, deps, token, (tokens.RESET,))
        user = user_repo.get_user(session, row.user_id, for_update=True)
        if user is None or not user.is_active:
            raise InvalidArgument.for_field("token", tokens.UNUSABLE)
        violations = password_violations(new_password, user.email, field="new_password")
        if violations:
            raise InvalidArgument(violations=violations)
        now = deps.clock()
        with telemetry.span("password.hash"):
            user.password_hash = hasher.hash(new_password)
        user.password_changed_at = now
        if row.new_email == user.email:
            user.email_verified = True  # the link reached this address: its owner used it
        session_repo.revoke_for_user(session, user.id, now)
        account_mail.queue(session, deps, "password_changed", user_id=user.id)
