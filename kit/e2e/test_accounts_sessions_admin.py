"""Sessions and devices and the admin role against the whole stack, through GraphQL over HTTP;
the operator's `user-service grant-admin` runs with the stack's own environment (its database).
Nothing of the kit is imported."""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import pytest
from conftest import LocalStack, Stack
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport

PASSWORD = "an e2e password"  # pragma: allowlist secret (a test password)
SIGNUP = gql("mutation ($i: SignupInput!) { signup(input: $i) { ok errors { field code } } }")
LOGIN = gql("mutation ($i: LoginInput!) { login(input: $i) { token user { id } errors { code } } }")
ME = gql("query { me { id email admin } }")
SESSIONS = gql("query { sessions { id userAgent address createdAt lastSeenAt current } }")
REVOKE = gql("mutation ($id: ID!) { revokeSession(input: {id: $id}) { current errors { code } } }")
REVOKE_OTHERS = gql("mutation { revokeOtherSessions(input: {}) { revokedCount errors { code } } }")
USERS = gql("query { users(first: 100) { edges { node { id email } } } }")
DEACTIVATE = gql(
    "mutation ($id: ID!) { deactivateUser(input: {id: $id}) { user { id } errors { code } } }"
)
REACTIVATE = gql(
    "mutation ($id: ID!) { reactivateUser(input: {id: $id}) { user { id } errors { code } } }"
)
DELETE = gql(
    "mutation ($id: ID!) { deleteUser(input: {id: $id}) { deletedUserId errors { code } } }"
)
TWO_LOGINS = gql(
    'mutation { a: login(input: {email: "a@example.com", password: "x"}) { token } '
    'b: login(input: {email: "b@example.com", password: "y"}) { token } }'
)


def run(
    stack: Stack,
    query: Any,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    agent: str = "e2e",
) -> Any:
    headers = {"X-Request-ID": uuid.uuid4().hex, "User-Agent": agent}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    transport = RequestsHTTPTransport(url=stack.graphql_url, headers=headers, timeout=15)
    with Client(transport=transport, fetch_schema_from_transport=False) as session:
        return session.execute(GraphQLRequest(query, variable_values=variables))


def error_code(stack: Stack, query: Any, variables: dict[str, Any] | None = None, **kw: Any) -> str:
    with pytest.raises(TransportQueryError) as info:
        run(stack, query, variables, **kw)
    assert info.value.errors, info.value
    code: str = info.value.errors[0]["extensions"]["code"]
    return code


def signup(stack: Stack, name: str) -> str:
    address = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    fields = {"email": address, "password": PASSWORD, "displayName": name}
    assert run(stack, SIGNUP, {"i": fields})["signup"] == {"ok": True, "errors": []}
    return address


def login(stack: Stack, address: str, agent: str = "e2e") -> tuple[str, str]:
    """(bearer token, user id) of a new session."""
    fields = {"email": address, "password": PASSWORD, "tokenDelivery": "BEARER"}
    payload = run(stack, LOGIN, {"i": fields}, agent=agent)["login"]
    assert payload["errors"] == [], payload
    return payload["token"], payload["user"]["id"]


def test_two_devices_listed_and_the_other_revoked(stack: Stack) -> None:
    address = signup(stack, "devices")  # signup does not log in: log in explicitly
    laptop, _ = login(stack, address, agent="e2e laptop")
    phone, _ = login(stack, address, agent="e2e phone")
    listed = run(stack, SESSIONS, token=laptop)["sessions"]
    assert [(s["userAgent"], s["current"]) for s in listed] == [
        ("e2e phone", False),
        ("e2e laptop", True),
    ]
    assert all(s["address"] and s["createdAt"] and s["lastSeenAt"] for s in listed)

    stranger, _ = login(stack, signup(stack, "stranger"))
    assert error_code(stack, REVOKE, {"id": listed[0]["id"]}, token=stranger) == "NOT_FOUND"
    assert run(stack, ME, token=phone)["me"] is not None  # untouched by the stranger

    assert run(stack, REVOKE_OTHERS, token=laptop)["revokeOtherSessions"] == {
        "revokedCount": 1,
        "errors": [],
    }
    assert run(stack, ME, token=phone)["me"] is None
    assert run(stack, ME, token=laptop)["me"]["email"] == address
    assert error_code(stack, SESSIONS) == "UNAUTHENTICATED"


def test_one_password_field_per_request(stack: Stack) -> None:
    assert error_code(stack, TWO_LOGINS) == "GRAPHQL_VALIDATION_FAILED"


@pytest.mark.local_stack
def test_admin_granted_by_the_cli_manages_users(local_stack: LocalStack) -> None:
    stack = local_stack
    boss_address = signup(stack, "boss")
    # the operator's command, with the environment (and so the database) of the stack's worker
    granted = subprocess.run(
        ["user-service", "grant-admin", boss_address],
        env=stack.environ_of("worker"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert granted.returncode == 0, granted.stderr
    boss, _ = login(stack, boss_address)
    assert run(stack, ME, token=boss)["me"]["admin"] is True

    member_address = signup(stack, "member")
    member, member_id = login(stack, member_address)
    normal, _ = login(stack, signup(stack, "normal"))
    emails = {
        e["node"]["id"]: e["node"]["email"] for e in run(stack, USERS, token=boss)["users"]["edges"]
    }
    assert emails[member_id] == member_address
    hidden = {
        e["node"]["id"]: e["node"]["email"]
        for e in run(stack, USERS, token=normal)["users"]["edges"]
    }
    assert hidden[member_id] is None
    for query in (DEACTIVATE, REACTIVATE, DELETE):
        assert error_code(stack, query, {"id": member_id}, token=normal) == "FORBIDDEN"
        assert error_code(stack, query, {"id": member_id}) == "UNAUTHENTICATED"

    off = run(stack, DEACTIVATE, {"id": member_id}, token=boss)["deactivateUser"]
    assert off == {"user": {"id": member_id}, "errors": []}
    assert run(stack, ME, token=member)["me"] is None  # their sessions ended
    refused = run(
        stack,
        LOGIN,
        {"i": {"email": member_address, "password": PASSWORD, "tokenDelivery": "BEARER"}},
    )["login"]
    assert refused["errors"] == [{"code": "INVALID_CREDENTIALS"}]
    assert run(stack, REACTIVATE, {"id": member_id}, token=boss)["reactivateUser"]["errors"] == []
    login(stack, member_address)
    gone = run(stack, DELETE, {"id": member_id}, token=boss)["deleteUser"]
    assert gone == {"deletedUserId": member_id, "errors": []}
