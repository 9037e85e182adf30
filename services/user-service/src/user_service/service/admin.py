"""Administration of users: the admin role, and what only administrators may do.

The acting administrator is named by a session token (the one of their request), and the role is
read here from the database: whatever a caller believes about the viewer, a user who is not an
administrator gets PermissionDenied. ``grant_admin`` is for the operator's CLI only (no RPC).
"""

from __future__ import annotations

from alvin_python_lib.db import transaction
from alvin_python_lib.errors import FailedPrecondition, NotFound, PermissionDenied
from user_service.db.models import User
from user_service.db.repository import session as session_repo
from user_service.db.repository import user as user_repo
from user_service.service.deps import Deps
from user_service.service.sessions import current_session
from user_service.service.validation import normalize_email

__all__ = ["deactivate_user", "delete_user", "grant_admin", "reactivate_user", "require_admin"]


def require_admin(deps: Deps, token: str) -> User:
    """The administrator who holds ``token``; Unauthenticated / PermissionDenied otherwise."""
    _, actor = current_session(deps, token)
    if not actor.admin:
        raise PermissionDenied("Only administrators may do this.")
    return actor


def _target(deps: Deps, token: str, user_id: int) -> tuple[User, User]:
    """(the acting administrator, the target user locked for update) in the open transaction."""
    actor = require_admin(deps, token)
    if user_id == actor.id:
        raise FailedPrecondition("Administrators cannot do this to their own account.")
    user = user_repo.get_user(deps.database.session(), user_id, for_update=True)
    if user is None:
        raise NotFound(entity="User", key=user_id)
    return actor, user


def deactivate_user(deps: Deps, token: str, user_id: int) -> User:
    """Deactivate ``user_id`` (it can no longer log in) and revoke every session of it."""
    with transaction(deps.database.session) as session:
        _, user = _target(deps, token, user_id)
        user.is_active = False
        session_repo.revoke_for_user(session, user.id, deps.clock())
        user_repo.flush(session)
    return user


def reactivate_user(deps: Deps, token: str, user_id: int) -> User:
    """Let a deactivated user log in again (the sessions revoked stay revoked)."""
    with transaction(deps.database.session) as session:
        _, user = _target(deps, token, user_id)
        user.is_active = True
        user_repo.flush(session)
    return user


def delete_user(deps: Deps, token: str, user_id: int) -> None:
    """Soft-delete ``user_id`` and revoke every session of it."""
    with transaction(deps.database.session) as session:
        _, user = _target(deps, token, user_id)
        now = deps.clock()
        user.deleted_at = now
        user.is_active = False
        session_repo.revoke_for_user(session, user.id, now)


def grant_admin(deps: Deps, email: str, *, admin: bool = True) -> User:
    """Make the live user with ``email`` an administrator (or not, with ``admin=False``)."""
    normalized, _ = normalize_email(email)
    with transaction(deps.database.session) as session:
        user = user_repo.get_user_by_email(session, normalized) if normalized else None
        if user is None:
            raise NotFound(f"No user has the email {email!r}.", entity="User")
        user.admin = admin
        user_repo.flush(session)
    return user
