"""A local SMTP server that keeps what it receives (aiosmtpd): `user-service smtp`, and tests."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _Handler:
    def __init__(self, save_dir: Path | None) -> None:
        self.messages: list[EmailMessage] = []
        self.received = threading.Condition()
        self.save_dir = save_dir

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.received:
            if self.save_dir is not None:
                name = f"{time.strftime('%Y%m%dT%H%M%S')}-{len(self.messages) + 1:05d}.eml"
                (self.save_dir / name).write_bytes(envelope.content)
            self.messages.append(parsed)
            self.received.notify_all()
        return "250 Message accepted"


class SmtpCatcher:
    """``with SmtpCatcher() as smtp:`` a server on ``smtp.host:smtp.port``; ``smtp.messages``.

    With ``save_dir`` every message is also written there as an ``.eml`` file. With
    ``tls_context`` (a server context holding its certificate) it offers STARTTLS and accepts mail
    only after it, as a relay that requires TLS.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        save_dir: Path | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if port == 0:  # aiosmtpd checks readiness by connecting, so it needs a concrete port
            with socket.socket() as probe:
                probe.bind((host, 0))
                port = int(probe.getsockname()[1])
        if save_dir is not None:
            save_dir.mkdir(parents=True, exist_ok=True)
        self._handler = _Handler(save_dir)
        self._controller = Controller(
            self._handler,
            hostname=host,
            port=port,
            tls_context=tls_context,
            require_starttls=tls_context is not None,
        )
        self.host = host
        self.port = port

    @property
    def messages(self) -> list[EmailMessage]:
        """Messages received so far."""
        return list(self._handler.messages)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until at least ``count`` messages arrived (or ``timeout``); return them."""
        with self._handler.received:
            self._handler.received.wait_for(lambda: len(self._handler.messages) >= count, timeout)
        return self.messages

    def start(self) -> SmtpCatcher:
        """Start serving in a background thread."""
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._controller.stop()

    def __enter__(self) -> SmtpCatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
