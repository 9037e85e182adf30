"""Single-use, short-lived account tokens: made when their email is sent, used once.

Only the SHA-256 of a token is stored (as for session tokens): a database leak gives no usable
link. Every failure to use one (unknown, expired, used, or for another purpose) is the same
``InvalidArgument`` on the field ``token``, so a guesser learns nothing from the message.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy.orm import Session

from alvin_python_lib.errors import InvalidArgument
from user_service.db.models import AccountToken
from user_service.db.repository import account_token as token_repo
from user_service.service.deps import Deps

RESET = "reset"
VERIFY = "verify"
EMAIL_CHANGE = "email_change"
UNUSABLE = "is invalid, expired or already used"
TOKEN_BYTES = 32  # 256 bits, as session tokens


def hash_token(token: str) -> bytes:
    """SHA-256 of a token, the only form stored (the same digest as session tokens)."""
    return hashlib.sha256(token.encode()).digest()


def issue(
    session: Session, deps: Deps, *, user_id: int, purpose: str, address: str, ttl: timedelta
) -> str:
    """A new token for ``purpose``, mailed to ``address``; older unused ones of the user stop
    working (only the latest link is valid)."""
    now = deps.clock()
    token_repo.retire_unused(session, user_id, purpose, now)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    token_repo.add_token(
        session,
        AccountToken(
            id=deps.ids.next_id(),
            user_id=user_id,
            purpose=purpose,
            token_hash=hash_token(token),
            new_email=address,
            created_at=now,
            expires_at=now + ttl,
        ),
    )
    return token


def use(session: Session, deps: Deps, token: str, purposes: tuple[str, ...]) -> AccountToken:
    """Mark ``token`` used (in the caller's transaction) and return it; ``InvalidArgument`` on
    ``token`` when it cannot be used. The row stays locked until the transaction ends, so two
    concurrent uses cannot both succeed."""
    if not token:
        raise InvalidArgument.for_field("token", "is required")
    now = deps.clock()
    row = token_repo.get_by_hash(session, hash_token(token), for_update=True)
    if (
        row is None
        or row.purpose not in purposes
        or row.used_at is not None
        or row.expires_at <= now
    ):
        raise InvalidArgument.for_field("token", UNUSABLE)
    row.used_at = now
    return row
