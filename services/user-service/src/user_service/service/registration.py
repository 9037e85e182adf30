"""The public signup: it answers alike whether or not the address already has an account.

A new address gets its account (with the welcome and verification emails); an address that
belongs to a user gets a "someone tried to sign up" email instead, and the caller the same empty
answer after the same work (the password is hashed either way). The price: signup cannot log the
new user in or return it, since that would tell the two cases apart.
"""

from __future__ import annotations

from alvin_python_lib.db import transaction
from alvin_python_lib.errors import AlreadyExists
from user_service.db.repository import user as user_repo
from user_service.service import abuse, account_mail
from user_service.service.deps import Deps
from user_service.service.validation import normalize_email


def sign_up(
    deps: Deps,
    *,
    email: str,
    password: str,
    display_name: str,
    invited_by_id: int | None = None,
    client_ip: str = "",
) -> None:
    """Sign up, or tell the address's owner that someone tried (``InvalidArgument`` for invalid
    input, ``ResourceExhausted`` past the signup throttles: never "taken")."""
    try:
        # Validates, hashes the password, then inserts: the insert of a taken address fails on
        # the unique index after the same hashing work as a new one.
        abuse.signup(
            deps,
            client_ip=client_ip,
            email=email,
            password=password,
            display_name=display_name,
            invited_by_id=invited_by_id,
        )
    except AlreadyExists:
        normalized, _ = normalize_email(email)
        with transaction(deps.database.session) as session:
            owner = user_repo.get_user_by_email(session, normalized)
            if owner is not None:  # None: deleted in between, nobody to tell
                account_mail.queue(session, deps, "signup_attempted", user_id=owner.id)
