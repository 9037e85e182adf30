"""Email verification and email changes.

An address is verified when its owner opens the link mailed to it (:func:`verify_email`). An
email change (:func:`request_email_change`) needs the current password and mails a link to the
new address; the login email changes only when that link is used, and the old address is then
told. A new address that belongs to another account gets the same answer and no email.
"""

from __future__ import annotations

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from alvin_python_lib import telemetry
from alvin_python_lib.db import transaction, translate_db_errors
from alvin_python_lib.errors import (
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from user_service.db.models import User
from user_service.db.repository import throttle as throttle_repo
from user_service.db.repository import user as user_repo
from user_service.service import account_mail, tokens
from user_service.service.deps import Deps
from user_service.service.validation import normalize_email

ADDRESS_TAKEN = "is no longer valid: the address belongs to another account now"


def verify_email(deps: Deps, *, token: str) -> User:
    """Use a verification token: the address is verified (after an email change, it becomes the
    login email and the old address is told). ``InvalidArgument`` on ``token`` otherwise."""
    with transaction(deps.database.session) as session:
        row = tokens.use(session, deps, token, (tokens.VERIFY, tokens.EMAIL_CHANGE))
        user = user_repo.get_user(session, row.user_id, for_update=True)
        if user is None:
            raise InvalidArgument.for_field("token", tokens.UNUSABLE)
        address = row.new_email or ""
        if row.purpose == tokens.VERIFY:
            if address != user.email:  # the user moved to another address since
                raise InvalidArgument.for_field("token", tokens.UNUSABLE)
            user.email_verified = True
            return user
        if address != user.email:
            owner = user_repo.get_user_by_email(session, address)
            if owner is not None:
                raise InvalidArgument.for_field("token", ADDRESS_TAKEN)
            old = user.email
            user.email = address
            try:
                with translate_db_errors():
                    user_repo.flush(session)
            except AlreadyExists:  # taken by a signup at the same moment
                raise InvalidArgument.for_field("token", ADDRESS_TAKEN) from None
            account_mail.queue(
                session,
                deps,
                "email_changed",
                user_id=user.id,
                old_email=old,
                old_email_verified="true" if user.email_verified else "false",
            )
        user.email_verified = True
    return user


def request_email_change(
    deps: Deps, *, user_id: int, new_email: str, current_password: str
) -> None:
    """Check the current password and queue a verification email to ``new_email``.

    The same answer whether or not ``new_email`` belongs to another account (the worker sends
    nothing then): the form cannot be used to find out who has an account. ``ResourceExhausted``
    past ``reset_max_per_email`` requests of the user in ``reset_window``.
    """
    normalized, violations = normalize_email(new_email, field="new_email")
    if not current_password:
        violations.append(FieldViolation("current_password", "is required"))
    hasher = deps.config.hasher
    with transaction(deps.database.session) as session:
        user = user_repo.get_user(session, user_id)
        if user is None:
            raise NotFound(entity="User", key=user_id)
        if not violations and normalized == user.email:
            violations.append(FieldViolation("new_email", "is already your email"))
        if violations:
            raise InvalidArgument(violations=violations)
        try:
            with telemetry.span("password.verify"):
                hasher.verify(user.password_hash, current_password)
        except (VerificationError, InvalidHashError):
            raise InvalidArgument.for_field(
                "current_password", "does not match the current password"
            ) from None
        _count_request(session, deps, user.id)
        account_mail.queue(session, deps, "email_change", user_id=user.id, new_email=normalized)


def _count_request(session: Session, deps: Deps, user_id: int) -> None:
    # Each request mails a link to an address of the caller's choosing: limited per user like
    # password resets per address, so an account cannot be used to flood someone's inbox.
    config = deps.config
    now = deps.clock()
    key = f"email-change:{user_id}"
    count, window_start = throttle_repo.count_failure(session, key, now, config.reset_window)
    if count > config.reset_max_per_email:
        retry_after = (window_start + config.reset_window - now).total_seconds()
        raise ResourceExhausted(
            "Too many email change requests; try again later.", retry_after=max(1.0, retry_after)
        )
