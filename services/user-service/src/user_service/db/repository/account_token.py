"""Queries and writes for account tokens (looked up by the SHA-256 of the token)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from user_service.db.models import AccountToken


def add_token(session: Session, token: AccountToken) -> AccountToken:
    """Insert a token."""
    session.add(token)
    session.flush()
    return token


def get_by_hash(
    session: Session, token_hash: bytes, *, for_update: bool = False
) -> AccountToken | None:
    """The token with this hash (used or not, expired or not)."""
    stmt = select(AccountToken).where(AccountToken.token_hash == token_hash)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def retire_unused(session: Session, user_id: int, purpose: str, now: datetime) -> int:
    """Mark every unused token of ``purpose`` of the user used (a newer one replaces them)."""
    stmt = (
        update(AccountToken)
        .where(
            AccountToken.user_id == user_id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return session.execute(stmt).rowcount  # type: ignore[attr-defined, no-any-return]


def purge(session: Session, before: datetime) -> int:
    """Delete tokens that expired or were used before ``before``."""
    stmt = delete(AccountToken).where(
        or_(AccountToken.expires_at < before, AccountToken.used_at < before)
    )
    return session.execute(stmt).rowcount  # type: ignore[attr-defined, no-any-return]
