"""Queries and writes for login sessions (looked up by the SHA-256 of their token)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from user_service.db.models import User, UserSession


def add_session(session: Session, user_session: UserSession) -> UserSession:
    """Insert a session."""
    session.add(user_session)
    session.flush()
    return user_session


def get_active(
    session: Session, token_hash: bytes, now: datetime
) -> tuple[UserSession, User] | None:
    """The unrevoked, unexpired session with this token hash and its live, active user."""
    stmt = (
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(
            UserSession.token_hash == token_hash,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
            User.deleted_at.is_(None),
            User.is_active.is_(True),
        )
    )
    row = session.execute(stmt).one_or_none()
    return None if row is None else (row[0], row[1])


def revoke_by_hash(session: Session, token_hash: bytes, now: datetime) -> int:
    """Revoke the session with this token hash (0 when unknown or already revoked)."""
    stmt = (
        update(UserSession)
        .where(UserSession.token_hash == token_hash, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return session.execute(stmt).rowcount  # type: ignore[attr-defined, no-any-return]


def revoke_for_user(session: Session, user_id: int, now: datetime) -> int:
    """Revoke every open session of a user; returns how many."""
    stmt = (
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return session.execute(stmt).rowcount  # type: ignore[attr-defined, no-any-return]


def purge(session: Session, expired_before: datetime) -> int:
    """Delete sessions that expired or were revoked before ``expired_before``."""
    stmt = delete(UserSession).where(
        or_(UserSession.expires_at < expired_before, UserSession.revoked_at < expired_before)
    )
    return session.execute(stmt).rowcount  # type: ignore[attr-defined, no-any-return]


def list_open_for_user(
    session: Session, user_id: int, now: datetime, created_after: datetime
) -> list[UserSession]:
    """The user's unrevoked, unexpired sessions opened after ``created_after``, newest first."""
    stmt = (
        select(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
            UserSession.created_at > created_after,
        )
        .order_by(UserSession.created_at.desc(), UserSession.id.desc())
    )
    return list(session.scalars(stmt))


def revoke_by_id(session: Session, user_id: int, session_id: int, now: datetime) -> int:
    """Revoke the user's open session ``session_id`` (0 when it is not one: another user's
    session counts as not one)."""
    stmt = (
        update(UserSession)
        .where(
            UserSession.id == session_id,
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
        )
        .values(revoked_at=now)
    )
    return session.execute(stmt).rowcount  # type: ignore[attr-defined, no-any-return]


def revoke_others(session: Session, user_id: int, keep_id: int, now: datetime) -> int:
    """Revoke every open session of the user except ``keep_id``; returns how many."""
    stmt = (
        update(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.id != keep_id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
        )
        .values(revoked_at=now)
    )
    return session.execute(stmt).rowcount  # type: ignore[attr-defined, no-any-return]
