from __future__ import annotations

import pytest
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from alvin_python_lib.config import (
    BaseAppSettings,
    DatabaseSettings,
    SettingsError,
    dev_default,
    load_settings,
    placeholder_settings,
    unsafe_settings,
)


class Settings(DatabaseSettings, BaseAppSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_")

    token_secret: SecretStr = dev_default(SecretStr("dev-only-secret"))
    greeting: str = Field(default="hello")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory) -> None:
    for name in ("APP_ENV", "DEMO_DEBUG", "DEMO_TOKEN_SECRET", "DEMO_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_reads_prefixed_env_and_unprefixed_app_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("DEMO_DATABASE_URL", "postgresql://db/x")
    monkeypatch.setenv("DEMO_GREETING", "hi")
    settings = load_settings(Settings)
    assert settings.app_env == "test"
    assert settings.database_url == "postgresql://db/x"
    assert settings.greeting == "hi"
    assert settings.effective_log_format == "console"


def test_missing_required_variable_is_one_line_naming_it() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(Settings)
    assert str(info.value.code) == "configuration error: missing required setting DEMO_DATABASE_URL"
    assert "\n" not in str(info.value.code)


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_DATABASE_URL", "postgresql://db/x")
    monkeypatch.setenv("DEMO_DATABASE_POOL_SIZE", "zero")
    with pytest.raises(SettingsError, match="invalid DEMO_DATABASE_POOL_SIZE"):
        load_settings(Settings)


def test_secrets_never_appear_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_DATABASE_URL", "postgresql://db/x")
    monkeypatch.setenv("DEMO_TOKEN_SECRET", "s3cr3t-value")
    settings = load_settings(Settings)
    assert "s3cr3t-value" not in repr(settings)
    assert "s3cr3t-value" not in str(settings.model_dump())
    assert settings.token_secret.get_secret_value() == "s3cr3t-value"


@pytest.mark.parametrize("env", ["staging", "production"])
def test_deployed_envs_refuse_development_defaults(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.setenv("APP_ENV", env)
    monkeypatch.setenv("DEMO_DATABASE_URL", "postgresql://db/x")
    monkeypatch.setenv("DEMO_DEBUG", "true")
    with pytest.raises(SettingsError) as info:
        load_settings(Settings)
    message = str(info.value.code)
    assert "DEMO_DEBUG" in message
    assert "DEMO_TOKEN_SECRET" in message
    assert "dev-only-secret" not in message


def test_production_starts_when_secrets_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("DEMO_DATABASE_URL", "postgresql://db/x")
    monkeypatch.setenv("DEMO_TOKEN_SECRET", "a-real-secret")
    settings = load_settings(Settings)
    assert unsafe_settings(settings) == []
    assert settings.effective_log_format == "json"


def test_dotenv_only_in_development(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".env").write_text("DEMO_DATABASE_URL=postgresql://from-dotenv/x\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings(Settings).database_url == "postgresql://from-dotenv/x"
    monkeypatch.setenv("APP_ENV", "test")
    with pytest.raises(SettingsError, match="DEMO_DATABASE_URL"):
        load_settings(Settings)


def test_comma_lists_split_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from alvin_python_lib.config import CommaList

    class Lists(BaseAppSettings):
        model_config = SettingsConfigDict(env_prefix="DEMO_")
        origins: CommaList = ()

    monkeypatch.setenv("DEMO_ORIGINS", " https://a.example , ,https://b.example")
    assert load_settings(Lists).origins == ("https://a.example", "https://b.example")
    assert Lists(origins=("x",)).origins == ("x",)
    monkeypatch.delenv("DEMO_ORIGINS")
    assert load_settings(Lists).origins == ()


# docker-compose.yml's placeholders (its .env.example): production must refuse every one of them
COMPOSE_PLACEHOLDERS = {
    "DEMO_TOKEN_SECRET": "dev-only-service-token-change-me",  # pragma: allowlist secret
    "DEMO_DATABASE_URL": (
        "postgresql://alvin:dev-only-postgres-password@postgres:5432/alvin"  # pragma: allowlist secret
    ),
}


@pytest.mark.parametrize(("name", "placeholder"), sorted(COMPOSE_PLACEHOLDERS.items()))
def test_production_refuses_the_compose_placeholders(
    monkeypatch: pytest.MonkeyPatch, name: str, placeholder: str
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    real_url = "postgresql://app:s3cret-from-the-store@db/x"  # pragma: allowlist secret
    monkeypatch.setenv("DEMO_DATABASE_URL", real_url)
    monkeypatch.setenv("DEMO_TOKEN_SECRET", "a-real-token-from-the-secret-store-0123456789")
    load_settings(Settings)  # real values start
    monkeypatch.setenv(name, placeholder)
    with pytest.raises(SettingsError) as refused:
        load_settings(Settings)
    assert f"placeholder values refused in production: {name}" in refused.value.message
    assert placeholder not in refused.value.message  # the value itself is never printed


def test_staging_accepts_the_placeholders_of_the_local_stack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_ENV", "staging")
    for name, placeholder in COMPOSE_PLACEHOLDERS.items():
        monkeypatch.setenv(name, placeholder)
    settings = load_settings(Settings)
    assert placeholder_settings(settings) == ["DEMO_DATABASE_URL", "DEMO_TOKEN_SECRET"]
