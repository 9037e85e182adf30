"""Welcome emails through the production mailer to a real SMTP server on loopback."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support import MakeUser

from user_service.commands.smtp_catcher import SmtpCatcher
from user_service.db.models import SentEmail
from user_service.remote.email import Mailer, SmtpConfig, SmtpMailer
from user_service.service import emails, users
from user_service.service.deps import Deps


@pytest.fixture
def mailer(smtp_mailer: Mailer) -> Mailer:
    """The container's mailer delivers to the ``smtp`` catcher in this module."""
    return smtp_mailer


def test_welcome_email_is_sent_once_per_user(
    db: Session, smtp: SmtpCatcher, make_user: MakeUser, deps: Deps
) -> None:
    user = make_user(email="welcome@example.com", display_name="Wendy")
    assert emails.send_welcome_email(deps, user.id) is True
    assert emails.send_welcome_email(deps, user.id) is False  # a redelivered task sends nothing
    (message,) = smtp.wait_for(1)
    assert message["To"] == "welcome@example.com"
    assert "Wendy" in message.get_content()
    assert db.scalar(select(func.count()).select_from(SentEmail)) == 1


def test_failed_delivery_leaves_no_record_so_the_retry_sends(
    db: Session, smtp: SmtpCatcher, make_user: MakeUser, deps: Deps
) -> None:
    user = make_user()
    refused = SmtpMailer(SmtpConfig(host="127.0.0.1", port=1, timeout=2))  # SMTP down
    with pytest.raises(ConnectionRefusedError):
        emails.send_welcome_email(replace(deps, mailer=refused), user.id)
    assert db.scalar(select(func.count()).select_from(SentEmail)) == 0
    assert emails.send_welcome_email(deps, user.id) is True
    assert len(smtp.wait_for(1)) == 1


def test_deleted_user_gets_no_email(
    db: Session, smtp: SmtpCatcher, make_user: MakeUser, deps: Deps
) -> None:
    user = make_user()
    users.delete_user(deps, user.id)
    assert emails.send_welcome_email(deps, user.id) is False
    assert smtp.messages == []


def test_catcher_saves_messages_as_eml_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import smtplib
    from email.message import EmailMessage

    with SmtpCatcher(save_dir=tmp_path / "mail") as catcher:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@x.test", "b@x.test", "Hi"
        message.set_content("body")
        with smtplib.SMTP(catcher.host, catcher.port, timeout=5) as client:
            client.send_message(message)
        catcher.wait_for(1)
    (saved,) = (tmp_path / "mail").glob("*.eml")
    assert b"Subject: Hi" in saved.read_bytes()
