"""Sending email: the ``Mailer`` the business rules are handed, and its SMTP implementation."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol


class Mailer(Protocol):
    """Anything that delivers a message (SMTP in production; tests hand in their own)."""

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message``; raise ``OSError`` when it could not be delivered."""
        ...


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to deliver mail.

    With ``starttls`` the connection is upgraded before logging in or sending, and the relay's
    certificate must chain to ``ca_file`` (or the system's roots) and name ``host``.
    """

    host: str = "127.0.0.1"
    port: int = 1025
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0
    ca_file: Path | None = None

    def tls_context(self) -> ssl.SSLContext:
        """A context that verifies the relay's certificate and host name."""
        return ssl.create_default_context(cafile=self.ca_file)


class SmtpMailer:
    """Delivers one message per SMTP connection (simple, and enough for transactional mail)."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message``; SMTP errors propagate so the task can be retried."""
        cfg = self.config
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as smtp:
            if cfg.starttls:
                # Without a context smtplib checks neither the certificate nor the host name.
                smtp.starttls(context=cfg.tls_context())
            if cfg.username and cfg.password:
                smtp.login(cfg.username, cfg.password)
            smtp.send_message(message)
