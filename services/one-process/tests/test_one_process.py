"""The gateway's GraphQL API answered by one process: the user-service called in process."""

from __future__ import annotations

import uuid
from typing import Any

from conftest import FAST, TOKEN, gateway_settings
from flask.testing import FlaskClient

from gateway_graphql.app.factory import gateway_of
from one_process.app import OneProcess, build
from one_process.testing import user_service_settings

SIGNUP = """mutation ($i: SignupInput!) {
  signup(input: $i) { ok errors { field code } } }"""
LOGIN = """mutation ($i: LoginInput!) {
  login(input: $i) { token user { id } errors { code } } }"""
ME = "{ me { id email displayName } }"
USER = "query ($id: ID!) { user(id: $id) { id displayName } }"
PASSWORD = "one process, then split"  # pragma: allowlist secret


def execute(
    client: FlaskClient, query: str, variables: dict[str, Any] | None = None, **headers: str
) -> Any:
    response = client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_signup_login_me_and_mapped_errors(one: OneProcess) -> None:
    client = one.app.test_client()
    email = f"one-{uuid.uuid4().hex[:10]}@example.com"
    signup = {"email": email, "password": PASSWORD, "displayName": "One"}
    created = execute(client, SIGNUP, {"i": signup})["data"]["signup"]
    assert created == {"ok": True, "errors": []}
    # a taken address answers like a new one (the owner is emailed instead)
    assert execute(client, SIGNUP, {"i": signup})["data"]["signup"] == created
    # INVALID_ARGUMENT with its field came back through the rich status, as over the network
    weak = execute(client, SIGNUP, {"i": {**signup, "password": "short"}})["data"]["signup"]
    assert weak["ok"] is False
    assert [e["field"] for e in weak["errors"]] == ["password"]

    credentials = {"email": email, "password": PASSWORD, "tokenDelivery": "BEARER"}
    login = execute(client, LOGIN, {"i": credentials})["data"]["login"]
    assert login["errors"] == []
    me = execute(client, ME, Authorization=f"Bearer {login['token']}")["data"]["me"]
    assert me["email"] == email
    wrong = {**credentials, "password": PASSWORD + "!"}
    assert execute(client, LOGIN, {"i": wrong})["data"]["login"]["errors"] == [
        {"code": "INVALID_CREDENTIALS"}
    ]
    # NOT_FOUND from the user-service, as the gateway reports it over the network
    missing = execute(client, USER, {"id": "VXNlcjoxMjM0NQ=="})
    assert missing["data"]["user"] is None
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_ready_through_the_in_process_health_check(one: OneProcess) -> None:
    response = one.app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"user-service": "SERVING"}
    assert gateway_of(one.app).settings.user_service_target == "inprocess:user-service"
    one.server.stop()
    assert one.app.test_client().get("/readyz").status_code == 503


def test_the_service_token_is_still_checked(one_database: str) -> None:
    wrong = build(
        gateway_settings(user_service_token="not-the-user-service-token-at-all-32+"),
        user_service_settings(one_database, token=TOKEN, env=FAST),
        name="wrong-token",
    )
    try:
        body = execute(wrong.app.test_client(), "{ users { edges { cursor } } }")
    finally:
        wrong.close()
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL"
