"""The real user-service for tests: ``user-service db upgrade`` then ``user-service grpcserver``
on a database of its own, as in production.

::

    with fresh_database(server_url) as url, run_user_service(url, workdir=tmp) as service:
        client = UserServiceClient.connect(service.target, token=service.token)

The gateway knows the user-service only by its command and its gRPC contract: nothing here
imports it (the ``user-service`` executable must be installed, as the ``test`` dependency group
does).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from alvin_python_lib.db import create_engine, normalize_url
from gateway_graphql.remote.user_service import SERVICE_NAME

__all__ = [
    "TEST_TOKEN",
    "UserServiceProcess",
    "free_port",
    "fresh_database",
    "own_user_service",
    "run_user_service",
    "wait_until",
]

TEST_TOKEN = "gateway-test-service-token-of-32-chars+"  # pragma: allowlist secret

# Cheap password hashing and a generous per-address login limit: every test logs in from
# 127.0.0.1. The per-email limit stays low so that RATE_LIMITED can be tested.
TEST_ENV = {
    "USER_SERVICE_ARGON2_TIME_COST": "1",
    "USER_SERVICE_ARGON2_MEMORY_COST_KIB": "8",
    "USER_SERVICE_ARGON2_PARALLELISM": "1",
    "USER_SERVICE_THROTTLE_MAX_FAILURES_PER_EMAIL": "3",
    "USER_SERVICE_THROTTLE_MAX_FAILURES_PER_IP": "10000",
    # every test request comes from 127.0.0.1: only the per-address reset limit applies here
    "USER_SERVICE_RESET_MAX_PER_IP": "10000",
    "USER_SERVICE_SIGNUP_MAX_PER_IP": "10000",  # and the per-address signup limit
    "USER_SERVICE_GRPC_GRACE_PERIOD_S": "2",
    "USER_SERVICE_LOG_FORMAT": "json",
}


def _tool(name: str) -> str:
    return shutil.which(name) or str(Path(sys.executable).parent / name)


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: object, *, timeout: float, interval: float = 0.05, message: str = "condition"
) -> None:
    """Poll ``condition()`` until it is truthy; AssertionError after ``timeout`` seconds."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)  # polling interval, not synchronisation


@contextmanager
def fresh_database(server_url: str, *, prefix: str = "gateway_test") -> Iterator[str]:
    """An empty database on the server of ``server_url``, dropped afterwards; yields its URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield normalize_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class UserServiceProcess:
    """A running ``user-service grpcserver``."""

    target: str
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path
    #: The environment it runs with (the CLI commands of :meth:`cli` use the same database).
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: Path | None = None

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def serving(self, timeout: float = 1.0) -> bool:
        """True when its health service answers SERVING for the UserService."""
        with grpc.insecure_channel(self.target) as channel:
            check = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            try:
                response = check(
                    health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=timeout
                )
            except grpc.RpcError:
                return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``user-service ARGS`` (the operator's CLI) on this service's database."""
        return subprocess.run(
            [_tool("user-service"), *args],
            env=dict(self.env),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful), then SIGKILL after ``timeout``; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextmanager
def run_user_service(
    database_url: str,
    *,
    workdir: Path,
    token: str = TEST_TOKEN,
    env: Mapping[str, str] | None = None,
    start_timeout: float = 60.0,
) -> Iterator[UserServiceProcess]:
    """Migrate ``database_url`` and serve the user-service on a free loopback port."""
    port = free_port()
    process_env = {
        **os.environ,
        **TEST_ENV,
        "APP_ENV": "test",
        "USER_SERVICE_DATABASE_URL": database_url,
        # required by the settings, unused by the gRPC server process
        "USER_SERVICE_REDIS_URL": "redis://127.0.0.1:1/0",
        "USER_SERVICE_GRPC_HOST": "127.0.0.1",
        "USER_SERVICE_GRPC_PORT": str(port),
        "USER_SERVICE_GRPC_SERVICE_TOKEN": token,
        **(env or {}),
    }
    workdir.mkdir(parents=True, exist_ok=True)
    upgrade = subprocess.run(
        [_tool("user-service"), "db", "upgrade"],
        env=process_env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if upgrade.returncode != 0:
        raise RuntimeError(f"user-service db upgrade failed:\n{upgrade.stderr}")
    log_path = workdir / "user-service.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [_tool("user-service"), "grpcserver"],
            env=process_env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    service = UserServiceProcess(
        target=f"127.0.0.1:{port}",
        token=token,
        process=process,
        log_path=log_path,
        env=process_env,
        workdir=workdir,
    )
    try:
        deadline = time.monotonic() + start_timeout
        while not service.serving():
            if process.poll() is not None:
                raise RuntimeError(f"user-service exited:\n{service.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"user-service not SERVING after {start_timeout}s")
            time.sleep(0.05)  # polling interval
        yield service
    finally:
        service.stop()


@contextmanager
def own_user_service(
    server_url: str,
    *,
    prefix: str,
    token: str = TEST_TOKEN,
    env: Mapping[str, str] | None = None,
) -> Iterator[UserServiceProcess]:
    """A user-service on a new database and work folder of its own, both removed afterwards;
    ``env`` adds to (or overrides) its environment, e.g. lower limits."""
    # Not under pytest's basetemp: a concurrent pytest run may prune it.
    workdir = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    try:
        with (
            fresh_database(server_url, prefix=prefix) as url,
            run_user_service(url, workdir=workdir, token=token, env=env) as service,
        ):
            yield service
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
