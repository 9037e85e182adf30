from __future__ import annotations

import pytest

from alvin_python_lib.config import SettingsError, load_settings
from user_service.app.settings import Settings

BASE = {
    "USER_SERVICE_DATABASE_URL": "postgresql://db/users",
    "USER_SERVICE_REDIS_URL": "redis://r/0",
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


def test_production_refuses_the_development_service_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(SettingsError, match="USER_SERVICE_GRPC_SERVICE_TOKEN"):
        load_settings(Settings)
    monkeypatch.setenv("USER_SERVICE_GRPC_SERVICE_TOKEN", "a-long-random-production-token")
    assert load_settings(Settings).effective_log_format == "json"


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
