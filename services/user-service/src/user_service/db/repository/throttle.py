"""Failed-login counters (fixed windows, one atomic upsert per attempt).

A login counts its attempt before the password is checked (:func:`count_failure`): the upsert
locks the counter's row until the transaction ends, so concurrent attempts are counted one after
the other and each sees the attempts before it. A successful login then takes its count back
(:func:`reset`, :func:`forgive`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from user_service.db.models import AuthThrottle


def count_failure(
    session: Session, key: str, now: datetime, window: timedelta
) -> tuple[int, datetime]:
    """Count one failure for ``key`` (a new window when the previous one ended).

    Returns the window's failures, this one included, and its start. The row stays locked until
    the session's transaction ends.
    """
    expired = AuthThrottle.window_start <= now - window
    stmt = (
        insert(AuthThrottle)
        .values(key=key, window_start=now, failures=1)
        .on_conflict_do_update(
            index_elements=[AuthThrottle.key],
            set_={
                "failures": case((expired, 1), else_=AuthThrottle.failures + 1),
                "window_start": case((expired, now), else_=AuthThrottle.window_start),
            },
        )
        .returning(AuthThrottle.failures, AuthThrottle.window_start)
    )
    failures, window_start = session.execute(stmt).one()
    return failures, window_start


def count_attempt(
    session: Session, key: str, now: datetime, window: timedelta
) -> tuple[int, datetime, datetime | None]:
    """Count one failure for ``key`` as :func:`count_failure` does, and stamp its time.

    Returns the window's failures (this one included), the window's start and the time of the
    previous failure (None when there was none in this window's row). The row stays locked until
    the session's transaction ends, so the caller can refuse the attempt (and roll its count
    back) from what came before it.
    """
    failures, window_start = count_failure(session, key, now, window)
    previous = session.execute(
        update(AuthThrottle)
        .where(AuthThrottle.key == key)
        .values(last_failure_at=now)
        .returning(
            # the value before this UPDATE: a scalar subquery reads the statement's snapshot
            select(AuthThrottle.last_failure_at).where(AuthThrottle.key == key).scalar_subquery()
        )
    ).scalar_one()
    return failures, window_start, previous if failures > 1 else None


def forgive(session: Session, key: str, window_start: datetime) -> None:
    """Take back one failure counted for ``key`` in the window that started at ``window_start``."""
    session.execute(
        update(AuthThrottle)
        .where(
            AuthThrottle.key == key,
            AuthThrottle.window_start == window_start,
            AuthThrottle.failures > 0,
        )
        .values(failures=AuthThrottle.failures - 1)
    )


def reset(session: Session, key: str) -> None:
    """Forget the failures of ``key`` (after a successful login)."""
    session.execute(delete(AuthThrottle).where(AuthThrottle.key == key))
