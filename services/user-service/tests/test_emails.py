from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from user_service.db.models import SentEmail
from user_service.service import emails, users
from user_service.test.factories import make_user
from user_service.test.smtp import SmtpCatcher


def test_welcome_email_is_sent_once_per_user(db: Session, smtp: SmtpCatcher) -> None:
    user = make_user(email="welcome@example.com", display_name="Wendy")
    assert emails.send_welcome_email(user.id) is True
    assert emails.send_welcome_email(user.id) is False  # a redelivered task sends nothing
    (message,) = smtp.wait_for(1)
    assert message["To"] == "welcome@example.com"
    assert "Wendy" in message.get_content()
    assert db.scalar(select(func.count()).select_from(SentEmail)) == 1


def test_failed_delivery_leaves_no_record_so_the_retry_sends(
    db: Session, smtp: SmtpCatcher
) -> None:
    from user_service.remote import email as remote_email

    user = make_user()
    remote_email.configure(remote_email.SmtpConfig(host="127.0.0.1", port=1, timeout=2))
    try:
        emails.send_welcome_email(user.id)
    except OSError:
        pass
    else:  # pragma: no cover - port 1 must refuse
        raise AssertionError("delivery to a closed port succeeded")
    assert db.scalar(select(func.count()).select_from(SentEmail)) == 0
    remote_email.configure(remote_email.SmtpConfig(host=smtp.host, port=smtp.port))
    assert emails.send_welcome_email(user.id) is True
    assert len(smtp.wait_for(1)) == 1


def test_deleted_user_gets_no_email(db: Session, smtp: SmtpCatcher) -> None:
    user = make_user()
    users.delete_user(user.id)
    assert emails.send_welcome_email(user.id) is False
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
