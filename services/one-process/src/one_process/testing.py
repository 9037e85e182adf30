"""A pytest plugin (entry point ``pytest11``): the user-service in the test process, for suites
that take a user-service by target.

``inprocess_user_service_factory`` gives ``start(server_url, *, prefix, token, env)``: a context
manager that creates a database on the session's PostgreSQL server, migrates it with
``user-service db upgrade`` (as a deployment does), builds the user-service with its own
composition root and serves it on an :class:`~alvin_grpc.inprocess.InProcessServer`. Its
``target`` (``inprocess:<name>``) goes wherever a ``host:port`` would. The gateway's suite asks
for the fixture by name when ``USER_SERVICE_MODE=inprocess`` (its conftest), so the gateway never
imports the user-service.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from grpc_health.v1 import health_pb2
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from alvin_grpc.inprocess import InProcessServer
from alvin_python_lib.config import load_settings
from alvin_python_lib.db import create_engine, normalize_url
from user_service.app.bootstrap import Container, bootstrap
from user_service.app.server import registration
from user_service.app.settings import Settings

__all__ = [
    "InProcessUserService",
    "inprocess_user_service",
    "inprocess_user_service_factory",
    "migrated_database",
    "start_inprocess_user_service",
    "user_service_settings",
]

ENV_PREFIX = "USER_SERVICE_"
StartUserService = Callable[..., AbstractContextManager["InProcessUserService"]]


@dataclass
class InProcessUserService:
    """The user-service served in this process: what a test needs of a running user-service."""

    target: str
    token: str
    server: InProcessServer
    container: Container

    def log(self) -> str:
        """Nothing: its lines go to this process's logging, with the caller's."""
        return ""

    def serving(self, timeout: float = 1.0) -> bool:
        """True while its health says SERVING (until :meth:`stop`)."""
        check = self.server.channel().unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            reply = check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except Exception:  # the server is stopped: its calls fail
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stop serving (calls fail with UNAVAILABLE from now on)."""
        self.server.stop()
        return 0


def _tool(name: str) -> str:
    return shutil.which(name) or str(Path(sys.executable).parent / name)


@contextmanager
def _fresh_database(server_url: str, prefix: str) -> Iterator[str]:
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


def _settings(database_url: str, token: str, env: Mapping[str, str]) -> Settings:
    values: dict[str, Any] = {
        "app_env": "test",
        "database_url": database_url,
        "redis_url": "redis://127.0.0.1:1/0",  # required by the settings, unused by the API
        "grpc_service_token": token,
    }
    for key, value in env.items():
        if key.startswith(ENV_PREFIX):
            values[key[len(ENV_PREFIX) :].lower()] = value
    return load_settings(Settings, **values)


@contextmanager
def migrated_database(server_url: str, *, prefix: str) -> Iterator[str]:
    """A new database on the server of ``server_url`` migrated by ``user-service db upgrade``
    (as a deployment does); dropped afterwards. Yields its URL."""
    with _fresh_database(server_url, prefix) as url:
        upgrade = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
            [_tool("user-service"), "db", "upgrade"],
            env={**os.environ, "APP_ENV": "test", "USER_SERVICE_DATABASE_URL": url,
                 "USER_SERVICE_REDIS_URL": "redis://127.0.0.1:1/0"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )  # fmt: skip
        if upgrade.returncode != 0:
            raise RuntimeError(f"user-service db upgrade failed:\n{upgrade.stderr}")
        yield url


def user_service_settings(
    database_url: str, *, token: str, env: Mapping[str, str] | None = None
) -> Settings:
    """User-service settings for tests (``APP_ENV=test``); ``env`` holds ``USER_SERVICE_*``
    values, as a subprocess would be given them."""
    return _settings(database_url, token, env or {})


@contextmanager
def start_inprocess_user_service(
    server_url: str,
    *,
    prefix: str,
    token: str,
    env: Mapping[str, str] | None = None,
    name: str | None = None,
) -> Iterator[InProcessUserService]:
    """The user-service on a new migrated database of ``server_url``, served in this process.

    ``env`` holds ``USER_SERVICE_*`` settings, as a subprocess would be given them.
    """
    with migrated_database(server_url, prefix=prefix) as url:
        container = bootstrap(_settings(url, token, env or {}), process="grpc")
        server = InProcessServer(
            [registration(container.deps)],
            container.settings,
            name=name or f"{prefix}-{secrets.token_hex(4)}",
            database=container.deps.database,
        ).start()
        try:
            yield InProcessUserService(server.target, token, server, container)
        finally:
            server.stop()
            container.close()


@pytest.fixture(scope="session")
def inprocess_user_service_factory() -> StartUserService:
    """``start(server_url, *, prefix, token, env=None)``: see
    :func:`start_inprocess_user_service`."""
    return start_inprocess_user_service


@pytest.fixture(scope="session")
def inprocess_user_service(database_url: str) -> Iterator[InProcessUserService]:
    """A user-service in this process on its own database, with a random service token."""
    token = secrets.token_urlsafe(32)
    with start_inprocess_user_service(database_url, prefix="inprocess", token=token) as service:
        yield service
