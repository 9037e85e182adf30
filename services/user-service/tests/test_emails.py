"""Welcome emails through the production mailer to a real SMTP server on loopback; STARTTLS with
the relay's certificate verified."""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support import MakeUser

from user_service.app.bootstrap import smtp_config_from
from user_service.app.settings import Settings
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
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    # sent at signup, before anyone proved the address: no text the signup chose
    assert body.get_content().splitlines()[0] == "Hello,"  # type: ignore[attr-defined]
    assert "Wendy" not in body.get_content()  # type: ignore[attr-defined]
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


def test_catcher_saves_messages_as_eml_files(tmp_path: Path) -> None:
    with SmtpCatcher(save_dir=tmp_path / "mail") as catcher:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@x.test", "b@x.test", "Hi"
        message.set_content("body")
        with smtplib.SMTP(catcher.host, catcher.port, timeout=5) as client:
            client.send_message(message)
        catcher.wait_for(1)
    (saved,) = (tmp_path / "mail").glob("*.eml")
    assert b"Subject: Hi" in saved.read_bytes()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no CA signed, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay.test")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "relay.pem", folder / "relay.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@x.test", "b@x.test", "Hi"
    message.set_content("body")
    return message


@pytest.fixture
def tls_relay(tmp_path: Path) -> Iterator[tuple[SmtpCatcher, Path]]:
    """A relay on loopback that requires STARTTLS, with a self-signed certificate (and its PEM)."""
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with SmtpCatcher(tls_context=context) as relay:
        yield relay, cert


def test_starttls_refuses_a_relay_whose_certificate_is_not_trusted(
    tls_relay: tuple[SmtpCatcher, Path],
) -> None:
    relay, cert = tls_relay
    config = SmtpConfig(host=relay.host, port=relay.port, starttls=True, timeout=5)
    with pytest.raises(ssl.SSLCertVerificationError, match="self-signed certificate"):
        SmtpMailer(config).send(_message())
    assert relay.messages == []

    SmtpMailer(replace(config, ca_file=cert)).send(_message())  # the relay's CA is trusted
    assert len(relay.wait_for(1)) == 1


def test_starttls_refuses_a_certificate_for_another_host(
    tls_relay: tuple[SmtpCatcher, Path],
) -> None:
    relay, cert = tls_relay
    config = SmtpConfig(host="localhost", port=relay.port, starttls=True, ca_file=cert, timeout=5)
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        SmtpMailer(config).send(_message())
    assert relay.messages == []


def test_starttls_fails_when_the_relay_offers_no_tls(smtp: SmtpCatcher) -> None:
    config = SmtpConfig(host=smtp.host, port=smtp.port, starttls=True, timeout=5)
    with pytest.raises(smtplib.SMTPNotSupportedError):
        SmtpMailer(config).send(_message())
    assert smtp.messages == []


def test_deployed_settings_deliver_over_verified_tls(
    tls_relay: tuple[SmtpCatcher, Path], database_url: str, redis_url: str
) -> None:
    relay, cert = tls_relay
    common = {
        "database_url": database_url,
        "redis_url": redis_url,
        "smtp_host": relay.host,
        "public_url": "https://app.example.com",
    }
    deployed = Settings(app_env="staging", smtp_port=relay.port, **common)  # type: ignore[call-arg]
    with pytest.raises(ssl.SSLCertVerificationError):
        SmtpMailer(smtp_config_from(deployed)).send(_message())
    trusted = deployed.model_copy(update={"smtp_ca_file": cert})
    SmtpMailer(smtp_config_from(trusted)).send(_message())
    assert len(relay.wait_for(1)) == 1
