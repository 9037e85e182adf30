"""Account emails (verify, email change, reset, notices): queued in the outbox, sent by the worker.

A use case queues an email in its own transaction (:func:`queue`), so the email goes out exactly
when the change commits. The worker's task calls :func:`send_account_email`: it makes the email's
token, if the email carries one, in the same transaction that records the email as sent, so the
plain token exists only in the email (the database and the outbox keep no usable copy) and a
redelivered task sends nothing and makes no second token.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from alvin_python_lib import telemetry
from alvin_python_lib.db import transaction
from alvin_python_lib.logging import get_logger, get_request_id
from user_service.db.models import User
from user_service.db.repository import outbox as outbox_repo
from user_service.db.repository import user as user_repo
from user_service.service import tokens
from user_service.service.deps import Deps
from user_service.service.email_templates import (
    RESET_PATH,
    VERIFY_PATH,
    frontend_link,
    render_email,
)

log = get_logger(__name__)

ACCOUNT_EMAIL_TOPIC = "user.account_email"
# What a queued message asks for -> the template that renders it.
KINDS = {
    "verify": "verify",
    "email_change": "verify",
    "reset": "reset",
    "password_changed": "password_changed",  # pragma: allowlist secret
    "email_changed": "email_changed",
    "signup_attempted": "signup_attempted",
}


def queue(session: Session, deps: Deps, kind: str, *, user_id: int | None, **extra: str) -> None:
    """Queue the account email ``kind`` in the caller's transaction.

    ``user_id`` None queues a message the worker drops: the request paths that must not reveal
    whether an account exists write the same row either way.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown account email {kind!r}")
    # The request id and the trace context (traceparent) travel with the row to the task.
    request_id = get_request_id()
    headers = telemetry.inject_trace_headers({"request_id": request_id} if request_id else {})
    outbox_repo.add_message(
        session,
        deps.ids.next_id(),
        ACCOUNT_EMAIL_TOPIC,
        {"kind": kind, "user_id": user_id, **extra},
        headers=dict(headers),
    )


def send_account_email(deps: Deps, message_id: int, payload: dict[str, Any]) -> bool:
    """Send the account email of outbox message ``message_id``; True when sent now.

    Nothing is sent (False) when the message names no user, the user is gone, the email was
    sent already, or it no longer applies (address already verified, new address taken since).
    """
    kind = str(payload.get("kind", ""))
    user_id = payload.get("user_id")
    if kind not in KINDS or user_id is None:
        if kind not in KINDS:
            log.warning("email.account.unknown_kind", kind=kind, message_id=message_id)
        return False
    config = deps.config
    with transaction(deps.database.session) as session:
        user = user_repo.get_user(session, int(user_id))
        if user is None:
            return False
        to = str(payload.get("new_email") or user.email) if kind == "email_change" else user.email
        if not _still_applies(session, kind, user, to):
            return False
        proven = user.email_verified and to == user.email
        reset_page = frontend_link(config.public_url, RESET_PATH)
        context: dict[str, Any] = {}
        if kind == "email_changed":
            to = str(payload["old_email"])
            proven = payload.get("old_email_verified") == "true"
            context |= {"old_address": to, "new_address": user.email}
        # Whoever signs up chooses the display name: in mail to an address its owner has not
        # proven, it would be a stranger's text sent to anyone's inbox, so only a proven address
        # is greeted by name (the welcome, verify and signup_attempted templates never are).
        context["display_name"] = user.display_name if proven else ""
        if kind in {"password_changed", "signup_attempted"}:
            context["reset_link"] = reset_page
        if not outbox_repo.claim_email_key(session, deps.ids.next_id(), f"{kind}:{message_id}", to):
            return False
        if kind == "reset":
            token = tokens.issue(
                session,
                deps,
                user_id=user.id,
                purpose=tokens.RESET,
                address=to,
                ttl=config.reset_token_ttl,
            )
            context |= {
                "link": frontend_link(config.public_url, RESET_PATH, token),
                "expires_minutes": int(config.reset_token_ttl.total_seconds() // 60),
            }
        elif kind in {"verify", "email_change"}:
            purpose = tokens.VERIFY if kind == "verify" else tokens.EMAIL_CHANGE
            token = tokens.issue(
                session,
                deps,
                user_id=user.id,
                purpose=purpose,
                address=to,
                ttl=config.verify_token_ttl,
            )
            context |= {
                "link": frontend_link(config.public_url, VERIFY_PATH, token),
                "address": to,
                "expires_hours": int(config.verify_token_ttl.total_seconds() // 3600),
            }
        deps.mailer.send(
            render_email(KINDS[kind], to=to, sender=config.email_from, context=context)
        )
    log.info("email.account.sent", kind=kind, user_id=user_id, message_id=message_id)
    return True


def _still_applies(session: Session, kind: str, user: User, to: str) -> bool:
    if kind == "reset":
        return user.is_active  # a deactivated account cannot log in with a new password either
    if kind == "verify":
        return not user.email_verified
    if kind == "email_change":
        # Taken since the request (or already the login email): nobody is told who asked.
        return to != user.email and user_repo.get_user_by_email(session, to) is None
    return True
