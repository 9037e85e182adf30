"""Sessions and devices, and the admin role, through HTTP: each error path with its
``extensions.code`` (anonymous UNAUTHENTICATED, normal users FORBIDDEN, a stranger's session
NOT_FOUND)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from conftest import PASSWORD, unique_email
from flask import Flask
from support.graphql_client import GraphQLTestClient
from support.user_service_process import UserServiceProcess

from gateway_graphql.api.graphql.ids import user_global_id
from gateway_graphql.remote.user_service import User

LOGIN = """
mutation ($i: LoginInput!) { login(input: $i) { token errors { code } } }
"""
SESSIONS = "{ sessions { id userAgent address createdAt lastSeenAt expiresAt current } }"
REVOKE = """
mutation ($id: ID!) {
  revokeSession(input: {id: $id}) { revokedSessionId current errors { field code } }
}
"""
REVOKE_OTHERS = "mutation { revokeOtherSessions(input: {}) { revokedCount errors { code } } }"
ME = "{ me { id email admin } }"
USERS = """
query ($after: String) {
  users(first: 100, after: $after) {
    edges { node { id email admin } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
ADMIN_MUTATIONS = {
    "deactivateUser": "user { id } errors { field code }",
    "reactivateUser": "user { id } errors { field code }",
    "deleteUser": "deletedUserId errors { field code }",
}


def _login(app: Flask, email: str, *, agent: str = "pytest") -> str:
    client = GraphQLTestClient(app.test_client())
    credentials = {"email": email, "password": PASSWORD, "tokenDelivery": "BEARER"}
    payload = client.execute(LOGIN, {"i": credentials}, headers={"User-Agent": agent})
    login = payload["data"]["login"]
    assert login["errors"] == [], login
    token: str = login["token"]
    return token


def _code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


def _admin_mutation(name: str) -> str:
    return f"mutation ($id: ID!) {{ {name}(input: {{id: $id}}) {{ {ADMIN_MUTATIONS[name]} }} }}"


# ------------------------------------------------------------------------------ sessions


def test_two_devices_listed_one_revoked_then_the_others(
    app: Flask, gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    user = make_user()
    laptop = _login(app, user.email, agent="Laptop Firefox")
    phone = _login(app, user.email, agent="Phone Safari")
    tablet = _login(app, user.email, agent="Tablet")
    listed = gql.execute(SESSIONS, token=laptop)["data"]["sessions"]
    assert [(s["userAgent"], s["current"]) for s in listed] == [
        ("Tablet", False),
        ("Phone Safari", False),
        ("Laptop Firefox", True),
    ]
    assert {s["address"] for s in listed} == {"127.0.0.1"}
    assert all(s["createdAt"] and s["lastSeenAt"] and s["expiresAt"] for s in listed)
    assert base64.b64decode(listed[0]["id"]).startswith(b"Session:")

    revoked = gql.execute(REVOKE, {"id": listed[1]["id"]}, token=laptop)["data"]["revokeSession"]
    assert revoked == {"revokedSessionId": listed[1]["id"], "current": False, "errors": []}
    assert gql.execute(ME, token=phone)["data"]["me"] is None
    others = gql.execute(REVOKE_OTHERS, token=laptop)["data"]["revokeOtherSessions"]
    assert others == {"revokedCount": 1, "errors": []}
    assert gql.execute(ME, token=tablet)["data"]["me"] is None
    assert gql.execute(ME, token=laptop)["data"]["me"]["id"] == user_global_id(user.id)
    # ending the current session logs this client out
    own = gql.execute(REVOKE, {"id": listed[2]["id"]}, token=laptop)["data"]["revokeSession"]
    assert own["current"] is True
    assert gql.execute(ME, token=laptop)["data"]["me"] is None


def test_a_strangers_session_id_is_not_found_and_stays_open(
    app: Flask, gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    victim, stranger = make_user(), make_user()
    victim_token = _login(app, victim.email)
    stranger_token = _login(app, stranger.email)
    victim_session = gql.execute(SESSIONS, token=victim_token)["data"]["sessions"][0]["id"]
    body = gql.execute(REVOKE, {"id": victim_session}, token=stranger_token)
    assert _code(body) == "NOT_FOUND"
    assert gql.execute(ME, token=victim_token)["data"]["me"] is not None


def test_session_fields_need_a_login_and_a_session_id(
    gql: GraphQLTestClient, app: Flask, make_user: Callable[..., User]
) -> None:
    assert _code(gql.execute(SESSIONS)) == "UNAUTHENTICATED"
    assert _code(gql.execute(REVOKE_OTHERS)) == "UNAUTHENTICATED"
    assert _code(gql.execute(REVOKE, {"id": "U2Vzc2lvbjox"})) == "UNAUTHENTICATED"
    token = _login(app, make_user().email)
    for bad in ("not-an-id", user_global_id(123)):
        payload = gql.execute(REVOKE, {"id": bad}, token=token)["data"]["revokeSession"]
        assert payload["revokedSessionId"] is None
        assert payload["errors"] == [{"field": "id", "code": "INVALID"}]


# --------------------------------------------------------------------------------- admin


@pytest.fixture
def admin_token(
    app: Flask, make_user: Callable[..., User], user_service: UserServiceProcess
) -> str:
    boss = make_user("Boss")
    granted = user_service.cli("grant-admin", boss.email)
    assert granted.returncode == 0, granted.stderr
    return _login(app, boss.email)


# runs the user-service CLI on the service's database
@pytest.mark.user_service_process
def test_admins_see_emails_in_users_and_others_do_not(
    app: Flask, gql: GraphQLTestClient, make_user: Callable[..., User], admin_token: str
) -> None:
    other = make_user()
    normal = _login(app, make_user().email)
    me = gql.execute(ME, token=admin_token)["data"]["me"]
    assert me["admin"] is True
    # every page: the session's other tests made more users than one page holds
    seen = _listed(gql, admin_token)
    assert seen[user_global_id(other.id)]["email"] == other.email
    assert seen[user_global_id(other.id)]["admin"] is False
    hidden = _listed(gql, normal)
    assert hidden[user_global_id(other.id)] == {
        "id": user_global_id(other.id),
        "email": None,
        "admin": None,
    }
    assert hidden[me["id"]]["admin"] is None  # who is an administrator is not public


def _listed(gql: GraphQLTestClient, token: str) -> dict[str, Any]:
    """Every user of the ``users`` connection by ID, page after page."""
    found: dict[str, Any] = {}
    after = None
    while True:
        page = gql.execute(USERS, {"after": after}, token=token)["data"]["users"]
        found.update((edge["node"]["id"], edge["node"]) for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize("name", sorted(ADMIN_MUTATIONS))
def test_each_admin_field_is_forbidden_to_normal_users_and_needs_a_login(
    name: str, app: Flask, gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    target = make_user()
    normal = _login(app, make_user().email)
    query = _admin_mutation(name)
    variables = {"id": user_global_id(target.id)}
    assert _code(gql.execute(query, variables, token=normal)) == "FORBIDDEN"
    assert _code(gql.execute(query, variables)) == "UNAUTHENTICATED"
    assert gql.execute(ME, token=_login(app, target.email))["data"]["me"] is not None


# runs the user-service CLI on the service's database
@pytest.mark.user_service_process
def test_admin_deactivates_reactivates_and_deletes(
    app: Flask, gql: GraphQLTestClient, make_user: Callable[..., User], admin_token: str
) -> None:
    target = make_user()
    target_id = user_global_id(target.id)
    target_token = _login(app, target.email)

    off = gql.execute(_admin_mutation("deactivateUser"), {"id": target_id}, token=admin_token)
    assert off["data"]["deactivateUser"] == {"user": {"id": target_id}, "errors": []}
    assert gql.execute(ME, token=target_token)["data"]["me"] is None  # sessions revoked
    refused = gql.execute(
        LOGIN, {"i": {"email": target.email, "password": PASSWORD, "tokenDelivery": "BEARER"}}
    )["data"]["login"]
    assert refused["errors"] == [{"code": "INVALID_CREDENTIALS"}]

    on = gql.execute(_admin_mutation("reactivateUser"), {"id": target_id}, token=admin_token)
    assert on["data"]["reactivateUser"]["errors"] == []
    _login(app, target.email)

    gone = gql.execute(_admin_mutation("deleteUser"), {"id": target_id}, token=admin_token)
    assert gone["data"]["deleteUser"] == {"deletedUserId": target_id, "errors": []}
    again = gql.execute(_admin_mutation("deleteUser"), {"id": target_id}, token=admin_token)
    assert _code(again) == "NOT_FOUND"


# runs the user-service CLI on the service's database
@pytest.mark.user_service_process
def test_admins_cannot_target_themselves_or_malformed_ids(
    gql: GraphQLTestClient, admin_token: str
) -> None:
    me = gql.execute(ME, token=admin_token)["data"]["me"]["id"]
    for name in ("deactivateUser", "deleteUser"):
        body = gql.execute(_admin_mutation(name), {"id": me}, token=admin_token)
        assert body["data"][name]["errors"] == [{"field": "id", "code": "INVALID"}]
    body = gql.execute(_admin_mutation("deactivateUser"), {"id": "nope"}, token=admin_token)
    assert body["data"]["deactivateUser"]["errors"] == [{"field": "id", "code": "INVALID"}]


# runs the user-service CLI on the service's database
@pytest.mark.user_service_process
def test_the_cli_refuses_an_unknown_email(user_service: UserServiceProcess) -> None:
    result = user_service.cli("grant-admin", unique_email("ghost"))
    assert result.returncode == 1
    assert "No user has the email" in result.stderr
