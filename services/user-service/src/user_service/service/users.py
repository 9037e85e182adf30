"""Use cases on users: signup, lookups, listing, profile updates, deletion."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from alvin_python_lib import telemetry
from alvin_python_lib.db import transaction, translate_db_errors
from alvin_python_lib.errors import FieldViolation, InvalidArgument, NotFound
from alvin_python_lib.logging import get_request_id
from user_service.db.models import User
from user_service.db.repository import outbox as outbox_repo
from user_service.db.repository import session as session_repo
from user_service.db.repository import user as user_repo
from user_service.db.repository.user import UserRecord
from user_service.service import account_mail
from user_service.service.deps import Deps
from user_service.service.validation import (
    clean_display_name,
    normalize_email,
    password_violations,
)

MAX_BATCH = 500
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
WELCOME_EMAIL_TOPIC = "user.welcome_email"
UPDATABLE_FIELDS = frozenset({"display_name", "email", "is_active"})


@dataclass(frozen=True)
class BatchResult:
    """Users found, in the order asked for, and the ids that were not found."""

    users: list[UserRecord]
    missing_ids: list[int]


@dataclass(frozen=True)
class Page:
    """One page of users and the token of the next one ("" at the end)."""

    users: list[UserRecord]
    next_page_token: str


def signup(
    deps: Deps,
    *,
    email: str,
    password: str,
    display_name: str,
    invited_by_id: int | None = None,
) -> User:
    """Create a user and queue its welcome and verification emails, in one transaction."""
    normalized, violations = normalize_email(email)
    name, name_violations = clean_display_name(display_name)
    violations += name_violations
    violations += password_violations(password, normalized)
    if violations:
        raise InvalidArgument(violations=violations)
    with transaction(deps.database.session) as session:
        if invited_by_id is not None and user_repo.get_user(session, invited_by_id) is None:
            raise InvalidArgument.for_field("invited_by_id", "no such user")
        with telemetry.span("password.hash"):
            password_hash = deps.config.hasher.hash(password)
        user = User(
            id=deps.ids.next_id(),
            email=normalized,
            display_name=name,
            password_hash=password_hash,
            invited_by_id=invited_by_id,
        )
        with translate_db_errors(fields={"invited_by_id": "invited_by_id"}):
            user_repo.add_user(session, user)
        # The request id and the trace context (traceparent) travel with the row to the task.
        request_id = get_request_id()
        headers = telemetry.inject_trace_headers({"request_id": request_id} if request_id else {})
        outbox_repo.add_message(
            session,
            deps.ids.next_id(),
            WELCOME_EMAIL_TOPIC,
            {"user_id": user.id},
            headers=dict(headers),
        )
        account_mail.queue(session, deps, "verify", user_id=user.id)
    return user


def get_user(deps: Deps, user_id: int) -> UserRecord:
    """The live user ``user_id``; NotFound otherwise."""
    user = user_repo.read_user(deps.database, user_id)  # one statement: no transaction
    if user is None:
        raise NotFound(entity="User", key=user_id)
    return user


def batch_get_users(deps: Deps, user_ids: Sequence[int]) -> BatchResult:
    """Up to 500 users in one query, in request order; unknown ids reported, not an error."""
    if len(user_ids) > MAX_BATCH:
        raise InvalidArgument.for_field("ids", f"at most {MAX_BATCH} ids per call")
    found = user_repo.read_users(deps.database, user_ids)
    unique_ids = list(dict.fromkeys(user_ids))  # duplicates are answered once
    return BatchResult(
        users=[found[i] for i in unique_ids if i in found],
        missing_ids=[i for i in unique_ids if i not in found],
    )


def list_users(deps: Deps, *, page_size: int = 0, page_token: str = "") -> Page:
    """Users ordered by id; ``page_token`` is the opaque token of a previous page.

    ``page_size`` 0 means the default (50); sizes above 200 are lowered to 200 (AIP-158).
    """
    violations = []
    if page_size < 0:
        violations.append(FieldViolation("page_size", "must not be negative"))
    after_id: int | None = None
    if page_token:
        after_id = _decode_token(page_token)
        if after_id is None:
            violations.append(FieldViolation("page_token", "is not a valid page token"))
    if violations:
        raise InvalidArgument(violations=violations)
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    rows = user_repo.read_user_page(deps.database, after_id=after_id, limit=size + 1)
    users, more = rows[:size], len(rows) > size
    return Page(users=users, next_page_token=_encode_token(users[-1].id) if more else "")


def update_user(
    deps: Deps,
    user_id: int,
    *,
    paths: Sequence[str],
    display_name: str = "",
    email: str = "",
    is_active: bool = True,
) -> User:
    """Change the fields named in ``paths`` (a field mask); an email change re-checks uniqueness.

    Deactivating a user (``is_active`` false) revokes all their sessions.
    """
    unknown = [p for p in paths if p not in UPDATABLE_FIELDS]
    if not paths:
        raise InvalidArgument.for_field("update_mask", "must name at least one field")
    if unknown:
        raise InvalidArgument.for_field(
            "update_mask", f"unknown or read-only field(s): {', '.join(sorted(unknown))}"
        )
    violations: list[FieldViolation] = []
    changes: dict[str, object] = {}
    if "display_name" in paths:
        changes["display_name"], found = clean_display_name(display_name)
        violations += found
    if "email" in paths:
        changes["email"], found = normalize_email(email)
        violations += found
    if "is_active" in paths:
        changes["is_active"] = is_active
    if violations:
        raise InvalidArgument(violations=violations)
    with transaction(deps.database.session) as session:
        user = user_repo.get_user(session, user_id, for_update=True)
        if user is None:
            raise NotFound(entity="User", key=user_id)
        if "email" in changes and changes["email"] != user.email:
            user.email_verified = False  # the new address has not been proved yet
        for name, value in changes.items():
            setattr(user, name, value)
        with translate_db_errors():
            user_repo.flush(session)
        if changes.get("is_active") is False:
            session_repo.revoke_for_user(session, user.id, deps.clock())
    return user


def delete_user(deps: Deps, user_id: int) -> None:
    """Soft-delete a user and revoke its sessions."""
    with transaction(deps.database.session) as session:
        user = user_repo.get_user(session, user_id, for_update=True)
        if user is None:
            raise NotFound(entity="User", key=user_id)
        now = deps.clock()
        user.deleted_at = now
        user.is_active = False
        session_repo.revoke_for_user(session, user.id, now)


def _encode_token(after_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{after_id}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    version, _, value = raw.partition(":")
    if version != "v1" or not value.isdigit():
        return None
    return int(value)
