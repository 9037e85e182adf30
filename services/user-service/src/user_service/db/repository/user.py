"""Queries and writes for users. No business rules here: those live in ``user_service.service``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from user_service.db.models import User

# uint64 on the wire, BIGINT in the database: larger ids cannot exist (and would overflow SQL).
MAX_ID = 2**63 - 1

# The hot reads, built once with bound parameters: building the expression on each call (and its
# cache key) cost more CPU than running the cached compiled statement.
_LIVE_BY_ID = select(User).where(User.id == bindparam("user_id"), User.deleted_at.is_(None))
_LIVE_BY_IDS = select(User).where(
    User.id.in_(bindparam("user_ids", expanding=True)), User.deleted_at.is_(None)
)


def get_user(session: Session, user_id: int, *, for_update: bool = False) -> User | None:
    """The live (not deleted) user with ``user_id``."""
    if not 0 < user_id <= MAX_ID:
        return None
    stmt = _LIVE_BY_ID.with_for_update() if for_update else _LIVE_BY_ID
    return session.scalars(stmt, {"user_id": user_id}).one_or_none()


def get_user_by_email(session: Session, email: str) -> User | None:
    """The live user with this (already normalised) email."""
    stmt = select(User).where(User.email == email, User.deleted_at.is_(None))
    return session.scalars(stmt).one_or_none()


def get_users(session: Session, user_ids: Sequence[int]) -> dict[int, User]:
    """Live users among ``user_ids`` in one query, by id."""
    wanted = {i for i in user_ids if 0 < i <= MAX_ID}
    if not wanted:
        return {}
    return {user.id: user for user in session.scalars(_LIVE_BY_IDS, {"user_ids": list(wanted)})}


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
