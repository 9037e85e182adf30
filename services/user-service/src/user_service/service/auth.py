"""Authentication and sessions: login, session validation, logout, password change."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from alvin_python_lib import telemetry
from alvin_python_lib.db import transaction
from alvin_python_lib.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
)
from user_service.db.models import User, UserSession
from user_service.db.repository import session as session_repo
from user_service.db.repository import throttle as throttle_repo
from user_service.db.repository import user as user_repo
from user_service.service import account_mail
from user_service.service.config import HasherBusy, ServiceConfig
from user_service.service.deps import Deps
from user_service.service.validation import (
    MAX_EMAIL_LENGTH,
    normalize_email,
    password_violations,
)

# One message for unknown email, wrong password and inactive user: no account enumeration.
INVALID_CREDENTIALS = "Invalid email or password."
TOKEN_BYTES = 32  # 256-bit session tokens
# How stale a session's "last seen" may get: refreshing it on every request would be a write per
# request; once per this interval is enough to show users which devices are in use.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True)
class LoginResult:
    """A new session: the token (shown once), its expiry and the user."""

    token: str
    expires_at: datetime
    user: User


@dataclass(frozen=True)
class SessionInfo:
    """A valid session's user and expiry."""

    user: User
    expires_at: datetime


def hash_token(token: str) -> bytes:
    """SHA-256 of a session token: the only form the database keeps."""
    return hashlib.sha256(token.encode()).digest()


@lru_cache(maxsize=8)
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Verified when the email is unknown, so that both paths do the same argon2 work. Cached per
    # hasher object: the cache holds it, so a later hasher with other parameters cannot take its
    # identity (the dummy hash would then cost more or less than a real one).
    return hasher.hash(secrets.token_hex(16))


def authenticate(
    deps: Deps, *, email: str, password: str, user_agent: str = "", client_ip: str = ""
) -> LoginResult:
    """Check credentials and open a session; throttled per email and per client address."""
    config = deps.config
    normalized, _ = normalize_email(email)
    rules = _login_rules(config, normalized, client_ip)
    pair_key = next(iter(rules))
    now = deps.clock()
    session = deps.database.session()
    windows = _count_attempt(session, config, rules, now)

    user = user_repo.get_user_by_email(session, normalized) if normalized else None
    hasher = config.hasher
    ok: bool
    try:
        stored = user.password_hash if user is not None else _dummy_hash(hasher)
        with telemetry.span("password.verify"):
            ok = hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        ok = False
    except HasherBusy:
        # No password was checked: the attempt must not count as a failure (a busy server would
        # otherwise push real users into the delays).
        with transaction(session):
            for key in sorted(rules):
                throttle_repo.forgive(session, key, windows[key])
        raise
    if not ok or user is None or not user.is_active:
        raise Unauthenticated(INVALID_CREDENTIALS)  # counted by _count_attempt already
    if not user.email_verified and not config.unverified_may_log_in:
        # Said only after the right password: it reveals nothing to someone who lacks it.
        raise FailedPrecondition("Verify your email address first: follow the link we sent.")

    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + min(config.session_ttl, config.session_max_age)
    with transaction(session):
        if hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hasher.hash(password)
        user.last_login_at = now
        for key in sorted(rules):  # the lock order of _count_attempt: no deadlock between them
            if key == pair_key:
                throttle_repo.reset(session, key)
            else:  # the account and the address keep their other failures
                throttle_repo.forgive(session, key, windows[key])
        session_repo.add_session(
            session,
            UserSession(
                id=deps.ids.next_id(),
                user_id=user.id,
                token_hash=hash_token(token),
                created_at=now,
                last_seen_at=now,
                expires_at=expires_at,
                user_agent=user_agent[:512],
                client_ip=client_ip[:64],
            ),
        )
    return LoginResult(token=token, expires_at=expires_at, user=user)


@dataclass(frozen=True)
class _Rule:
    """How one counter limits logins: ``free`` failures per window, then either growing delays
    (``max_delay`` set: the gap since the last failure must reach ``base_delay`` doubled per
    failure past ``free``, at most ``max_delay``) or, without ``max_delay``, a refusal until the
    window ends."""

    free: int
    max_delay: timedelta | None = None


def _login_rules(config: ServiceConfig, normalized: str, client_ip: str) -> dict[str, _Rule]:
    """The counters of a login, the (account, address) pair first (see ``AbuseLimits``).

    Keys fit the 300-character column: an over-long email is invalid anyway, an address is kept
    to 64 characters as in the session row, and the pair key is a digest of both.
    """
    limits = config.limits
    email = normalized[:MAX_EMAIL_LENGTH]
    pair = _Rule(config.throttle_max_failures_per_email, limits.login_max_delay)
    if not client_ip:
        return {f"email:{email}": pair}  # no address known: the account is the only pair
    address = client_ip[:64]
    digest = hashlib.sha256(f"{email}\n{address}".encode()).hexdigest()
    return {
        f"pair:{digest}": pair,
        f"account:{email}": _Rule(
            limits.login_free_failures_per_account, limits.login_max_account_delay
        ),
        f"ip:{address}": _Rule(config.throttle_max_failures_per_ip),
    }


