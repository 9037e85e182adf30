"""Queries and writes for users. No business rules here: those live in ``user_service.service``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from user_service.db.models import User

# uint64 on the wire, BIGINT in the database: larger ids cannot exist (and would overflow SQL).
MAX_ID = 2**63 - 1


def get_user(session: Session, user_id: int, *, for_update: bool = False) -> User | None:
    """The live (not deleted) user with ``user_id``."""
    if not 0 < user_id <= MAX_ID:
        return None
    stmt = select(User).where(User.id == user_id, User.deleted_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def get_user_by_email(session: Session, email: str) -> User | None:
    """The live user with this (already normalised) email."""
    stmt = select(User).where(User.email == email, User.deleted_at.is_(None))
    return session.scalars(stmt).one_or_none()


def get_users(session: Session, user_ids: Sequence[int]) -> dict[int, User]:
    """Live users among ``user_ids`` in one query, by id."""
    wanted = {i for i in user_ids if 0 < i <= MAX_ID}
    if not wanted:
        return {}
    stmt = select(User).where(User.id.in_(wanted), User.deleted_at.is_(None))
    return {user.id: user for user in session.scalars(stmt)}


def list_users(session: Session, *, after_id: int | None, limit: int) -> list[User]:
    """Live users ordered by id, starting after ``after_id`` (keyset pagination)."""
    stmt = select(User).where(User.deleted_at.is_(None)).order_by(User.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(User.id > after_id)
    return list(session.scalars(stmt))


def add_user(session: Session, user: User) -> User:
    """Insert ``user`` and flush, so that constraint violations surface here."""
    session.add(user)
    session.flush()
    return user


def flush(session: Session) -> None:
    """Send pending changes (unique checks happen now rather than at commit)."""
    session.flush()
