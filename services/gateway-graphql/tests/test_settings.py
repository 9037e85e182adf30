"""Settings: production refuses development defaults; introspection and GraphiQL by environment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TOKEN, make_settings
from flask import Flask
from support.graphql_client import GraphQLTestClient
from support.user_service_process import UserServiceProcess

from alvin_python_lib.config import SettingsError, load_settings
from gateway_graphql.app.settings import Settings

INTROSPECTION = "{ __schema { queryType { name } } }"
STRONG_TOKEN = "a-long-random-production-token-0123456789"  # pragma: allowlist secret


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    monkeypatch.delenv("APP_ENV", raising=False)


def test_development_defaults_load() -> None:
    settings = load_settings(Settings)
    assert settings.app_env == "development"
    assert settings.graphiql_enabled
    assert settings.introspection_enabled
    assert not settings.cookie_secure
    assert settings.user_service_token.get_secret_value() == "dev-service-token"


def test_production_refuses_the_development_service_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(SettingsError, match="GATEWAY_USER_SERVICE_TOKEN"):
        load_settings(Settings)
    monkeypatch.setenv("GATEWAY_DEBUG", "true")
    monkeypatch.setenv("GATEWAY_USER_SERVICE_TOKEN", STRONG_TOKEN)
    with pytest.raises(SettingsError, match="GATEWAY_DEBUG"):
        load_settings(Settings)
    monkeypatch.delenv("GATEWAY_DEBUG")
    settings = load_settings(Settings)
    assert settings.effective_log_format == "json"
    assert not settings.graphiql_enabled
    assert not settings.introspection_enabled
    assert settings.cookie_secure


@pytest.mark.parametrize("app_env", ["staging", "production"])
@pytest.mark.parametrize("token", ["", "s" * 31])
def test_deployed_settings_refuse_an_empty_or_short_service_token(
    monkeypatch: pytest.MonkeyPatch, app_env: str, token: str
) -> None:
    monkeypatch.setenv("APP_ENV", app_env)
    monkeypatch.setenv("GATEWAY_USER_SERVICE_TOKEN", token)
    with pytest.raises(SettingsError) as raised:
        load_settings(Settings)
    assert str(raised.value.code) == (
        f"configuration error: GATEWAY_USER_SERVICE_TOKEN is too short for {app_env}: at least "
        "32 characters"
    )
    monkeypatch.setenv("GATEWAY_USER_SERVICE_TOKEN", "s" * 32)
    assert load_settings(Settings).is_deployed
    monkeypatch.setenv("APP_ENV", "test")  # tests and development may use any token
    monkeypatch.setenv("GATEWAY_USER_SERVICE_TOKEN", "")
    assert load_settings(Settings).user_service_token.get_secret_value() == ""


def test_production_app_has_no_introspection_and_no_graphiql(
    app_factory: Callable[[Settings], Flask], user_service: UserServiceProcess
) -> None:
    settings = make_settings(user_service.target, app_env="production", user_service_token=TOKEN)
    client = app_factory(settings).test_client()
    gql = GraphQLTestClient(client)
    error = gql.execute(INTROSPECTION)["errors"][0]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "introspection" in error["message"]
    assert gql.execute("{ __typename }") == {"data": {"__typename": "Query"}}

    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 400
    assert page.is_json
    assert client.get("/graphiql/assets/graphiql/graphiql.min.js").status_code == 404
    assert client.get("/").status_code == 404


def test_development_app_has_introspection_and_graphiql(
    app_factory: Callable[[Settings], Flask], user_service: UserServiceProcess
) -> None:
    client = app_factory(make_settings(user_service.target, app_env="development")).test_client()
    result = GraphQLTestClient(client).execute(INTROSPECTION)
    assert result == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert client.get("/").headers["Location"] == "/graphql"


def test_explicit_switches_win() -> None:
    settings = make_settings(app_env="development", graphiql=False, introspection=False)
    assert not settings.graphiql_enabled
    assert not settings.introspection_enabled


def test_readme_lists_every_setting() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    missing = [
        Settings.env_name(name)
        for name in Settings.model_fields
        if f"`{Settings.env_name(name)}`" not in readme
    ]
    assert missing == []
