"""Queries and writes for users. No business rules here: those live in ``user_service.service``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import cast

from sqlalchemy import BigInteger, Table, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from alvin_python_lib.db import Database
from user_service.db.models import User

# uint64 on the wire, BIGINT in the database: larger ids cannot exist (and would overflow SQL).
MAX_ID = 2**63 - 1

# The hot reads, built once with bound parameters: building the expression on each call (and its
# cache key) cost more CPU than running the cached compiled statement.
_LIVE_BY_ID = select(User).where(User.id == bindparam("user_id"), User.deleted_at.is_(None))


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A live user as the read RPCs answer it: the columns a response carries, read without the
    ORM (no session, no identity map) and never the password hash."""

    id: int
    email: str
    display_name: str
    is_active: bool
    admin: bool
    email_verified: bool
    created_at: datetime
    updated_at: datetime
    invited_by_id: int | None
    last_login_at: datetime | None


_users = cast(Table, User.__table__)
_RECORD = select(*(_users.c[f.name] for f in fields(UserRecord))).where(
    _users.c.deleted_at.is_(None)
)
_RECORD_BY_ID = _RECORD.where(_users.c.id == bindparam("user_id"))
# `= ANY(array)` rather than an expanding IN: one statement text whatever the number of ids, so
# no per-call rendering of the IN list and one cached compiled form.
_RECORDS_BY_IDS = _RECORD.where(_users.c.id == any_(bindparam("user_ids", type_=ARRAY(BigInteger))))
_RECORDS_PAGE = _RECORD.order_by(_users.c.id).limit(bindparam("limit"))
_RECORDS_PAGE_AFTER = _RECORDS_PAGE.where(_users.c.id > bindparam("after_id"))


def read_user(database: Database, user_id: int) -> UserRecord | None:
    """The live user ``user_id``."""
    if not 0 < user_id <= MAX_ID:
        return None
    rows = database.read_rows(_RECORD_BY_ID, {"user_id": user_id})
    return UserRecord(*rows[0]) if rows else None


def read_users(database: Database, user_ids: Sequence[int]) -> dict[int, UserRecord]:
    """Live users among ``user_ids`` in one query, by id."""
    wanted = [i for i in dict.fromkeys(user_ids) if 0 < i <= MAX_ID]
    if not wanted:
        return {}
    rows = database.read_rows(_RECORDS_BY_IDS, {"user_ids": wanted})
    return {row[0]: UserRecord(*row) for row in rows}


def read_user_page(database: Database, *, after_id: int | None, limit: int) -> list[UserRecord]:
    """Live users ordered by id, starting after ``after_id`` (keyset pagination)."""
    if after_id is None:
        rows = database.read_rows(_RECORDS_PAGE, {"limit": limit})
    else:
        rows = database.read_rows(_RECORDS_PAGE_AFTER, {"limit": limit, "after_id": after_id})
    return [UserRecord(*row) for row in rows]


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


def add_user(session: Session, user: User) -> User:
    """Insert ``user`` and flush, so that constraint violations surface here."""
    session.add(user)
    session.flush()
    return user


def flush(session: Session) -> None:
    """Send pending changes (unique checks happen now rather than at commit)."""
    session.flush()
