"""Fixtures: the one-process app on a migrated database of the session's PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from alvin_python_lib.config import load_settings
from alvin_python_lib.logging import configure_logging
from gateway_graphql.app.settings import Settings as GatewaySettings
from one_process.app import OneProcess, build
from one_process.testing import migrated_database, user_service_settings

TOKEN = "one-process-test-service-token-32-chars+"  # pragma: allowlist secret
# cheap hashing for tests, as the gateway's suite configures its user-service
FAST = {
    "USER_SERVICE_ARGON2_TIME_COST": "1",
    "USER_SERVICE_ARGON2_MEMORY_COST_KIB": "8",
    "USER_SERVICE_ARGON2_PARALLELISM": "1",
}


@pytest.fixture(scope="session", autouse=True)
def _json_logs() -> None:
    configure_logging(level="INFO", fmt="json", service="one-process-test")


@pytest.fixture(scope="session")
def one_database(database_url: str) -> Iterator[str]:
    with migrated_database(database_url, prefix="one_process") as url:
        yield url


def gateway_settings(**overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "app_env": "test",
        "user_service_token": TOKEN,
        "user_service_timeout_s": 5.0,
        **overrides,
    }
    return load_settings(GatewaySettings, **values)


@pytest.fixture
def one(one_database: str) -> Iterator[OneProcess]:
    built = build(gateway_settings(), user_service_settings(one_database, token=TOKEN, env=FAST))
    yield built
    built.close()
