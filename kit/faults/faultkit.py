"""What the fault tests drive the stack with: the settings that make faults quick, a GraphQL client
as a single-page app uses it, and background load threads.

The stack itself (each process started, killed and restarted on its own, PostgreSQL and Redis
stopped and started on their data folders, readiness polled against deadlines) is kit/stack's
``Stack``, the launcher e2e and the benchmarks share.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # kit.stack: the launcher every suite shares

from kit.stack import Proc, Stack, wait_for  # noqa: E402
from kit.stack import grpc_health as health_status  # noqa: E402
from kit.stack import stack_in as _stack_in  # noqa: E402

__all__ = [
    "FAST_ENV",
    "LOGIN",
    "ME",
    "SIGNUP",
    "UPDATE_ME",
    "USERS",
    "Answer",
    "Background",
    "Client",
    "Proc",
    "Stack",
    "health_status",
    "stack_in",
    "wait_for",
]

# cheap password hashing, quick health checks and relay ticks: the faults happen in seconds
FAST_ENV = {
    "APP_ENV": "development",
    "USER_SERVICE_LOG_FORMAT": "json",
    "GATEWAY_LOG_FORMAT": "json",
    "USER_SERVICE_ARGON2_TIME_COST": "1",
    "USER_SERVICE_ARGON2_MEMORY_COST_KIB": "1024",
    "USER_SERVICE_ARGON2_PARALLELISM": "1",
    "USER_SERVICE_HEALTH_CHECK_INTERVAL_S": "0.5",
    "USER_SERVICE_GRPC_GRACE_PERIOD_S": "3",
    "USER_SERVICE_OUTBOX_RELAY_SECONDS": "1",
    "USER_SERVICE_DATABASE_STATEMENT_TIMEOUT_MS": "5000",
    # the load and fault runs sign users up continuously from 127.0.0.1
    "USER_SERVICE_SIGNUP_MAX_PER_IP": "100000000",
    "USER_SERVICE_SIGNUP_MAX_GLOBAL": "100000000",
    "GATEWAY_WORKERS": "1",
    "GATEWAY_THREADS": "8",
    "GATEWAY_USER_SERVICE_TIMEOUT_S": "2",
}


SIGNUP = """mutation Signup($input: SignupInput!) {
  signup(input: $input) { ok errors { field message code } } }"""
LOGIN = """mutation Login($input: LoginInput!) {
  login(input: $input) { token user { id } errors { field message code } } }"""
ME = "query Me { me { id email displayName } }"
USERS = """query Users($first: Int) {
  users(first: $first) { edges { node { id displayName invitedBy { id } } } } }"""
UPDATE_ME = """mutation UpdateMe($input: UpdateMeInput!) {
  updateMe(input: $input) { user { displayName } errors { field message code } } }"""
PASSWORD = "a fault-test password"


@dataclass
class Answer:
    """One HTTP answer of the gateway."""

    status: int
    content_type: str
    body: dict[str, Any] | None
    seconds: float
    text: str = ""

    @property
    def codes(self) -> list[str]:
        """``extensions.code`` of every GraphQL error."""
        errors = (self.body or {}).get("errors") or []
        return [str((e.get("extensions") or {}).get("code")) for e in errors]

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.body is not None and not self.codes

    def data(self, field_name: str) -> Any:
        assert self.ok, f"HTTP {self.status} {self.codes}: {self.text[:500]}"
        assert self.body is not None
        return self.body["data"][field_name]


class Client:
    """A GraphQL client over one keep-alive HTTP session, as a single-page app sends requests."""

    def __init__(self, base_url: str, timeout: float = 15.0) -> None:
        self.url = f"{base_url}/graphql"
        self.timeout = timeout
        self.session = requests.Session()
        self.token: str | None = None

    def run(self, query: str, variables: dict[str, Any] | None = None) -> Answer:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        started = time.monotonic()
        response = self.session.post(
            self.url,
            json={"query": query, "variables": variables or {}},
            headers=headers,
            timeout=self.timeout,
        )
        elapsed = time.monotonic() - started
        content_type = response.headers.get("Content-Type", "")
        body = response.json() if content_type.startswith("application/json") else None
        return Answer(response.status_code, content_type, body, elapsed, response.text)

    def signup(self, address: str, display_name: str = "Fault") -> Answer:
        data = {"email": address, "password": PASSWORD, "displayName": display_name}
        return self.run(SIGNUP, {"input": data})

    def login(self, address: str) -> Answer:
        credentials = {"email": address, "password": PASSWORD, "tokenDelivery": "BEARER"}
        answer = self.run(LOGIN, {"input": credentials})
        if answer.ok and answer.data("login")["token"]:
            self.token = answer.data("login")["token"]
        return answer

    def close(self) -> None:
        self.session.close()


class Background:
    """Run ``fn`` in a loop on ``threads`` threads until :meth:`stop`; collects what it returns."""

    def __init__(self, fn: Callable[[int], Any], threads: int = 1) -> None:
        self.fn = fn
        self.results: list[Any] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._loop, args=(n,), daemon=True) for n in range(threads)
        ]

    def _loop(self, n: int) -> None:
        while not self._stop.is_set():
            try:
                result = self.fn(n)
            except BaseException as exc:
                with self._lock:
                    self.errors.append(exc)
                continue
            with self._lock:
                self.results.append(result)

    def __enter__(self) -> Background:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count(self) -> int:
        with self._lock:
            return len(self.results)


@contextlib.contextmanager
def stack_in(folder: Path, postgres_template: Path | None = None) -> Iterator[Stack]:
    """A kit/stack :class:`Stack` in ``folder`` with :data:`FAST_ENV`, torn down on exit."""
    with _stack_in(folder, postgres_template, defaults=FAST_ENV) as stack:
        yield stack
