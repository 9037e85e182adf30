"""Authorization through HTTP: other users' public fields only; email and every mutation act on
the session's own user, never on another one; logins leave no secret in any log."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import PASSWORD, LogLines, unique_email
from support.graphql_client import GraphQLTestClient
from support.user_service_process import UserServiceProcess

from gateway_graphql.api.graphql.ids import user_global_id
from gateway_graphql.remote.user_service import User, UserServiceClient

LOGIN = """
mutation ($i: LoginInput!) { login(input: $i) { token user { id } errors { code } } }
"""
ME = "{ me { id email displayName } }"
USER = "query ($id: ID!) { user(id: $id) { id email displayName invitedBy { id email } } }"


def _login(gql: GraphQLTestClient, email: str, password: str = PASSWORD) -> str:
    """Log in as an API client: the bearer token (no cookie is set)."""
    credentials = {"email": email, "password": password, "tokenDelivery": "BEARER"}
    payload = gql.execute(LOGIN, {"i": credentials})["data"]["login"]
    assert payload["errors"] == [], payload
    token: str = payload["token"]
    return token


def _me(gql: GraphQLTestClient, token: str) -> Any:
    return gql.execute(ME, token=token)["data"]["me"]


def test_other_users_show_their_public_fields_only(
    gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    alice = make_user("Alice")
    bob = make_user("Bob", invited_by_id=alice.id)
    token = _login(gql, alice.email)

    seen = gql.execute(USER, {"id": user_global_id(bob.id)}, token=token)["data"]["user"]
    assert seen["displayName"] == "Bob"
    assert seen["email"] is None  # another user's email: hidden
    assert seen["invitedBy"] == {"id": user_global_id(alice.id), "email": alice.email}  # self

    nodes = gql.execute(
        "query ($ids: [ID!]!) { nodes(ids: $ids) { id ... on User { email } } }",
        {"ids": [user_global_id(bob.id), user_global_id(alice.id)]},
        token=token,
    )["data"]["nodes"]
    assert [node["email"] for node in nodes] == [None, alice.email]

    listing = gql.execute("{ users(first: 100) { edges { node { id email } } } }", token=token)[
        "data"
    ]["users"]["edges"]
    emails = {edge["node"]["id"]: edge["node"]["email"] for edge in listing}
    assert emails[user_global_id(alice.id)] == alice.email
    assert all(email is None for id_, email in emails.items() if id_ != user_global_id(alice.id))


def test_update_me_changes_the_session_user_only(
    gql: GraphQLTestClient, make_user: Callable[..., User], remote: UserServiceClient
) -> None:
    alice, bob = make_user("Alice"), make_user("Bob")
    token = _login(gql, alice.email)
    update = "mutation ($i: UpdateMeInput!) { updateMe(input: $i) { user { id } errors { code } } }"
    result = gql.execute(update, {"i": {"displayName": "Mallory"}}, token=token)
    assert result["data"]["updateMe"]["user"]["id"] == user_global_id(alice.id)
    assert remote.get_user(bob.id) == bob  # untouched
    assert (remote.get_user(alice.id).display_name, remote.get_user(alice.id).email) == (
        "Mallory",
        alice.email,
    )
    # There is no way to name another user: the input has no id.
    targeted = gql.post(
        f'mutation {{ updateMe(input: {{id: "{user_global_id(bob.id)}", displayName: "X"}}) '
        "{ user { id } } }",
        token=token,
    ).get_json()
    assert targeted["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert remote.get_user(bob.id) == bob


def test_change_password_and_logout_end_the_session_user_only(
    gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    alice, bob = make_user("Alice"), make_user("Bob")  # the same password, on purpose
    alice_token, bob_token = _login(gql, alice.email), _login(gql, bob.email)

    change = """
    mutation ($i: ChangePasswordInput!) { changePassword(input: $i) { ok errors { code } } }
    """
    changed = gql.execute(
        change, {"i": {"currentPassword": PASSWORD, "newPassword": "alice's new secret 1"}},
        token=alice_token,
    )  # fmt: skip
    assert changed["data"]["changePassword"] == {"ok": True, "errors": []}
    assert _me(gql, alice_token) is None  # Alice's sessions ended
    assert _me(gql, bob_token)["id"] == user_global_id(bob.id)  # Bob's did not
    assert _login(gql, bob.email)  # and Bob's password is unchanged
    assert _login(gql, alice.email, "alice's new secret 1")

    alice_token = _login(gql, alice.email, "alice's new secret 1")
    out = gql.execute("mutation { logout(input: {}) { ok } }", token=alice_token)
    assert out["data"]["logout"]["ok"] is True
    assert _me(gql, alice_token) is None
    assert _me(gql, bob_token)["id"] == user_global_id(bob.id)


@pytest.mark.user_service_process
def test_login_logs_neither_password_nor_token(
    gql: GraphQLTestClient,
    make_user: Callable[..., User],
    log_lines: LogLines,
    user_service: UserServiceProcess,
) -> None:
    password = "a Distinctive gateway passphrase 9"
    user = make_user("Logged")
    email = unique_email("logs")
    signup = "mutation ($i: SignupInput!) { signup(input: $i) { errors { code } } }"
    gql.execute(signup, {"i": {"email": email, "password": password, "displayName": "L"}})
    wrong = gql.execute(LOGIN, {"i": {"email": email, "password": password + "!"}})
    assert wrong["data"]["login"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]
    token = _login(gql, email, password)
    assert _me(gql, token)["email"] == email
    gql.execute("mutation { logout(input: {}) { ok } }", token=token)
    assert user.id  # a second user exists, so the logs are not trivially empty of ids

    records = log_lines.records()
    assert any(r.get("event") == "http.request" or "request_id" in r for r in records)
    gateway_log = json.dumps(records)
    service_log = user_service.log()
    assert "Authenticate" in service_log  # the user-service's access log is captured
    for secret in (password, token):
        assert secret not in gateway_log
        assert secret not in service_log
