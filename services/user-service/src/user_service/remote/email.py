"""Sending email through SMTP (smtplib); the server comes from settings via ``configure``."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to deliver mail."""

    host: str = "127.0.0.1"
    port: int = 1025
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0


class SmtpMailer:
    """Delivers one message per SMTP connection (simple, and enough for transactional mail)."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message``; SMTP errors propagate so the task can be retried."""
        cfg = self.config
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as smtp:
            if cfg.starttls:
                smtp.starttls()
            if cfg.username and cfg.password:
                smtp.login(cfg.username, cfg.password)
            smtp.send_message(message)


_mailer: SmtpMailer | None = None


def configure(config: SmtpConfig) -> None:
    """Set the process's mailer (at start-up)."""
    global _mailer  # noqa: PLW0603 - one mailer per process, set at start-up
    _mailer = SmtpMailer(config)


def get_mailer() -> SmtpMailer:
    """The configured mailer."""
    if _mailer is None:
        raise RuntimeError("user_service.remote.email.configure() was not called")
    return _mailer
