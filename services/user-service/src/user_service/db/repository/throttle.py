"""Failed-login counters (fixed windows, one atomic upsert per failure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from user_service.db.models import AuthThrottle


def current(
    session: Session, keys: Sequence[str], window_start_after: datetime
) -> dict[str, AuthThrottle]:
    """Counters of ``keys`` whose window started after ``window_start_after`` (still open)."""
    stmt = select(AuthThrottle).where(
        AuthThrottle.key.in_(keys), AuthThrottle.window_start > window_start_after
    )
    return {row.key: row for row in session.scalars(stmt)}


def register_failure(session: Session, key: str, now: datetime, window: timedelta) -> None:
    """Count one failure for ``key``, opening a new window when the previous one ended."""
    expired = AuthThrottle.window_start <= now - window
    stmt = insert(AuthThrottle).values(key=key, window_start=now, failures=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[AuthThrottle.key],
        set_={
            "failures": case((expired, 1), else_=AuthThrottle.failures + 1),
            "window_start": case((expired, now), else_=AuthThrottle.window_start),
        },
    )
    session.execute(stmt)


def reset(session: Session, key: str) -> None:
    """Forget the failures of ``key`` (after a successful login)."""
    session.execute(delete(AuthThrottle).where(AuthThrottle.key == key))
