"""The service's parts for tests, built by the composition root with test choices handed in:
cheap password hashing, a clock that stands still until a test moves it, a mailer that a test
module replaces when it expects mail, the session's test database and the test process's id
generator (the plugin's ``id_generator``)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from support import DEFAULT_PASSWORD, TEST_CONFIG, FixedClock

from alvin_python_lib import ids
from alvin_python_lib.db import Database
from user_service.app.bootstrap import Container, bootstrap
from user_service.app.settings import Settings
from user_service.commands.smtp_catcher import SmtpCatcher
from user_service.db.models import User
from user_service.remote.email import Mailer, SmtpConfig, SmtpMailer
from user_service.service import users
from user_service.service.config import ServiceConfig
from user_service.service.deps import Deps


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str) -> Settings:
    return Settings(database_url=database_url, redis_url=redis_url)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    """The service's database for tests (under ``db``, its sessions are the test's session)."""
    database = Database(database_url, pool_size=2)
    yield database
    database.dispose()


@pytest.fixture
def service_config() -> ServiceConfig:
    """The business rules' parameters (a test parametrizes this name to hand in others)."""
    return TEST_CONFIG


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def mailer() -> Mailer:
    """Delivery to a closed port: a module whose tests expect mail overrides this fixture."""
    return SmtpMailer(SmtpConfig(host="127.0.0.1", port=1, timeout=2))


@pytest.fixture
def container(
    settings: Settings,
    database: Database,
    id_generator: ids.SnowflakeGenerator,
    service_config: ServiceConfig,
    mailer: Mailer,
    clock: FixedClock,
) -> Container:
    return bootstrap(
        settings,
        database=database,
        config=service_config,
        mailer=mailer,
        id_generator=id_generator,
        clock=clock,
    )


@pytest.fixture
def deps(container: Container) -> Deps:
    return container.deps


@pytest.fixture
def make_user(deps: Deps) -> Callable[..., User]:
    """Sign up a user through the service (committed, rolled back by the ``db`` fixture)."""
    counter = itertools.count(1)

    def make(
        *,
        email: str | None = None,
        password: str = DEFAULT_PASSWORD,
        display_name: str | None = None,
        invited_by_id: int | None = None,
    ) -> User:
        n = next(counter)
        return users.signup(
            deps,
            email=email or f"user{n}@example.com",
            password=password,
            display_name=display_name or f"User {n}",
            invited_by_id=invited_by_id,
        )

    return make


@pytest.fixture
def smtp() -> Iterator[SmtpCatcher]:
    """A real SMTP server on loopback that keeps what it receives."""
    with SmtpCatcher() as catcher:
        yield catcher


@pytest.fixture
def smtp_mailer(smtp: SmtpCatcher) -> Mailer:
    """The production mailer, delivering to :func:`smtp`."""
    return SmtpMailer(SmtpConfig(host=smtp.host, port=smtp.port))