def _count_attempt(
    session: Session, config: ServiceConfig, rules: dict[str, _Rule], now: datetime
) -> dict[str, datetime]:
    """Count the attempt as a failure of each key before its password is checked.

    Committed before the slow check, so concurrent attempts cannot all pass a limit they read
    at the same time: each upsert waits for the previous attempt's commit on the same counter.
    An attempt over a limit, or sooner than its delay allows, is refused and its counts rolled
    back (a refused attempt checks no password and counts nothing). Returns each key's window
    start, for a success to take its count back.
    """
    windows: dict[str, datetime] = {}
    with transaction(session):
        # One lock order for every request (sorted keys): two logins never wait on each other.
        for key in sorted(rules):
            rule = rules[key]
            failures, window_start, previous = throttle_repo.count_attempt(
                session, key, now, config.throttle_window
            )
            wait = _wait(
                config,
                rule,
                before=failures - 1,
                window_start=window_start,
                previous=previous,
                now=now,
            )
            if wait is not None:
                raise ResourceExhausted(
                    "Too many failed logins; try again later.", retry_after=max(1.0, wait)
                )
            windows[key] = window_start
    return windows


def _wait(
    config: ServiceConfig,
    rule: _Rule,
    *,
    before: int,
    window_start: datetime,
    previous: datetime | None,
    now: datetime,
) -> float | None:
    """Seconds until an attempt after ``before`` failures is allowed; None when it is now."""
    if rule.max_delay is None:
        if before < rule.free:
            return None
        return (window_start + config.throttle_window - now).total_seconds()
    if before < rule.free or previous is None:
        return None
    # Capped exponent: the delay reaches its maximum long before 2**30.
    delay = min(rule.max_delay, config.limits.login_base_delay * 2 ** min(before - rule.free, 30))
    remaining = (previous + delay - now).total_seconds()
    return remaining if remaining > 0 else None


def validate_session(deps: Deps, token: str, *, refresh: bool = False) -> SessionInfo:
    """The user behind a session token; with ``refresh`` a sliding session is extended."""
    if not token:
        raise InvalidArgument.for_field("session_token", "is required")
    config = deps.config
    now = deps.clock()
    session = deps.database.session()
    found = session_repo.get_active(session, hash_token(token), now)
    if found is None:
        raise Unauthenticated("Session expired or revoked.")
    user_session, user = found
    ends_at = user_session.created_at + config.session_max_age  # the absolute lifetime
    if ends_at <= now:
        raise Unauthenticated("Session expired or revoked.")
    expires_at = user_session.expires_at
    if refresh:
        slide = (
            config.session_sliding
            and expires_at - now < config.session_ttl / 2
            and expires_at < ends_at
        )
        seen = user_session.last_seen_at
        if slide or seen is None or now - seen >= LAST_SEEN_RESOLUTION:
            with transaction(session):
                if slide:
                    user_session.expires_at = expires_at = min(now + config.session_ttl, ends_at)
                user_session.last_seen_at = now
    return SessionInfo(user=user, expires_at=expires_at)


def revoke_session(deps: Deps, token: str) -> None:
    """Log out: revoke the session (unknown or already revoked tokens are fine)."""
    if not token:
        raise InvalidArgument.for_field("session_token", "is required")
    with transaction(deps.database.session) as session:
        session_repo.revoke_by_hash(session, hash_token(token), deps.clock())


def change_password(deps: Deps, *, user_id: int, current_password: str, new_password: str) -> None:
    """Replace the password after checking the current one; every session is revoked."""
    violations: list[FieldViolation] = []
    if not current_password:
        violations.append(FieldViolation("current_password", "is required"))
    hasher = deps.config.hasher
    with transaction(deps.database.session) as session:
        user = user_repo.get_user(session, user_id, for_update=True)
        if user is None:
            raise NotFound(entity="User", key=user_id)
        violations += password_violations(new_password, user.email, field="new_password")
        if violations:
            raise InvalidArgument(violations=violations)
        try:
            hasher.verify(user.password_hash, current_password)
        except (VerificationError, InvalidHashError):
            raise InvalidArgument.for_field(
                "current_password", "does not match the current password"
            ) from None
        now = deps.clock()
        user.password_hash = hasher.hash(new_password)
        user.password_changed_at = now
        session_repo.revoke_for_user(session, user.id, now)
        account_mail.queue(session, deps, "password_changed", user_id=user.id)


def purge_expired_sessions(deps: Deps, *, older_than: timedelta = timedelta(days=1)) -> int:
    """Delete sessions that ended more than ``older_than`` ago; returns how many."""
    with transaction(deps.database.session) as session:
        return session_repo.purge(session, deps.clock() - older_than)
