"""Abuse limits through HTTP: one password-bearing field per request (aliases and fragments
included), login throttling a stranger cannot turn into the owner's lockout, signup,
changePassword and requestEmailChange throttles answering RATE_LIMITED with retryAfter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import PASSWORD, TOKEN, make_settings, unique_email
from flask import Flask
from support.graphql_client import GraphQLTestClient
from support.user_service_process import UserServiceProcess, own_user_service

from gateway_graphql.app.settings import Settings
from gateway_graphql.remote.user_service import User, UserServiceClient

LOGIN = "mutation ($i: LoginInput!) { login(input: $i) { token errors { code } } }"
WRONG = "wrong password!"  # pragma: allowlist secret (a test password)


def _post(app: Flask, query: str, variables: dict[str, Any], *, address: str, **kw: Any) -> Any:
    """A GraphQL POST from the client address ``address``."""
    headers = kw.pop("headers", {})
    response = app.test_client().post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        environ_base={"REMOTE_ADDR": address},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _login(app: Flask, email: str, password: str, address: str) -> Any:
    credentials = {"email": email, "password": password, "tokenDelivery": "BEARER"}
    return _post(app, LOGIN, {"i": credentials}, address=address)


@pytest.mark.parametrize(
    "query",
    [
        'mutation { a: login(input: {email: "a@example.com", password: "x"}) { token }'
        ' b: login(input: {email: "b@example.com", password: "y"}) { token } }',
        'mutation { login(input: {email: "a@example.com", password: "x"}) { token }'
        ' signup(input: {email: "b@example.com", password: "y", displayName: "B"}) { ok } }',
        'mutation { ...F ...G } fragment F on Mutation { login(input: {email: "a@example.com",'
        ' password: "x"}) { token } } fragment G on Mutation { changePassword(input:'
        ' {currentPassword: "x", newPassword: "y"}) { ok } }',
    ],
    ids=["aliases", "two-fields", "fragments"],
)
def test_one_password_field_per_request(gql: GraphQLTestClient, query: str) -> None:
    body = gql.execute(query)
    assert body.get("data") is None
    (error,) = body["errors"]
    assert error["extensions"] == {
        "code": "GRAPHQL_VALIDATION_FAILED",
        "limit": "passwordFields",
        "maximum": 1,
    }


def test_one_password_field_and_others_are_fine(gql: GraphQLTestClient) -> None:
    body = gql.execute(
        'mutation { logout(input: {}) { ok } login(input: {email: "nobody@example.com",'
        ' password: "wrong password!"}) { errors { code } } }'  # pragma: allowlist secret
    )
    assert body["data"]["login"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]


def test_a_stranger_cannot_lock_the_owner_out(app: Flask, make_user: Callable[..., User]) -> None:
    owner = make_user()
    refused = None
    for _ in range(10):
        body = _login(app, owner.email, WRONG, "203.0.113.66")
        if body.get("errors"):
            refused = body["errors"][0]
            break
        assert body["data"]["login"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]
    assert refused is not None
    assert refused["extensions"]["code"] == "RATE_LIMITED"
    assert refused["extensions"]["retryAfter"] > 0
    # the owner, from their own address, logs in at once
    mine = _login(app, owner.email, PASSWORD, "198.51.100.66")
    assert mine["data"]["login"]["errors"] == []
    assert mine["data"]["login"]["token"]


@pytest.fixture(scope="module")
def strict_service(database_url: str) -> Iterator[UserServiceProcess]:
    """A user-service of its own with low signup and password-change limits."""
    env = {"USER_SERVICE_SIGNUP_MAX_PER_IP": "2", "USER_SERVICE_CHANGE_PASSWORD_MAX_FAILURES": "2"}
    with own_user_service(database_url, prefix="gateway_strict", token=TOKEN, env=env) as service:
        yield service


@pytest.fixture
def strict_app(
    app_factory: Callable[[Settings], Flask], strict_service: UserServiceProcess
) -> Flask:
    return app_factory(make_settings(strict_service.target))


SIGNUP = "mutation ($i: SignupInput!) { signup(input: $i) { ok errors { code } } }"
CHANGE = """
mutation ($i: ChangePasswordInput!) { changePassword(input: $i) { ok errors { field code } } }
"""


# a user-service process of its own, with low limits
@pytest.mark.user_service_process
def test_signups_from_one_address_are_throttled(strict_app: Flask) -> None:
    def signup(address: str) -> Any:
        fields = {"email": unique_email("flood"), "password": PASSWORD, "displayName": "F"}
        return _post(strict_app, SIGNUP, {"i": fields}, address=address)

    for _ in range(2):
        assert signup("203.0.113.77")["data"]["signup"] == {"ok": True, "errors": []}
    refused = signup("203.0.113.77")
    assert refused["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert refused["errors"][0]["extensions"]["retryAfter"] > 0
    assert signup("203.0.113.78")["data"]["signup"]["ok"] is True  # another address


# a user-service process of its own, with low limits
@pytest.mark.user_service_process
def test_wrong_current_passwords_are_throttled(
    strict_app: Flask, strict_service: UserServiceProcess
) -> None:
    email = unique_email("pw")
    client = UserServiceClient.connect(strict_service.target, token=TOKEN, timeout_s=10)
    try:
        client.create_user(email=email, password=PASSWORD, display_name="PW")
    finally:
        client.close()
    token = _login(strict_app, email, PASSWORD, "127.0.0.1")["data"]["login"]["token"]
    new = "a brand new passphrase"  # pragma: allowlist secret (a test password)
    wrong = {"i": {"currentPassword": WRONG, "newPassword": new}}
    for _ in range(2):
        body = _post(
            strict_app,
            CHANGE,
            wrong,
            address="127.0.0.1",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert body["data"]["changePassword"]["errors"] == [
            {"field": "currentPassword", "code": "INVALID"}
        ]
    right = {"i": {"currentPassword": PASSWORD, "newPassword": new}}
    body = _post(
        strict_app, CHANGE, right, address="127.0.0.1", headers={"Authorization": f"Bearer {token}"}
    )
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


CHANGE_EMAIL = """
mutation ($i: RequestEmailChangeInput!) {
  requestEmailChange(input: $i) { ok errors { field code } }
}
"""


# a user-service process of its own, with low limits
@pytest.mark.user_service_process
def test_wrong_current_passwords_in_email_changes_are_throttled(
    strict_app: Flask, strict_service: UserServiceProcess
) -> None:
    # A stolen session without the password cannot guess it through the email change either.
    email = unique_email("mv")
    client = UserServiceClient.connect(strict_service.target, token=TOKEN, timeout_s=10)
    try:
        client.create_user(email=email, password=PASSWORD, display_name="MV")
    finally:
        client.close()
    token = _login(strict_app, email, PASSWORD, "127.0.0.1")["data"]["login"]["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    new_email = unique_email("moved")
    wrong = {"i": {"newEmail": new_email, "currentPassword": WRONG}}
    for _ in range(2):
        body = _post(strict_app, CHANGE_EMAIL, wrong, address="127.0.0.1", headers=bearer)
        assert body["data"]["requestEmailChange"] == {
            "ok": False,
            "errors": [{"field": "currentPassword", "code": "INVALID"}],
        }
    right = {"i": {"newEmail": new_email, "currentPassword": PASSWORD}}
    body = _post(strict_app, CHANGE_EMAIL, right, address="127.0.0.1", headers=bearer)
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert body["errors"][0]["extensions"]["retryAfter"] > 0
