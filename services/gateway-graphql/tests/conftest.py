"""Fixtures: ONE real user-service (subprocess, fresh migrated database) for the whole session,
and per test a gateway app in front of it, driven through Flask's test client.

``USER_SERVICE_MODE=inprocess`` runs the same tests against the user-service served inside the
test process (the one-process deployment): the fixture ``inprocess_user_service_factory`` comes
from services/one-process's pytest plugin, so nothing here imports the user-service. Tests marked
``user_service_process`` need it as a process of its own and are skipped in that mode.
"""

from __future__ import annotations

import io
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from support.graphql_client import GraphQLTestClient
from support.rpc_counter import RpcCounter
from support.user_service_process import (
    TEST_ENV,
    UserServiceProcess,
    own_user_service,
)
from werkzeug.serving import make_server

from alvin_python_lib.config import load_settings
from alvin_python_lib.logging import configure_logging
from gateway_graphql.app.bootstrap import connect_user_service
from gateway_graphql.app.factory import create_app
from gateway_graphql.app.settings import Settings
from gateway_graphql.remote.user_service import User, UserServiceClient

TOKEN = "gateway-test-service-token-of-32-chars+"  # pragma: allowlist secret
PASSWORD = "correct horse battery"
# The session cookie's name under APP_ENV=test: Secure, hence __Host- (development: gateway_session)
SESSION_COOKIE = "__Host-gateway_session"


def make_settings(target: str = "127.0.0.1:1", **overrides: Any) -> Settings:
    """Gateway settings for tests (APP_ENV=test unless overridden)."""
    values: dict[str, Any] = {
        "app_env": "test",
        "user_service_target": target,
        "user_service_token": TOKEN,
        "user_service_timeout_s": 5.0,
        **overrides,
    }
    return load_settings(Settings, **values)


@pytest.fixture(scope="session", autouse=True)
def _json_logs() -> None:
    """Logs as in production (and fast: no rich tracebacks with locals)."""
    configure_logging(level="INFO", fmt="json", service="gateway-test")


IN_PROCESS = os.environ.get("USER_SERVICE_MODE", "grpc") == "inprocess"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "user_service_process: needs the user-service as a process of its own"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if IN_PROCESS:
        skip = pytest.mark.skip(reason="needs the user-service as its own process (inprocess)")
        for item in items:
            if item.get_closest_marker("user_service_process"):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def user_service(database_url: str, request: pytest.FixtureRequest) -> Iterator[UserServiceProcess]:
    """The real user-service, once per test session, on its own migrated database."""
    if IN_PROCESS:
        start = request.getfixturevalue("inprocess_user_service_factory")
        prefix = "gateway_user_service"
        with start(database_url, prefix=prefix, token=TOKEN, env=TEST_ENV) as service:
            yield service
        return
    with own_user_service(database_url, prefix="gateway_user_service", token=TOKEN) as service:
        yield service


@pytest.fixture(scope="session")
def remote(user_service: UserServiceProcess) -> Iterator[UserServiceClient]:
    """A client of the real user-service, for arranging test data."""
    client = UserServiceClient.connect(user_service.target, token=TOKEN, timeout_s=10)
    yield client
    client.close()


@pytest.fixture
def settings(user_service: UserServiceProcess) -> Settings:
    return make_settings(user_service.target)


@pytest.fixture
def rpc_counter() -> RpcCounter:
    return RpcCounter()


@pytest.fixture
def app_factory(
    rpc_counter: RpcCounter,
) -> Iterator[Callable[[Settings], Flask]]:
    """Build gateway apps whose user-service calls are counted by ``rpc_counter``."""
    clients: list[UserServiceClient] = []

    def build(settings: Settings) -> Flask:
        client = connect_user_service(settings, interceptors=[rpc_counter])
        clients.append(client)
        return create_app(settings, user_service=client)

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def app(app_factory: Callable[[Settings], Flask], settings: Settings) -> Flask:
    return app_factory(settings)


@pytest.fixture
def gql(app: Flask) -> GraphQLTestClient:
    return GraphQLTestClient(app.test_client())


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture
def make_user(remote: UserServiceClient) -> Callable[..., User]:
    """Create a user directly in the user-service (password: PASSWORD)."""

    def make(
        display_name: str = "Test User", *, invited_by_id: int | None = None, email: str = ""
    ) -> User:
        return remote.create_user(
            email=email or unique_email(),
            password=PASSWORD,
            display_name=display_name,
            invited_by_id=invited_by_id,
        )

    return make


class LogLines:
    """JSON log lines written while the fixture is active."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._stream.getvalue().splitlines() if line]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    stream = io.StringIO()
    configure_logging(level="DEBUG", fmt="json", service="gateway-test", stream=stream)
    yield LogLines(stream)
    configure_logging(level="INFO", fmt="json", service="gateway-test")


@contextmanager
def serve_app(app: Flask) -> Iterator[str]:
    """``app`` served over real HTTP by werkzeug in a thread, on a free port: its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-gateway", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def serve_gateway(settings: Settings) -> Iterator[str]:
    """The gateway served over real HTTP by werkzeug in a thread, on a free port: its base URL."""
    client = connect_user_service(settings)
    try:
        with serve_app(create_app(settings, user_service=client)) as url:
            yield url
    finally:
        client.close()


@pytest.fixture(scope="module")
def live_gateway(user_service: UserServiceProcess) -> Iterator[str]:
    """The gateway (APP_ENV=test) over real HTTP: its base URL."""
    with serve_gateway(make_settings(user_service.target)) as url:
        yield url
