"""The stacks the end-to-end tests drive: started here like `nox -s up`, or already running in compose.

Both answer the same questions through the stack's own public surfaces: where GraphQL is, which
email reached a recipient, and what a process logged. ``E2E_STACK=compose`` points the suite at a
compose project named the way Compose itself is told (``COMPOSE_PROJECT_NAME``, ``COMPOSE_FILE``,
``DOCKER_HOST``; ``E2E_COMPOSE`` is the compose command, default ``docker compose``).
"""

from __future__ import annotations

import email
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email import policy
from email.message import Message
from pathlib import Path
from typing import Any

from otlp_receiver import OtlpReceiver

# kit.stack, the launcher every suite shares (the containers' facts import this module too)
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from kit.stack.launched import LaunchedStack, json_records

POLL_S = 0.2  # polling interval while waiting for an email or a log line


class Stack:
    """What every stack offers the tests."""

    gateway_url: str

    @property
    def graphql_url(self) -> str:
        return f"{self.gateway_url}/graphql"

    def json_lines_of(self, process_name: str) -> list[dict[str, Any]]:
        """The JSON log records of one process: "gateway", "grpc", "worker" or "scheduler"."""
        raise NotImplementedError

    def _find_mail(self, recipient: str, subject: str | None = None) -> Message | None:
        raise NotImplementedError

    def wait_for_mail(
        self, recipient: str, timeout: float = 30, *, subject: str | None = None
    ) -> Message:
        """The first email caught for ``recipient`` (with ``subject``, when given), polling until
        ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self._find_mail(recipient, subject)
            if found is not None:
                return found
            time.sleep(POLL_S)
        raise AssertionError(
            f"no email to {recipient} ({subject or 'any subject'}) within {timeout}s"
        )


@dataclass
class LocalStack(LaunchedStack, Stack):
    """The stack run by deploy/local/run_stack.py, as `nox -s up` runs it (kit/stack starts it)."""

    # every span the processes exported (OTLP over HTTP to a receiver in this test process)
    traces: OtlpReceiver | None = None

    def _find_mail(self, recipient: str, subject: str | None = None) -> Message | None:
        for path in sorted(self.mail_dir.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            if message["To"] == recipient and subject in (None, message["Subject"]):
                return message
        return None


# the local stack's process names -> the compose file's services
COMPOSE_SERVICES = {
    "gateway": "gateway",
    "grpc": "user-grpc",
    "worker": "user-worker",
    "scheduler": "user-scheduler",
}


@dataclass
class ComposeStack(Stack):
    """A compose project that is already up: reached through nginx's and Mailpit's published ports."""

    command: list[str]
    gateway_url: str
    mail_url: str

    @classmethod
    def from_environment(cls) -> ComposeStack:
        command = shlex.split(os.environ.get("E2E_COMPOSE", "docker compose"))
        return cls(
            command=command,
            gateway_url=f"http://{_published(command, 'nginx', 80)}",
            mail_url=f"http://{_published(command, 'mailpit', 8025)}",
        )

    def compose(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [*self.command, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise AssertionError(f"`compose {' '.join(args)}` failed:\n{result.stderr}")
        return result.stdout

    def json_lines_of(self, process_name: str) -> list[dict[str, Any]]:
        service = COMPOSE_SERVICES[process_name]
        return json_records(self.compose("logs", "--no-log-prefix", service).splitlines())

    def _find_mail(self, recipient: str, subject: str | None = None) -> Message | None:
        # Mailpit's API: search by recipient, then the raw source of the first match
        query = urllib.parse.urlencode({"query": f"to:{recipient}"})
        with urllib.request.urlopen(f"{self.mail_url}/api/v1/search?{query}", timeout=5) as r:
            listing = json.load(r)
        for summary in listing["messages"]:
            if subject is not None and summary.get("Subject") != subject:
                continue
            if any(to["Address"] == recipient for to in summary["To"]):
                raw_url = f"{self.mail_url}/api/v1/message/{summary['ID']}/raw"
                with urllib.request.urlopen(raw_url, timeout=5) as r:
                    return email.message_from_bytes(r.read(), policy=policy.default)
        return None


def _published(command: list[str], service: str, port: int) -> str:
    """``host:port`` where compose published a service's port on this machine."""
    result = subprocess.run(
        [*command, "port", service, str(port)], capture_output=True, text=True, check=False
    )
    address = result.stdout.strip()
    if result.returncode != 0 or not address:
        raise RuntimeError(
            f"E2E_STACK=compose: `compose port {service} {port}` found nothing: is the project up? "
            f"{result.stderr.strip()}"
        )
    host, _, published = address.rpartition(":")
    return f"{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{published}"
