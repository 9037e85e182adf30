from __future__ import annotations

import pytest
from click.testing import CliRunner

from alvin_python_lib.config import SettingsError, load_settings
from user_service.app.settings import Settings, get_settings
from user_service.commands import cli

BASE = {
    "USER_SERVICE_DATABASE_URL": "postgresql://db/users",
    "USER_SERVICE_REDIS_URL": "redis://r/0",
    "USER_SERVICE_PUBLIC_URL": "https://app.example.com",
}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    for key, value in BASE.items():
        monkeypatch.setenv(key, value)


def test_development_defaults_load() -> None:
    settings = load_settings(Settings)
    assert settings.database_url == "postgresql://db/users"
    assert settings.grpc_service_token is not None


STRONG_TOKEN = "a-long-random-production-token-0123456789"  # pragma: allowlist secret


@pytest.mark.parametrize("token", [None, "", "a-30-character-production-tok"])
def test_only_the_grpc_server_refuses_a_missing_or_short_service_token(
    monkeypatch: pytest.MonkeyPatch, token: str | None
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    if token is not None:  # None: the development value
        monkeypatch.setenv("USER_SERVICE_GRPC_SERVICE_TOKEN", token)
    settings = load_settings(Settings)  # the worker, scheduler and migrations send no token
    with pytest.raises(SettingsError, match="USER_SERVICE_GRPC_SERVICE_TOKEN") as raised:
        settings.check_service_auth()
    assert "at least 32 characters" in raised.value.message
    monkeypatch.setenv("USER_SERVICE_GRPC_SERVICE_TOKEN", STRONG_TOKEN)
    settings = load_settings(Settings)
    settings.check_service_auth()
    assert settings.effective_log_format == "json"
    assert not settings.reflection_enabled


def test_the_grpc_server_process_stops_at_start_up_with_an_empty_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("USER_SERVICE_GRPC_SERVICE_TOKEN", "")
    # nothing listens there: the check comes before any connection
    monkeypatch.setenv("USER_SERVICE_DATABASE_URL", "postgresql://127.0.0.1:1/users")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["grpcserver"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert result.output.startswith(
        "configuration error: USER_SERVICE_GRPC_SERVICE_TOKEN is empty: a deployed server needs "
        "a service token (at least 32 characters)"
    )


def test_smtp_starttls_is_on_by_default_when_deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not load_settings(Settings).smtp_starttls_enabled  # the local catcher speaks plain SMTP
    for app_env in ("staging", "production"):
        monkeypatch.setenv("APP_ENV", app_env)
        assert load_settings(Settings).smtp_starttls_enabled
        monkeypatch.setenv("USER_SERVICE_SMTP_STARTTLS", "false")  # a relay without TLS
        assert not load_settings(Settings).smtp_starttls_enabled
        monkeypatch.delenv("USER_SERVICE_SMTP_STARTTLS")


@pytest.mark.parametrize("credential", ["USER_SERVICE_SMTP_USERNAME", "USER_SERVICE_SMTP_PASSWORD"])
def test_deployed_settings_refuse_smtp_credentials_over_plain_smtp(
    monkeypatch: pytest.MonkeyPatch, credential: str
) -> None:
    monkeypatch.setenv(credential, "relay-credential")
    monkeypatch.setenv("USER_SERVICE_SMTP_STARTTLS", "false")
    assert not load_settings(Settings).smtp_starttls_enabled  # development: allowed
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(SettingsError) as raised:
        load_settings(Settings)
    assert str(raised.value.code) == (
        "configuration error: USER_SERVICE_SMTP_STARTTLS is off: production does not send "
        "USER_SERVICE_SMTP_USERNAME/USER_SERVICE_SMTP_PASSWORD over plain SMTP"
    )
    monkeypatch.delenv("USER_SERVICE_SMTP_STARTTLS")  # on by default: accepted
    assert load_settings(Settings).smtp_starttls_enabled


@pytest.mark.parametrize("app_env", ["staging", "production"])
def test_deployed_settings_refuse_the_development_public_url(
    monkeypatch: pytest.MonkeyPatch, app_env: str
) -> None:
    monkeypatch.setenv("APP_ENV", app_env)
    monkeypatch.delenv("USER_SERVICE_PUBLIC_URL")
    with pytest.raises(SettingsError, match="USER_SERVICE_PUBLIC_URL"):
        load_settings(Settings)


def test_production_links_are_https_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("USER_SERVICE_PUBLIC_URL", "http://app.example.com")
    with pytest.raises(SettingsError) as raised:
        load_settings(Settings)
    assert "USER_SERVICE_PUBLIC_URL must be an https:// URL in production" in str(raised.value.code)
    monkeypatch.setenv("APP_ENV", "staging")  # a staging front end may run over plain http
    assert load_settings(Settings).public_url == "http://app.example.com"


def test_missing_database_url_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("USER_SERVICE_DATABASE_URL")
    with pytest.raises(SettingsError) as info:
        load_settings(Settings)
    assert str(info.value.code) == (
        "configuration error: missing required setting USER_SERVICE_DATABASE_URL"
    )


def test_readme_lists_every_setting() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    missing = [
        Settings.env_name(name)
        for name in Settings.model_fields
        if f"`{Settings.env_name(name)}`" not in readme
    ]
    assert missing == []
