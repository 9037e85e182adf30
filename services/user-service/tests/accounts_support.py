"""Deliver queued account emails without Celery, and read the tokens out of them."""

from __future__ import annotations

import re
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from user_service.commands.smtp_catcher import SmtpCatcher
from user_service.db.models import OutboxMessage
from user_service.service.account_mail import ACCOUNT_EMAIL_TOPIC, send_account_email
from user_service.service.deps import Deps

_TOKEN = re.compile(r"\?token=([A-Za-z0-9_\-%]+)")


def deliver(db: Session, deps: Deps) -> list[str]:
    """Send every pending account email as the worker's task would; returns their kinds sent."""
    rows = db.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.topic == ACCOUNT_EMAIL_TOPIC, OutboxMessage.relayed_at.is_(None))
        .order_by(OutboxMessage.id)
    ).all()
    sent = []
    for row in rows:
        row.relayed_at = deps.clock()
        if send_account_email(deps, row.id, dict(row.payload)):
            sent.append(str(row.payload["kind"]))
    db.flush()
    return sent


def text_of(message: EmailMessage) -> str:
    """The plain-text part."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def token_in(message: EmailMessage) -> str:
    """The token of the link in ``message``'s plain-text part."""
    found = _TOKEN.search(text_of(message))
    assert found, text_of(message)
    return found.group(1)


def last_to(smtp: SmtpCatcher, address: str, subject: str) -> EmailMessage:
    """The last message caught for ``address`` with ``subject``."""
    matches = [m for m in smtp.messages if m["To"] == address and m["Subject"] == subject]
    assert matches, [(m["To"], m["Subject"]) for m in smtp.messages]
    return matches[-1]
