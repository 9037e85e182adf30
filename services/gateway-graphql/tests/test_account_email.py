"""Password reset, email verification and email change through HTTP: answers, shapes and errors.

The links' tokens only exist in the emails, which this suite's user-service does not send (no
worker): the successful flows run in kit/e2e against the stack and its caught emails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from conftest import PASSWORD, TOKEN, make_settings, unique_email
from flask import Flask
from support.graphql_client import GraphQLTestClient
from support.user_service_process import UserServiceProcess, own_user_service

from gateway_graphql.api.graphql.ids import user_global_id
from gateway_graphql.app.settings import Settings
from gateway_graphql.remote.user_service import User, UserServiceClient

SIGNUP = """
mutation ($i: SignupInput!) { signup(input: $i) { ok user { id } errors { field message code } } }
"""
LOGIN = "mutation ($i: LoginInput!) { login(input: $i) { token errors { code } } }"
REQUEST_RESET = """
mutation ($i: RequestPasswordResetInput!) {
  requestPasswordReset(input: $i) { ok errors { field message code } }
}
"""
RESET = """
mutation ($i: ResetPasswordInput!) {
  resetPassword(input: $i) { ok errors { field message code } }
}
"""
VERIFY = """
mutation ($i: VerifyEmailInput!) {
  verifyEmail(input: $i) { user { id email emailVerified } errors { field message code } }
}
"""
CHANGE_EMAIL = """
mutation ($i: RequestEmailChangeInput!) {
  requestEmailChange(input: $i) { ok errors { field message code } }
}
"""
ME = "{ me { email emailVerified } }"
LOGIN_WITH_FIELD = "mutation ($i: LoginInput!) { login(input: $i) { token errors { field code } } }"
UNUSABLE_LINK = {
    "field": "token",
    "message": "The link is invalid, expired or already used.",
    "code": "INVALID",
}


def _token(gql: GraphQLTestClient, email: str) -> str:
    token: str = gql.execute(
        LOGIN, {"i": {"email": email, "password": PASSWORD, "tokenDelivery": "BEARER"}}
    )["data"]["login"]["token"]
    assert token
    return token


def test_signup_answers_alike_for_new_and_taken_addresses(gql: GraphQLTestClient) -> None:
    email = unique_email("alike")
    fields = {"password": PASSWORD, "displayName": "Alike"}
    new = gql.execute(SIGNUP, {"i": {"email": email, **fields}})
    taken = gql.execute(SIGNUP, {"i": {"email": email.upper(), **fields}})
    assert new == taken == {"data": {"signup": {"ok": True, "user": None, "errors": []}}}


def test_request_password_reset_answers_alike_for_known_and_unknown_addresses(
    gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    known = gql.execute(REQUEST_RESET, {"i": {"email": make_user().email}})
    unknown = gql.execute(REQUEST_RESET, {"i": {"email": unique_email("nobody")}})
    malformed = gql.execute(REQUEST_RESET, {"i": {"email": "not an email"}})
    expected = {"data": {"requestPasswordReset": {"ok": True, "errors": []}}}
    assert known == unknown == malformed == expected


def test_request_password_reset_is_rate_limited_per_address(gql: GraphQLTestClient) -> None:
    email = unique_email("bombed")
    for _ in range(3):  # the user-service's default: 3 per address per hour
        gql.execute(REQUEST_RESET, {"i": {"email": email}})
    limited = gql.execute(REQUEST_RESET, {"i": {"email": email}})
    assert limited["data"] == {"requestPasswordReset": None}
    assert limited["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


def test_reset_password_with_an_unusable_token_names_the_token(gql: GraphQLTestClient) -> None:
    for token in ("", "made-up-token"):
        result = gql.execute(RESET, {"i": {"token": token, "newPassword": "a fine passphrase"}})
        payload = result["data"]["resetPassword"]
        assert payload["ok"] is False
        assert payload["errors"] == [
            {"field": "token", "code": "INVALID", "message": UNUSABLE_LINK["message"]}
            if token
            else {"field": "token", "code": "INVALID", "message": "The link is required."}
        ]


def test_verify_email_with_an_unusable_token_names_the_token(gql: GraphQLTestClient) -> None:
    result = gql.execute(VERIFY, {"i": {"token": "made-up-token"}})
    assert result == {"data": {"verifyEmail": {"user": None, "errors": [UNUSABLE_LINK]}}}


def test_email_verified_is_visible_where_email_is(
    gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    me = make_user("Me")
    other = make_user("Other")
    token = _token(gql, me.email)
    assert gql.execute(ME, token=token)["data"]["me"] == {"email": me.email, "emailVerified": False}
    query = "query ($id: ID!) { user(id: $id) { email emailVerified } }"
    seen = gql.execute(query, {"id": user_global_id(other.id)}, token=token)["data"]["user"]
    assert seen == {"email": None, "emailVerified": None}


def test_request_email_change_needs_a_login_and_the_current_password(
    gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    variables = {"i": {"newEmail": unique_email("moved"), "currentPassword": PASSWORD}}
    anonymous = gql.execute(CHANGE_EMAIL, variables)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    user = make_user()
    token = _token(gql, user.email)
    wrong = gql.execute(
        CHANGE_EMAIL,
        {"i": {"newEmail": unique_email("moved"), "currentPassword": "not the password"}},
        token=token,
    )["data"]["requestEmailChange"]
    assert wrong == {
        "ok": False,
        "errors": [
            {
                "field": "currentPassword",
                "message": "Current password does not match the current password.",
                "code": "INVALID",
            }
        ],
    }
    same = gql.execute(
        CHANGE_EMAIL, {"i": {"newEmail": user.email, "currentPassword": PASSWORD}}, token=token
    )["data"]["requestEmailChange"]
    assert [(e["field"], e["code"]) for e in same["errors"]] == [("newEmail", "INVALID")]


def test_request_email_change_answers_alike_for_a_free_and_a_taken_address(
    gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    user = make_user()
    holder = make_user()
    token = _token(gql, user.email)
    free = gql.execute(
        CHANGE_EMAIL,
        {"i": {"newEmail": unique_email("free"), "currentPassword": PASSWORD}},
        token=token,
    )
    taken = gql.execute(
        CHANGE_EMAIL, {"i": {"newEmail": holder.email, "currentPassword": PASSWORD}}, token=token
    )
    assert free == taken == {"data": {"requestEmailChange": {"ok": True, "errors": []}}}
    # nothing changes before the new address is verified
    assert gql.execute(ME, token=token)["data"]["me"]["email"] == user.email


@pytest.fixture(scope="module")
def verified_only_service(database_url: str) -> Iterator[UserServiceProcess]:
    """A user-service of its own where unverified users may not log in."""
    env = {"USER_SERVICE_UNVERIFIED_MAY_LOG_IN": "false"}
    with own_user_service(
        database_url, prefix="gateway_verified_only", token=TOKEN, env=env
    ) as service:
        yield service


# a user-service process of its own, with the strict verification setting
@pytest.mark.user_service_process
def test_login_of_an_unverified_user_is_email_not_verified_when_required(
    app_factory: Callable[[Settings], Flask], verified_only_service: UserServiceProcess
) -> None:
    app = app_factory(make_settings(verified_only_service.target))
    email = unique_email("unverified")
    client = UserServiceClient.connect(verified_only_service.target, token=TOKEN, timeout_s=10)
    try:
        client.create_user(email=email, password=PASSWORD, display_name="U")
    finally:
        client.close()

    def login(password: str) -> object:
        credentials = {"email": email, "password": password, "tokenDelivery": "BEARER"}
        response = app.test_client().post(
            "/graphql", json={"query": LOGIN_WITH_FIELD, "variables": {"i": credentials}}
        )
        assert response.status_code == 200
        return response.get_json()["data"]["login"]

    assert login(PASSWORD) == {
        "token": None,
        "errors": [{"field": "email", "code": "EMAIL_NOT_VERIFIED"}],
    }
    # said only after the right password: a wrong one gets the generic answer
    wrong = "wrong password!"  # pragma: allowlist secret (a test password)
    assert login(wrong) == {
        "token": None,
        "errors": [{"field": None, "code": "INVALID_CREDENTIALS"}],
    }
