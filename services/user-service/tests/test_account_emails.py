"""Password reset, email verification, email change and the enumeration-safe signup, through the
service layer, the outbox and the production mailer to a real SMTP server on loopback."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage

import pytest
from accounts_support import deliver, last_to, text_of, token_in
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support import DEFAULT_PASSWORD, TEST_CONFIG, FixedClock, MakeUser

from alvin_python_lib.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
)
from user_service.commands.smtp_catcher import SmtpCatcher
from user_service.db.models import AccountToken, OutboxMessage, User
from user_service.remote.email import Mailer
from user_service.service import auth, emails, recovery, registration, tokens, verification
from user_service.service.config import ServiceConfig
from user_service.service.deps import Deps

NEW_PASSWORD = "a brand new passphrase"  # pragma: allowlist secret (a test password)


@pytest.fixture
def mailer(smtp_mailer: Mailer) -> Mailer:
    return smtp_mailer


def _fields(error: InvalidArgument) -> list[str]:
    return [v.field for v in error.violations]


def _outbox_kinds(db: Session) -> list[str]:
    return [
        str(p.get("kind", "welcome"))
        for p in db.scalars(select(OutboxMessage.payload).order_by(OutboxMessage.id))
    ]


# ------------------------------------------------------------------------------ password reset


def test_password_reset_sets_the_password_revokes_sessions_and_sends_a_notice(
    db: Session, deps: Deps, make_user: MakeUser, smtp: SmtpCatcher
) -> None:
    user = make_user(email="reset@example.com")
    login = auth.authenticate(deps, email="reset@example.com", password=DEFAULT_PASSWORD)
    recovery.request_password_reset(deps, email="Reset@Example.com", client_ip="10.0.0.1")
    assert "reset" in deliver(db, deps)
    email = last_to(smtp, "reset@example.com", "Reset your password")
    token = token_in(email)
    assert "http://localhost:8080/reset-password?token=" in text_of(email)
    stored = db.scalars(select(AccountToken).where(AccountToken.purpose == "reset")).one()
    assert stored.token_hash == tokens.hash_token(token)  # only the hash is kept
    assert token.encode() not in stored.token_hash

    recovery.reset_password(deps, token=token, new_password=NEW_PASSWORD)
    with pytest.raises(Unauthenticated):
        auth.validate_session(deps, login.token)
    auth.authenticate(deps, email="reset@example.com", password=NEW_PASSWORD)
    db.refresh(user)
    assert user.email_verified  # the link reached the address
    assert deliver(db, deps) == ["password_changed"]
    notice = last_to(smtp, "reset@example.com", "Your password was changed")
    assert "/reset-password" in text_of(notice)
    assert notice.get_body(preferencelist=("html",)) is not None

    with pytest.raises(InvalidArgument) as used:
        recovery.reset_password(deps, token=token, new_password=NEW_PASSWORD + " again")
    assert _fields(used.value) == ["token"]


def test_reset_for_an_unknown_address_answers_the_same_and_sends_nothing(
    db: Session, deps: Deps, make_user: MakeUser, smtp: SmtpCatcher
) -> None:
    make_user(email="known@example.com")
    deliver(db, deps)
    before = len(smtp.messages)
    known = recovery.request_password_reset(deps, email="known@example.com")
    unknown = recovery.request_password_reset(deps, email="nobody@example.com")
    malformed = recovery.request_password_reset(deps, email="not an email")
    assert known is unknown is malformed is None
    # one outbox row each: the same work whether or not the address has an account
    assert _outbox_kinds(db)[-3:] == ["reset", "reset", "reset"]
    assert deliver(db, deps) == ["reset"]
    assert [m["To"] for m in smtp.messages[before:]] == ["known@example.com"]


def test_reset_errors_name_the_token_and_leave_no_half_written_rows(
    db: Session, deps: Deps, clock: FixedClock, make_user: MakeUser, smtp: SmtpCatcher
) -> None:
    make_user(email="tok@example.com")
    for bad in ("", "not-a-token"):
        with pytest.raises(InvalidArgument) as error:
            recovery.reset_password(deps, token=bad, new_password=NEW_PASSWORD)
        assert _fields(error.value) == ["token"]
    recovery.request_password_reset(deps, email="tok@example.com")
    deliver(db, deps)
    token = token_in(last_to(smtp, "tok@example.com", "Reset your password"))

    common = "password"  # pragma: allowlist secret
    with pytest.raises(InvalidArgument) as weak:
        recovery.reset_password(deps, token=token, new_password=common)
    assert _fields(weak.value) == ["new_password"]
    # the refused password rolled everything back: the token still works once
    stored = db.scalars(select(AccountToken).where(AccountToken.purpose == "reset")).one()
    assert stored.used_at is None

    # a verification token is not a reset token
    with pytest.raises(InvalidArgument) as other:
        deliver(db, deps)
        verify = token_in(last_to(smtp, "tok@example.com", "Confirm your email address"))
        recovery.reset_password(deps, token=verify, new_password=NEW_PASSWORD)
    assert _fields(other.value) == ["token"]

    clock.advance(TEST_CONFIG.reset_token_ttl + timedelta(seconds=1))
    with pytest.raises(InvalidArgument) as expired:
        recovery.reset_password(deps, token=token, new_password=NEW_PASSWORD)
    assert _fields(expired.value) == ["token"]


def test_a_newer_reset_link_replaces_the_older_one(
    db: Session, deps: Deps, make_user: MakeUser, smtp: SmtpCatcher
) -> None:
    make_user(email="twice@example.com")
    recovery.request_password_reset(deps, email="twice@example.com")
    deliver(db, deps)
    first = token_in(last_to(smtp, "twice@example.com", "Reset your password"))
    recovery.request_password_reset(deps, email="twice@example.com")
    deliver(db, deps)
    second = token_in(last_to(smtp, "twice@example.com", "Reset your password"))
    with pytest.raises(InvalidArgument):
        recovery.reset_password(deps, token=first, new_password=NEW_PASSWORD)
    recovery.reset_password(deps, token=second, new_password=NEW_PASSWORD)


def test_reset_requests_are_throttled_per_address_and_per_client(
    db: Session, deps: Deps, clock: FixedClock
) -> None:
    for _ in range(TEST_CONFIG.reset_max_per_email):
        recovery.request_password_reset(deps, email="victim@example.com", client_ip="10.0.0.9")
    rows = db.scalar(select(func.count()).select_from(OutboxMessage))
    with pytest.raises(ResourceExhausted) as per_address:
        # from another client address too: the inbox is what is protected
        recovery.request_password_reset(deps, email="victim@example.com", client_ip="10.0.0.10")
    assert per_address.value.retry_after is not None
    assert per_address.value.retry_after >= 1
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == rows  # nothing queued

    for n in range(TEST_CONFIG.reset_max_per_ip - TEST_CONFIG.reset_max_per_email):
        recovery.request_password_reset(deps, email=f"other{n}@example.com", client_ip="10.0.0.9")
    with pytest.raises(ResourceExhausted):
        recovery.request_password_reset(deps, email="fresh@example.com", client_ip="10.0.0.9")

    clock.advance(TEST_CONFIG.reset_window)
    recovery.request_password_reset(deps, email="victim@example.com", client_ip="10.0.0.9")


# ---------------------------------------------------------------------- enumeration-safe signup


def test_signup_with_a_taken_address_answers_alike_and_tells_the_owner(
    db: Session, deps: Deps, smtp: SmtpCatcher
) -> None:
    fields = {"password": DEFAULT_PASSWORD, "display_name": "Owner"}
    new = registration.sign_up(deps, email="owner@example.com", **fields)
    duplicate = registration.sign_up(deps, email="OWNER@example.com", **fields)
    assert new is duplicate is None
    assert db.scalar(select(func.count()).select_from(User)) == 1
    assert sorted(deliver(db, deps)) == ["signup_attempted", "verify"]
    attempt = last_to(smtp, "owner@example.com", "Someone tried to sign up with your address")
    assert "/reset-password" in text_of(attempt)
    with pytest.raises(InvalidArgument) as invalid:  # invalid input is still reported
        registration.sign_up(
            deps,
            email="x@example.com",
            password="short",  # pragma: allowlist secret
            display_name="X",
        )
    assert _fields(invalid.value) == ["password"]


# -------------------------------------------------------------------------- email verification


def test_signup_sends_a_verification_link_that_verifies_once(
    db: Session, deps: Deps, make_user: MakeUser, smtp: SmtpCatcher
) -> None:
    user = make_user(email="verify@example.com")
    assert not user.email_verified
    assert deliver(db, deps) == ["verify"]
    email = last_to(smtp, "verify@example.com", "Confirm your email address")
    assert "http://localhost:8080/verify-email?token=" in text_of(email)
    verified = verification.verify_email(deps, token=token_in(email))
    assert verified.id == user.id
    assert verified.email_verified
    with pytest.raises(InvalidArgument) as again:
        verification.verify_email(deps, token=token_in(email))
    assert _fields(again.value) == ["token"]
    with pytest.raises(InvalidArgument) as empty:
        verification.verify_email(deps, token="")
    assert _fields(empty.value) == ["token"]


def test_verification_link_expires(
    db: Session, deps: Deps, clock: FixedClock, make_user: MakeUser, smtp: SmtpCatcher
) -> None:
    make_user(email="late@example.com")
    deliver(db, deps)
    token = token_in(last_to(smtp, "late@example.com", "Confirm your email address"))
    clock.advance(TEST_CONFIG.verify_token_ttl + timedelta(seconds=1))
    with pytest.raises(InvalidArgument) as expired:
        verification.verify_email(deps, token=token)
    assert _fields(expired.value) == ["token"]


@pytest.mark.parametrize(
    "service_config", [replace(TEST_CONFIG, unverified_may_log_in=False)], ids=["strict"]
)
def test_unverified_users_may_not_log_in_when_the_setting_says_so(
    db: Session, deps: Deps, make_user: MakeUser, smtp: SmtpCatcher, service_config: ServiceConfig
) -> None:
    make_user(email="strict@example.com")
    with pytest.raises(FailedPrecondition):
        auth.authenticate(deps, email="strict@example.com", password=DEFAULT_PASSWORD)
    deliver(db, deps)
    verification.verify_email(
        deps, token=token_in(last_to(smtp, "strict@example.com", "Confirm your email address"))
    )
    auth.authenticate(deps, email="strict@example.com", password=DEFAULT_PASSWORD)


def test_unverified_users_may_log_in_by_default(
    db: Session, deps: Deps, make_user: MakeUser
) -> None:
    make_user(email="relaxed@example.com")
    auth.authenticate(deps, email="relaxed@example.com", password=DEFAULT_PASSWORD)


# ------------------------------------------------------------------------------- email change


def test_email_change_takes_effect_when_the_new_address_is_verified(
    db: Session, deps: Deps, make_user: MakeUser, smtp: SmtpCatcher
) -> None:
    user = make_user(email="old@example.com")
    deliver(db, deps)
    verification.request_email_change(
        deps, user_id=user.id, new_email="New@Example.com", current_password=DEFAULT_PASSWORD
    )
    db.refresh(user)
    assert user.email == "old@example.com"  # nothing changes before the verification
    assert deliver(db, deps) == ["email_change"]
    link = last_to(smtp, "new@example.com", "Confirm your email address")
    changed = verification.verify_email(deps, token=token_in(link))
    assert changed.email == "new@example.com"
    assert changed.email_verified
    assert deliver(db, deps) == ["email_changed"]
    notice = last_to(smtp, "old@example.com", "Your login email was changed")
    assert "new@example.com" in text_of(notice)
    auth.authenticate(deps, email="new@example.com", password=DEFAULT_PASSWORD)


def test_email_change_errors(db: Session, deps: Deps, make_user: MakeUser) -> None:
    user = make_user(email="me@example.com")
    with pytest.raises(InvalidArgument) as wrong:
        verification.request_email_change(
            deps, user_id=user.id, new_email="x@example.com", current_password="wrong password"
        )
    assert _fields(wrong.value) == ["current_password"]
    with pytest.raises(InvalidArgument) as missing:
        verification.request_email_change(
            deps, user_id=user.id, new_email="not an email", current_password=""
        )
    assert sorted(_fields(missing.value)) == ["current_password", "new_email"]
    with pytest.raises(InvalidArgument) as same:
        verification.request_email_change(
            deps, user_id=user.id, new_email="ME@example.com", current_password=DEFAULT_PASSWORD
        )
    assert _fields(same.value) == ["new_email"]
    with pytest.raises(NotFound):
        verification.request_email_change(
            deps, user_id=12345, new_email="y@example.com", current_password=DEFAULT_PASSWORD
        )


def test_email_change_to_a_taken_address_answers_alike_and_mails_nobody(
    db: Session, deps: Deps, make_user: MakeUser, smtp: SmtpCatcher
) -> None:
    user = make_user(email="mover@example.com")
    make_user(email="holder@example.com")
    deliver(db, deps)
    before = len(smtp.messages)
    result = verification.request_email_change(
        deps, user_id=user.id, new_email="holder@example.com", current_password=DEFAULT_PASSWORD
    )
    assert result is None
    assert deliver(db, deps) == []
    assert smtp.messages[before:] == []


def test_an_address_taken_before_the_link_is_used_refuses_the_token(
    db: Session, deps: Deps, make_user: MakeUser, smtp: SmtpCatcher
) -> None:
    user = make_user(email="slow@example.com")
    verification.request_email_change(
        deps, user_id=user.id, new_email="race@example.com", current_password=DEFAULT_PASSWORD
    )
    deliver(db, deps)
    token = token_in(last_to(smtp, "race@example.com", "Confirm your email address"))
    make_user(email="race@example.com")
    with pytest.raises(InvalidArgument) as taken:
        verification.verify_email(deps, token=token)
    assert _fields(taken.value) == ["token"]
    db.refresh(user)
    assert user.email == "slow@example.com"


def test_change_password_sends_a_notice(
    db: Session, deps: Deps, make_user: MakeUser, smtp: SmtpCatcher
) -> None:
    user = make_user(email="notice@example.com")
    deliver(db, deps)
    auth.change_password(
        deps, user_id=user.id, current_password=DEFAULT_PASSWORD, new_password=NEW_PASSWORD
    )
    assert deliver(db, deps) == ["password_changed"]
    last_to(smtp, "notice@example.com", "Your password was changed")


def test_email_change_requests_are_throttled_per_user(
    db: Session, deps: Deps, make_user: MakeUser
) -> None:
    user = make_user(email="flooder@example.com")
    for n in range(TEST_CONFIG.reset_max_per_email):
        verification.request_email_change(
            deps,
            user_id=user.id,
            new_email=f"victim{n}@example.com",
            current_password=DEFAULT_PASSWORD,
        )
    queued = db.scalar(select(func.count()).select_from(OutboxMessage))
    with pytest.raises(ResourceExhausted):
        verification.request_email_change(
            deps,
            user_id=user.id,
            new_email="victim@example.com",
            current_password=DEFAULT_PASSWORD,
        )
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == queued


# ------------------------------------------------------------- mail to an address nobody proved

# A display name is whatever the person signing up typed: here, a phishing line.
SPAM_NAME = "Claim your prize at https://evil.example/win <b>now</b>"
SPAM_FRAGMENTS = ("evil.example", "prize", "Claim")


def _parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    return plain.get_content(), html.get_content()  # type: ignore[attr-defined]


def _assert_unnamed(message: EmailMessage) -> None:
    text, markup = _parts(message)
    assert text.splitlines()[0] == "Hello,", text
    assert "<p>Hello,</p>" in markup, markup
    for part in (text, markup):
        for fragment in SPAM_FRAGMENTS:
            assert fragment not in part, (message["Subject"], part)


def test_a_signup_cannot_put_its_text_in_mail_to_an_address_nobody_proved(
    db: Session, deps: Deps, smtp: SmtpCatcher
) -> None:
    victim = "victim@example.com"
    registration.sign_up(deps, email=victim, password=DEFAULT_PASSWORD, display_name=SPAM_NAME)
    user = db.scalars(select(User).where(User.email == victim)).one()
    assert user.display_name == SPAM_NAME  # stored as typed: only the mail leaves it out
    assert emails.send_welcome_email(deps, user.id) is True
    assert deliver(db, deps) == ["verify"]
    _assert_unnamed(last_to(smtp, victim, "Welcome!"))
    _assert_unnamed(last_to(smtp, victim, "Confirm your email address"))

    # the same address again: the "someone tried" email greets the unproven owner's name neither
    registration.sign_up(deps, email=victim, password=DEFAULT_PASSWORD, display_name="Other")
    assert deliver(db, deps) == ["signup_attempted"]
    _assert_unnamed(last_to(smtp, victim, "Someone tried to sign up with your address"))

    # nor does a reset anyone may ask for, while the address is unproven
    recovery.request_password_reset(deps, email=victim)
    assert deliver(db, deps) == ["reset"]
    _assert_unnamed(last_to(smtp, victim, "Reset your password"))


def test_an_email_change_mails_the_new_address_without_the_name(
    db: Session, deps: Deps, make_user: MakeUser, smtp: SmtpCatcher
) -> None:
    user = make_user(email="mover2@example.com", display_name=SPAM_NAME)
    deliver(db, deps)
    verification.verify_email(
        deps, token=token_in(last_to(smtp, "mover2@example.com", "Confirm your email address"))
    )
    # a proven address is greeted by name (escaped in HTML): the name would show if allowed
    recovery.request_password_reset(deps, email="mover2@example.com")
    deliver(db, deps)
    text, markup = _parts(last_to(smtp, "mover2@example.com", "Reset your password"))
    assert text.startswith(f"Hello {SPAM_NAME},")
    assert "https://evil.example/win &lt;b&gt;now&lt;/b&gt;" in markup

    verification.request_email_change(
        deps, user_id=user.id, new_email="target@example.com", current_password=DEFAULT_PASSWORD
    )
    assert deliver(db, deps) == ["email_change"]
    link = last_to(smtp, "target@example.com", "Confirm your email address")
    _assert_unnamed(link)
    verification.verify_email(deps, token=token_in(link))
    assert deliver(db, deps) == ["email_changed"]
    notice = last_to(smtp, "mover2@example.com", "Your login email was changed")
    assert _parts(notice)[0].startswith(f"Hello {SPAM_NAME},")  # the old address was proven


def test_the_change_notice_to_an_unproven_old_address_carries_no_name(
    db: Session, deps: Deps, make_user: MakeUser, smtp: SmtpCatcher
) -> None:
    user = make_user(email="unproven@example.com", display_name=SPAM_NAME)
    verification.request_email_change(
        deps, user_id=user.id, new_email="mine@example.com", current_password=DEFAULT_PASSWORD
    )
    deliver(db, deps)
    verification.verify_email(
        deps, token=token_in(last_to(smtp, "mine@example.com", "Confirm your email address"))
    )
    assert deliver(db, deps) == ["email_changed"]
    notice = last_to(smtp, "unproven@example.com", "Your login email was changed")
    _assert_unnamed(notice)
    assert "mine@example.com" in _parts(notice)[0]
