"""A user's sessions and devices: list them, end one, end all the others.

Every use case names its user by a session token, never by an id the caller passes: the owner is
whoever holds the token, so a caller (the gateway) can only ever see or end its own user's
sessions, and another user's session id answers NotFound, like an id that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from alvin_python_lib.db import transaction
from alvin_python_lib.errors import InvalidArgument, NotFound, Unauthenticated
from user_service.db.models import User, UserSession
from user_service.db.repository import session as session_repo
from user_service.db.repository import user as user_repo
from user_service.service.auth import hash_token
from user_service.service.deps import Deps

__all__ = [
    "SessionView",
    "current_session",
    "list_sessions",
    "revoke_other_sessions",
    "revoke_session",
]


@dataclass(frozen=True)
class SessionView:
    """An open session as its owner sees it; ``current`` for the session of the caller's token."""

    session: UserSession
    current: bool


def current_session(deps: Deps, token: str) -> tuple[UserSession, User]:
    """The open session of ``token`` and its live, active user; Unauthenticated otherwise."""
    if not token:
        raise InvalidArgument.for_field("session_token", "is required")
    now = deps.clock()
    found = session_repo.get_active(deps.database.session(), hash_token(token), now)
    if found is None or found[0].created_at + deps.config.session_max_age <= now:
        raise Unauthenticated("Session expired or revoked.")
    return found


def list_sessions(deps: Deps, token: str) -> list[SessionView]:
    """The open sessions of the token's user, newest first."""
    current, user = current_session(deps, token)
    now = deps.clock()
    rows = session_repo.list_open_for_user(
        deps.database.session(), user.id, now, now - deps.config.session_max_age
    )
    return [SessionView(session=row, current=row.id == current.id) for row in rows]


def revoke_session(deps: Deps, token: str, session_id: int) -> bool:
    """End one open session of the token's user; True when it was the token's own session.

    NotFound when ``session_id`` is not an open session of that user (another user's included).
    """
    current, user = current_session(deps, token)
    if not 0 < session_id <= user_repo.MAX_ID:
        raise NotFound(entity="Session", key=session_id)
    with transaction(deps.database.session) as session:
        if session_repo.revoke_by_id(session, user.id, session_id, deps.clock()) == 0:
            raise NotFound(entity="Session", key=session_id)
    return session_id == current.id


def revoke_other_sessions(deps: Deps, token: str) -> int:
    """End every open session of the token's user but the token's own; returns how many."""
    current, user = current_session(deps, token)
    with transaction(deps.database.session) as session:
        return session_repo.revoke_others(session, user.id, current.id, deps.clock())
