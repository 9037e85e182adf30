from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from user_service.app.settings import get_settings
from user_service.commands import cli
from user_service.db.models import User
from user_service.service import auth
from user_service.service.deps import Deps


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str) -> Iterator[None]:
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("USER_SERVICE_DATABASE_URL", database_url)
    monkeypatch.setenv("USER_SERVICE_REDIS_URL", redis_url)
    monkeypatch.setenv("USER_SERVICE_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("USER_SERVICE_ARGON2_MEMORY_COST_KIB", "8")
    monkeypatch.setenv("USER_SERVICE_ARGON2_PARALLELISM", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_create_user_prompts_twice_without_echo(env: None, db: Session, deps: Deps) -> None:
    result = CliRunner().invoke(
        cli, ["create-user", "Cli@Example.com"], input="a long password 1\na long password 1\n"
    )
    assert result.exit_code == 0, result.output
    assert "Repeat for confirmation" in result.output
    assert "created user" in result.output
    assert "a long password 1" not in result.output
    assert auth.authenticate(deps, email="cli@example.com", password="a long password 1")


def test_create_user_asks_again_when_the_confirmation_differs(
    env: None, db: Session, deps: Deps
) -> None:
    answers = "a long password 1\nanother password 2\nthe third one 33\nthe third one 33\n"
    result = CliRunner().invoke(cli, ["create-user", "again@example.com"], input=answers)
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    password = "the third one 33"  # pragma: allowlist secret (a test password)
    assert auth.authenticate(deps, email="again@example.com", password=password)


def test_create_user_reads_the_password_from_stdin(env: None, db: Session, deps: Deps) -> None:
    result = CliRunner().invoke(
        cli,
        ["create-user", "script@example.com", "--password-stdin"],
        input=" spaces kept 1234 \nignored second line\n",
    )
    assert result.exit_code == 0, result.output
    assert "Password" not in result.output  # no prompt in a script
    assert auth.authenticate(deps, email="script@example.com", password=" spaces kept 1234 ")


def test_create_user_refuses_an_empty_stdin(env: None, db: Session) -> None:
    result = CliRunner().invoke(cli, ["create-user", "empty@example.com", "--password-stdin"])
    assert result.exit_code == 2
    assert "standard input has no password line" in result.output
    assert db.scalar(select(func.count()).select_from(User)) == 0


def test_create_user_reports_domain_errors_in_one_line(env: None, db: Session) -> None:
    result = CliRunner().invoke(
        cli, ["create-user", "x@example.com", "--password-stdin"], input="short\n"
    )
    assert result.exit_code == 1
    assert "password: must be at least 10 characters" in result.output
    assert "Traceback" not in result.output


def test_seed_bulk_inserts_users_with_inviters(env: None, db: Session) -> None:
    result = CliRunner().invoke(cli, ["seed", "--users", "250", "--batch", "100"])
    assert result.exit_code == 0, result.output
    assert "seeded 250 users" in result.output
    assert db.scalar(select(func.count()).select_from(User)) == 250
    assert db.scalar(select(func.count()).select_from(User).where(User.invited_by_id.is_not(None)))


def test_missing_settings_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("USER_SERVICE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["db", "current"])
    assert result.exit_code == 2
    assert "missing required setting USER_SERVICE_DATABASE_URL" in result.output
    assert "Traceback" not in result.output
