"""Browser-facing security: the session cookie's name and flags, who gets the token, Bearer
tokens, GET, CORS (CSRF: test_csrf; HSTS and proxies: test_transport_security)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import PASSWORD, SESSION_COOKIE, make_settings
from flask import Flask, Response
from support.graphql_client import GraphQLTestClient
from support.user_service_process import UserServiceProcess

from alvin_python_lib.config import SettingsError
from gateway_graphql.app.settings import Settings
from gateway_graphql.remote.user_service import User
from gateway_graphql.web.cors import CorsPolicy, install_cors

LOGIN = "mutation ($i: LoginInput!) { login(input: $i) { token errors { code } } }"
UPDATE = 'mutation { updateMe(input: {displayName: "Changed"}) { user { displayName } } }'
ME = "{ me { displayName } }"
LOGOUT = "mutation { logout(input: {}) { ok } }"


def _login(gql: GraphQLTestClient, user: User) -> str:
    response = gql.post(LOGIN, {"i": {"email": user.email, "password": PASSWORD}})
    assert response.status_code == 200
    return response.headers["Set-Cookie"]


def _attributes(set_cookie: str) -> tuple[str, dict[str, str]]:
    """The ``name=value`` of a ``Set-Cookie`` and its attributes by lower-case name."""
    name_value, *attributes = [part.strip() for part in set_cookie.split(";")]
    return name_value, {attribute.split("=")[0].lower(): attribute for attribute in attributes}


def test_session_cookie_flags(gql: GraphQLTestClient, make_user: Callable[..., User]) -> None:
    cookie = _login(gql, make_user())
    name_value, flags = _attributes(cookie)
    # Secure (APP_ENV=test: everything but development is https), hence __Host-: a sibling
    # subdomain or a plain-http page cannot plant or overwrite it
    assert name_value.startswith("__Host-gateway_session=")
    assert len(name_value) > 40
    assert "httponly" in flags
    assert "secure" in flags
    assert flags["samesite"] == "SameSite=Lax"
    assert flags["path"] == "Path=/"  # what __Host- requires, with Secure and no Domain
    assert "domain" not in flags
    assert int(flags["max-age"].split("=")[1]) > 3000  # the session's lifetime


def test_the_host_cookie_is_cleared_with_its_prefix_rules(
    gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    _login(gql, make_user("Leaving"))
    assert gql.execute(ME)["data"]["me"] == {"displayName": "Leaving"}  # the __Host- cookie
    logout = gql.post(LOGOUT)
    name_value, flags = _attributes(logout.headers["Set-Cookie"])
    # a browser ignores a __Host- Set-Cookie without Secure and Path=/, the deletion too
    assert name_value == f"{SESSION_COOKIE}="
    assert {"secure", "path", "expires"} <= set(flags)
    assert flags["path"] == "Path=/"
    assert "domain" not in flags


def test_cookie_is_not_secure_in_development(
    app_factory: Callable[[Settings], Flask],
    user_service: UserServiceProcess,
    make_user: Callable[..., User],
) -> None:
    app = app_factory(make_settings(user_service.target, app_env="development"))
    cookie = _login(GraphQLTestClient(app.test_client()), make_user())
    # plain http: no Secure, so no __Host- either (a browser would refuse the cookie)
    assert cookie.startswith("gateway_session=")
    assert "Secure" not in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_the_cookie_name_is_a_setting(
    app_factory: Callable[[Settings], Flask],
    user_service: UserServiceProcess,
    make_user: Callable[..., User],
) -> None:
    settings = make_settings(user_service.target, session_cookie_name="app_sid")
    assert settings.effective_session_cookie_name == "__Host-app_sid"
    gql = GraphQLTestClient(app_factory(settings).test_client())
    assert _login(gql, make_user()).startswith("__Host-app_sid=")
    development = make_settings(app_env="development", session_cookie_name="app_sid")
    assert development.effective_session_cookie_name == "app_sid"
    for prefixed in ("__Host-app_sid", "__secure-app_sid"):  # the gateway adds the prefix
        with pytest.raises(SettingsError, match="GATEWAY_SESSION_COOKIE_NAME"):
            make_settings(session_cookie_name=prefixed)


def test_a_cookie_login_leaves_the_token_out_of_the_body(
    gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    user = make_user("Cookie")
    response = gql.post(LOGIN, {"i": {"email": user.email, "password": PASSWORD}})
    # injected script reads response bodies, never an HttpOnly cookie
    assert response.get_json()["data"]["login"] == {"token": None, "errors": []}
    cookie = gql.client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    assert cookie.value not in response.get_data(as_text=True)
    assert gql.execute(ME)["data"]["me"] == {"displayName": "Cookie"}


def test_a_bearer_login_gets_the_token_and_no_cookie(
    gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    user = make_user("Api client")
    credentials = {"email": user.email, "password": PASSWORD, "tokenDelivery": "BEARER"}
    response = gql.post(LOGIN, {"i": credentials})
    payload = response.get_json()["data"]["login"]
    assert payload["errors"] == []
    assert len(payload["token"]) > 30
    assert "Set-Cookie" not in response.headers
    assert gql.client.get_cookie(SESSION_COOKIE) is None
    assert gql.execute(ME) == {"data": {"me": None}}  # nothing ambient
    assert gql.execute(ME, token=payload["token"])["data"]["me"] == {"displayName": "Api client"}
    explicit = {"email": user.email, "password": PASSWORD, "tokenDelivery": "COOKIE"}
    assert gql.execute(LOGIN, {"i": explicit})["data"]["login"] == {"token": None, "errors": []}


def test_bearer_mutations_are_exempt(
    gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    user = make_user("Bearer")
    credentials = {"email": user.email, "password": PASSWORD, "tokenDelivery": "BEARER"}
    token = gql.execute(LOGIN, {"i": credentials})["data"]["login"]["token"]
    # A form post: without the cookie there is no ambient credential to forge with.
    response = gql.client.post(
        "/graphql",
        data={"query": UPDATE},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400  # past the CSRF rule; form bodies are not GraphQL here
    assert response.get_json()["errors"][0]["message"] == "Unsupported content type"
    result = gql.execute(UPDATE, token=token)
    assert result["data"]["updateMe"]["user"]["displayName"] == "Changed"


def test_mutations_are_refused_over_get(gql: GraphQLTestClient) -> None:
    response = gql.client.get(
        "/graphql", query_string={"query": "mutation { logout(input: {}) { ok } }"}
    )
    assert response.status_code == 405
    assert response.get_json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.fixture
def cors_client(
    app_factory: Callable[[Settings], Flask], user_service: UserServiceProcess
) -> GraphQLTestClient:
    settings = make_settings(
        user_service.target, cors_origins="https://app.example.com, http://localhost:3000"
    )
    return GraphQLTestClient(app_factory(settings).test_client())


def test_cors_preflight_from_an_allowed_origin(cors_client: GraphQLTestClient) -> None:
    response = cors_client.client.options(
        "/graphql",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, traceparent",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert allowed >= {
        "authorization",
        "content-type",
        "x-request-id",
        "x-requested-with",
        "apollo-require-preflight",
        "x-apollo-operation-name",
        "traceparent",
        "tracestate",
        "baggage",
        "sentry-trace",
        "apollographql-client-name",
        "apollographql-client-version",
    }
    assert "Origin" in response.headers["Vary"]


def test_cors_allowed_headers_are_a_setting(
    app_factory: Callable[[Settings], Flask], user_service: UserServiceProcess
) -> None:
    settings = make_settings(
        user_service.target,
        cors_origins="https://app.example.com",
        cors_allow_headers="Content-Type, X-Custom-Trace",
    )
    assert settings.cors_allow_headers == ("Content-Type", "X-Custom-Trace")
    response = (
        app_factory(settings)
        .test_client()
        .options(
            "/graphql",
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
        )
    )
    assert response.headers["Access-Control-Allow-Headers"] == "Content-Type, X-Custom-Trace"
    with pytest.raises(SettingsError, match="GATEWAY_CORS_ALLOW_HEADERS"):
        make_settings(cors_allow_headers="Content-Type, bad header")


def test_cors_actual_request_from_an_allowed_origin(cors_client: GraphQLTestClient) -> None:
    response = cors_client.post("{ __typename }", headers={"Origin": "http://localhost:3000"})
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]


def test_cors_other_origins_get_no_headers(cors_client: GraphQLTestClient) -> None:
    preflight = cors_client.client.options(
        "/graphql",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    response = cors_client.post("{ __typename }", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_cors_origins_must_be_origins() -> None:
    for bad in ("*", "https://app.example.com/path", "app.example.com"):
        with pytest.raises(SettingsError, match="GATEWAY_CORS_ORIGINS"):
            make_settings(cors_origins=bad)


def test_cors_adds_origin_to_a_vary_the_view_set() -> None:
    app = Flask(__name__)
    install_cors(app, CorsPolicy(origins=frozenset({"https://app.example.com"})))

    @app.get("/varied")
    def varied() -> Response:
        return Response("x", headers={"Vary": "Accept-Encoding"})

    @app.get("/plain")
    def plain() -> Response:
        return Response("x")

    client = app.test_client()
    varied_response = client.get("/varied", headers={"Origin": "https://app.example.com"})
    assert varied_response.headers.getlist("Vary") == ["Accept-Encoding, Origin"]
    assert varied_response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    plain_response = client.get("/plain", headers={"Origin": "https://evil.example"})
    assert plain_response.headers.getlist("Vary") == ["Origin"]
    assert "Access-Control-Allow-Origin" not in plain_response.headers
