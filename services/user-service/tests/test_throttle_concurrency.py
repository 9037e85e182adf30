"""The login throttle under concurrent attempts: real threads, a real PostgreSQL of their own.

Each attempt counts itself before its password is checked, so a burst of attempts started
together cannot pass the limit: exactly ``limit`` of them reach the password check.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Literal

import pytest
from alembic import command
from sqlalchemy import select
from support import DEFAULT_PASSWORD, TEST_CONFIG

from alvin_python_lib import ids
from alvin_python_lib.errors import DomainError
from alvin_python_lib.migrations import alembic_config
from alvin_python_lib.testing import real_databases
from user_service.app.bootstrap import Container, bootstrap
from user_service.app.settings import Settings
from user_service.commands import MIGRATIONS_INI
from user_service.db.models import AuthThrottle
from user_service.service import auth, users
from user_service.service.config import BoundedHasher

ATTEMPTS = 20
LIMIT = 5


class CountingHasher(BoundedHasher):
    """A real (cheap) argon2 hasher that counts its password checks, from any thread."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=64, parallelism=1, max_concurrent=ATTEMPTS)
        self._lock = threading.Lock()
        self.checks = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._lock:
            self.checks += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def service(
    empty_database_url: str,
    redis_url: str,
    id_generator: ids.SnowflakeGenerator,
    hasher: CountingHasher,
) -> Iterator[Container]:
    """The service on a migrated database of its own, each thread with its own connection."""
    command.upgrade(alembic_config(Path(MIGRATIONS_INI), url=empty_database_url), "head")
    settings = Settings(  # type: ignore[call-arg]
        database_url=empty_database_url, redis_url=redis_url, database_pool_size=ATTEMPTS
    )
    config = replace(
        TEST_CONFIG,
        hasher=hasher,
        throttle_max_failures_per_email=LIMIT,
        throttle_max_failures_per_ip=10 * ATTEMPTS,
    )
    with real_databases():
        container = bootstrap(settings, process="grpc", config=config, id_generator=id_generator)
        try:
            yield container
        finally:
            container.close()


def _attempt_together(
    container: Container, passwords: list[str], client_ip: str = ""
) -> tuple[Counter[str], list[auth.LoginResult]]:
    """Log in with each password in its own thread, all released at once by a barrier."""
    deps = container.deps
    start = threading.Barrier(len(passwords))

    def attempt(password: str) -> str | auth.LoginResult:
        start.wait()
        try:
            return auth.authenticate(
                deps, email="race@example.com", password=password, client_ip=client_ip
            )
        except DomainError as exc:
            return type(exc).__name__
        finally:
            deps.database.remove()

    with ThreadPoolExecutor(max_workers=len(passwords)) as pool:
        outcomes = list(pool.map(attempt, passwords))
    errors = Counter(o for o in outcomes if isinstance(o, str))
    return errors, [o for o in outcomes if isinstance(o, auth.LoginResult)]


def test_concurrent_wrong_passwords_check_no_more_than_the_limit(
    service: Container, hasher: CountingHasher
) -> None:
    users.signup(
        service.deps, email="race@example.com", password=DEFAULT_PASSWORD, display_name="Race"
    )
    hasher.checks = 0
    errors, logins = _attempt_together(service, ["wrong password!"] * ATTEMPTS)
    assert logins == []
    assert errors == {"Unauthenticated": LIMIT, "ResourceExhausted": ATTEMPTS - LIMIT}
    assert hasher.checks == LIMIT
    with service.deps.database.scope() as session:
        counted = session.scalars(select(AuthThrottle.failures)).all()
    assert counted == [LIMIT]  # refused attempts count nothing, on no row


def test_concurrent_right_passwords_leave_no_failures(
    service: Container, hasher: CountingHasher
) -> None:
    users.signup(
        service.deps, email="race@example.com", password=DEFAULT_PASSWORD, display_name="Race"
    )
    errors, logins = _attempt_together(service, [DEFAULT_PASSWORD] * ATTEMPTS, "10.0.0.9")
    # An attempt in flight counts until its password is found right: some of a burst larger than
    # the limit may be refused, never more than the burst minus the limit.
    assert len(logins) + errors["ResourceExhausted"] == ATTEMPTS
    assert len(logins) >= LIMIT
    # The email key, then the address key, in every request: two keys, no deadlock, and every
    # success took its counts back.
    with service.deps.database.scope() as session:
        rows = {row.key: row.failures for row in session.scalars(select(AuthThrottle))}
    assert rows.get("email:race@example.com", 0) == 0
    assert rows.get("ip:10.0.0.9", 0) == 0
