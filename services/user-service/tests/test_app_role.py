"""``user-service db upgrade`` with USER_SERVICE_APP_DATABASE_URL: the services' role gets the
data, not the schema. Real PostgreSQL (a database of the test's own and a role made for it)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import exc, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool
from support import DEFAULT_PASSWORD, TEST_CONFIG

from alvin_python_lib import ids
from alvin_python_lib.db import create_engine
from alvin_python_lib.errors import Unauthenticated
from alvin_python_lib.testing import real_databases
from user_service.app.bootstrap import bootstrap, database_from
from user_service.app.settings import Settings, get_settings
from user_service.commands import cli
from user_service.service import auth, users

# pragma: allowlist nextline secret
RDS_URL = "postgresql://alvin_app:s3cret@alvin.abc.eu-west-1.rds.amazonaws.com:5432/alvin" + (
    "?sslmode=verify-full&sslrootcert=/etc/ssl/certs/rds-global-bundle.pem"
)


@pytest.fixture
def role() -> str:
    return f"app_{secrets.token_hex(4)}"


@pytest.fixture
def owner(empty_database_url: str, role: str) -> Iterator[Engine]:
    """The migration's connection; the role's grants and the role itself go afterwards."""
    engine = create_engine(empty_database_url, poolclass=NullPool)
    yield engine
    with engine.begin() as conn:
        if conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}):
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
    engine.dispose()


def _app_url(owner_url: str, role: str, password: str) -> str:
    return make_url(owner_url).set(username=role, password=password).render_as_string(False)


def _upgrade(
    monkeypatch: pytest.MonkeyPatch, owner_url: str, redis_url: str, app_url: str | None
) -> None:
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("USER_SERVICE_DATABASE_URL", owner_url)
    monkeypatch.setenv("USER_SERVICE_REDIS_URL", redis_url)
    if app_url is None:
        monkeypatch.delenv("USER_SERVICE_APP_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("USER_SERVICE_APP_DATABASE_URL", app_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output


def _password_hash(owner: Engine, role: str) -> str | None:
    with owner.connect() as conn:
        return conn.scalar(
            text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": role}
        )


def test_upgrade_creates_the_app_role_with_data_but_no_schema_privileges(
    monkeypatch: pytest.MonkeyPatch,
    empty_database_url: str,
    redis_url: str,
    owner: Engine,
    role: str,
    id_generator: ids.SnowflakeGenerator,
) -> None:
    app_url = _app_url(empty_database_url, role, "first password")
    _upgrade(monkeypatch, empty_database_url, redis_url, app_url)
    first_hash = _password_hash(owner, role)
    assert first_hash is not None
    _upgrade(
        monkeypatch, empty_database_url, redis_url, _app_url(empty_database_url, role, "second")
    )
    assert _password_hash(owner, role) not in (None, first_hash)  # a new password is set

    # The services' work, as the application role: rows in users, outbox, sessions, throttle.
    settings = Settings(database_url=app_url, redis_url=redis_url)  # type: ignore[call-arg]
    with real_databases():
        container = bootstrap(settings, config=TEST_CONFIG, id_generator=id_generator)
        try:
            users.signup(
                container.deps, email="app@example.com", password=DEFAULT_PASSWORD, display_name="A"
            )
            with pytest.raises(Unauthenticated):
                auth.authenticate(
                    container.deps,
                    email="app@example.com",
                    password="wrong pass!",  # pragma: allowlist secret
                )
            assert auth.authenticate(
                container.deps, email="app@example.com", password=DEFAULT_PASSWORD
            )
        finally:
            container.close()

    app = create_engine(app_url, poolclass=NullPool)
    try:
        with app.connect() as conn:
            assert conn.scalar(text("SELECT current_user")) == role
            assert conn.scalar(text("SELECT count(*) FROM users")) == 1
        for ddl in (
            "DROP TABLE users",
            "CREATE TABLE intruder (id int)",
            "ALTER TABLE users ADD COLUMN intruder int",
            "TRUNCATE users",
        ):
            with (
                app.connect() as conn,
                pytest.raises(exc.ProgrammingError, match="InsufficientPrivilege"),
            ):
                conn.execute(text(ddl))
    finally:
        app.dispose()


def test_without_the_app_url_upgrade_only_migrates(
    monkeypatch: pytest.MonkeyPatch, empty_database_url: str, redis_url: str, owner: Engine
) -> None:
    _upgrade(monkeypatch, empty_database_url, redis_url, None)
    with owner.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM users")) == 0


def test_the_app_url_may_not_name_the_owner(
    monkeypatch: pytest.MonkeyPatch, empty_database_url: str, redis_url: str, owner: Engine
) -> None:
    with owner.connect() as conn:
        me = conn.scalar(text("SELECT current_user"))
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("USER_SERVICE_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("USER_SERVICE_REDIS_URL", redis_url)
    monkeypatch.setenv(
        "USER_SERVICE_APP_DATABASE_URL", _app_url(empty_database_url, str(me), "any password")
    )
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "the migration's own role" in result.output


def test_verify_full_and_the_ca_bundle_reach_the_driver_untouched(redis_url: str) -> None:
    for engine in (
        create_engine(RDS_URL),
        database_from(Settings(database_url=RDS_URL, redis_url=redis_url), "grpc").engine,  # type: ignore[call-arg]
    ):
        _, params = engine.dialect.create_connect_args(engine.url)
        assert params["sslmode"] == "verify-full"
        assert params["sslrootcert"] == "/etc/ssl/certs/rds-global-bundle.pem"
        assert (params["host"], params["port"], params["dbname"]) == (
            "alvin.abc.eu-west-1.rds.amazonaws.com",
            5432,
            "alvin",
        )
        engine.dispose()
