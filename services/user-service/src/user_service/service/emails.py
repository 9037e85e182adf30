"""Transactional emails. Each is sent at most once per key, even when its task is redelivered."""

from __future__ import annotations

from email.message import EmailMessage

from alvin_python_lib.db import transaction
from alvin_python_lib.logging import get_logger
from user_service.db.repository import outbox as outbox_repo
from user_service.db.repository import user as user_repo
from user_service.service.deps import Deps
from user_service.service.email_templates import render_email

log = get_logger(__name__)


def welcome_message(*, to: str, sender: str) -> EmailMessage:
    """The welcome email. It goes out at signup, to an address nobody has proven yet: it carries
    nothing the signup chose (no display name), only the product's own text."""
    return render_email("welcome", to=to, sender=sender, context={})


def send_welcome_email(deps: Deps, user_id: int) -> bool:
    """Send the welcome email of ``user_id`` unless it was sent already; True when sent now.

    The sent-email row is inserted, then the message is sent, then the transaction commits: a
    concurrent duplicate waits on the row and then skips; a failure before the commit (SMTP down,
    worker killed) leaves no row, so the redelivered task sends it.
    """
    with transaction(deps.database.session) as session:
        user = user_repo.get_user(session, user_id)
        if user is None:
            return False  # deleted before the email went out
        if not outbox_repo.claim_email_key(
            session, deps.ids.next_id(), f"welcome:{user_id}", user.email
        ):
            return False
        deps.mailer.send(welcome_message(to=user.email, sender=deps.config.email_from))
    log.info("email.welcome.sent", user_id=user_id)
    return True
