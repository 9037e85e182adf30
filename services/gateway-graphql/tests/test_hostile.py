"""Hostile input, fixed cases: SQL metacharacters and NUL in every string field, huge and broken
bodies, deep and wide documents, bad page sizes, cursors, IDs and session tokens.

Every answer is a client error in JSON (or data): never a 5xx, never an INTERNAL error.
The body-level cases go through real HTTP (the live gateway); the rest through the test client.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest
import requests
from conftest import PASSWORD, SESSION_COOKIE, make_settings, unique_email
from flask import Flask
from support.graphql_client import GraphQLTestClient
from support.user_service_process import UserServiceProcess

from gateway_graphql.app.settings import Settings
from gateway_graphql.remote.user_service import User

LOGIN = "mutation ($i: LoginInput!) { login(input: $i) { token errors { field code } } }"
ME = "{ me { id displayName } }"

HOSTILE = [
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    '" OR ""="',
    "%_\\",
    "a\x00b",
    "\x00",
    "x@example.com\x00' --",
]

# Every string argument of the schema, in a mutation that sends it as $v ($e: a fresh email,
# $p: a good password).
STRING_FIELDS = {
    "signup.email": 'signup(input: {email: $v, password: $p, displayName: "X"})',
    "signup.password": 'signup(input: {email: $e, password: $v, displayName: "X"})',
    "signup.displayName": "signup(input: {email: $e, password: $p, displayName: $v})",
    "signup.invitedBy": 'signup(input: {email: $e, password: $p, displayName: "X", invitedBy: $v})',
    "signup.clientMutationId": (
        'signup(input: {email: $e, password: $p, displayName: "X", clientMutationId: $v})'
    ),
    "login.email": "login(input: {email: $v, password: $p})",
    "login.password": "login(input: {email: $e, password: $v})",
    "updateMe.displayName": "updateMe(input: {displayName: $v})",
    "requestPasswordReset.email": "requestPasswordReset(input: {email: $v})",
    "resetPassword.token": "resetPassword(input: {token: $v, newPassword: $p})",
    "resetPassword.newPassword": (
        "resetPassword(input: {token: $e, newPassword: $v})"  # pragma: allowlist secret
    ),
    "verifyEmail.token": "verifyEmail(input: {token: $v})",
    "requestEmailChange.newEmail": "requestEmailChange(input: {newEmail: $v, currentPassword: $p})",
    "requestEmailChange.currentPassword": (
        "requestEmailChange(input: {newEmail: $e, currentPassword: $v})"
    ),
    "changePassword.currentPassword": "changePassword(input: {currentPassword: $v, newPassword: $p})",
    "changePassword.newPassword": "changePassword(input: {currentPassword: $p, newPassword: $v})",
    "logout.clientMutationId": "logout(input: {clientMutationId: $v})",
}
STRING_ARGUMENTS = {
    "user.id": "user(id: $v) { id }",
    "node.id": "node(id: $v) { id }",
    "nodes.ids": "nodes(ids: [$v]) { id }",
    "users.after": "users(after: $v) { edges { cursor } }",
}


def _no_internal(body: dict[str, Any]) -> list[str]:
    codes = [error["extensions"]["code"] for error in body.get("errors") or []]
    assert "INTERNAL" not in codes, body
    return codes


def _logged_in(gql: GraphQLTestClient, user: User) -> str:
    credentials = {"email": user.email, "password": PASSWORD, "tokenDelivery": "BEARER"}
    payload = gql.execute(LOGIN, {"i": credentials})
    token: str = payload["data"]["login"]["token"]
    assert token
    return token


@pytest.mark.parametrize("value", HOSTILE)
def test_sql_metacharacters_and_nul_in_every_string_field(
    gql: GraphQLTestClient, make_user: Callable[..., User], value: str
) -> None:
    user = make_user()
    token = _logged_in(gql, user)
    for name, field in STRING_FIELDS.items():  # logout comes last: the others run logged in
        declared = ["$v: ID!" if name == "signup.invitedBy" else "$v: String!"]
        variables = {"v": value}
        if "$e" in field:
            declared.append("$e: String!")
            variables["e"] = unique_email("sqli")
        if "$p" in field:
            declared.append("$p: String!")
            variables["p"] = "another good one 1"
        document = f"mutation ({', '.join(declared)}) {{ r: {field} {{ __typename }} }}"
        codes = _no_internal(gql.execute(document, variables, token=token))
        assert "GRAPHQL_VALIDATION_FAILED" not in codes, (name, codes)  # it reached the resolver
    for name, argument in STRING_ARGUMENTS.items():
        kind = "ID!" if name != "users.after" else "String!"
        codes = _no_internal(gql.execute(f"query ($v: {kind}) {{ r: {argument} }}", {"v": value}))
        assert "GRAPHQL_VALIDATION_FAILED" not in codes, (name, codes)
    # Nothing was injected: the table is intact, the user unchanged and able to log in.
    assert gql.execute("{ users(first: 1) { edges { cursor } } }")["data"]["users"]["edges"]
    token = _logged_in(gql, user)
    stored = user.display_name if "\x00" in value else value  # updateMe stored it verbatim
    assert gql.execute(ME, token=token)["data"]["me"]["displayName"] == stored


def test_sql_metacharacters_are_stored_verbatim(
    gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    token = _logged_in(gql, make_user())
    update = "mutation ($n: String!) { updateMe(input: {displayName: $n}) { errors { code } } }"
    for name in ("'; DROP TABLE users; --", "Robert'); DELETE FROM users;--", "%_\\"):
        assert gql.execute(update, {"n": name}, token=token)["data"]["updateMe"]["errors"] == []
        assert gql.execute(ME, token=token)["data"]["me"]["displayName"] == name


def test_nul_in_a_display_name_is_a_user_error(
    gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    token = _logged_in(gql, make_user("Before NUL"))
    update = (
        "mutation ($n: String!) { updateMe(input: {displayName: $n}) { errors { field code } } }"
    )
    result = gql.execute(update, {"n": "Bad\x00Name"}, token=token)
    assert result["data"]["updateMe"]["errors"] == [{"field": "displayName", "code": "INVALID"}]
    assert gql.execute(ME, token=token)["data"]["me"]["displayName"] == "Before NUL"


def test_a_10_mb_body_is_413_over_http(live_gateway: str) -> None:
    body = b'{"query": "{ __typename }", "padding": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    try:
        response = requests.post(
            f"{live_gateway}/graphql",
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
    except requests.ConnectionError:
        pytest.fail("the gateway dropped the connection instead of answering 413")
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"query": "{ me { id } }\xff\xfe"}', "application/json"),  # invalid UTF-8
        (b"\xc3\x28\xa0\xa1", "application/json"),
        (b'{"query": "{ __typename }"', "application/json"),  # malformed JSON
        (b'"just a string"', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b"null", "application/json"),
        (b"{ __typename }", "text/plain"),  # wrong content types
        (b"<query>{ __typename }</query>", "application/xml"),
        (b"query=%7B__typename%7D%FF", "application/x-www-form-urlencoded"),
        (b'{"query": "{ __typename }"}', "application/json; charset=latin-1"),
        (b"--x\r\nContent-Disposition: form-data\r\n\r\n{}\r\n--x--", "multipart/form-data"),
    ],
)
def test_broken_bodies_are_client_errors_over_http(
    live_gateway: str, body: bytes, content_type: str
) -> None:
    response = requests.post(
        f"{live_gateway}/graphql",
        data=body,
        # the preflight header lets the simple content types past the CSRF refusal, to the parser
        headers={"Content-Type": content_type, "X-Requested-With": "tests"},
        timeout=30,
    )
    assert 400 <= response.status_code < 500 or response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    _no_internal(response.json())


def test_1000_deep_nested_query_is_refused(gql: GraphQLTestClient) -> None:
    deep = "{ me { " + "invitedBy { " * 1000 + "id" + " }" * 1000 + " } }"
    result = gql.execute(deep)
    assert result["data"] is None
    assert _no_internal(result)[0] in ("GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED")
    lists = "{ nodes(ids: " + "[" * 1000 + '"x"' + "]" * 1000 + ") { id } }"
    assert _no_internal(gql.execute(lists))


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deeply_nested_json_variables(gql: GraphQLTestClient, depth: int) -> None:
    variables = '{"a":' * depth + "1" + "}" * depth
    body = '{"query": "query ($n: Int) { users(first: $n) { edges { cursor } } }", "variables": '
    response = gql.client.post(
        "/graphql",
        data=body + variables + "}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code < 500
    _no_internal(response.get_json())


def test_10000_aliases_are_refused(
    gql: GraphQLTestClient,
    app_factory: Callable[[Settings], Flask],
    user_service: UserServiceProcess,
) -> None:
    aliases = "{ " + " ".join(f"a{n}: __typename" for n in range(10_000)) + " }"
    assert gql.post(aliases).status_code == 413  # ~160 KB: the body limit comes first
    roomy = app_factory(make_settings(user_service.target, max_body_bytes=1024 * 1024))
    result = GraphQLTestClient(roomy.test_client()).execute(aliases)
    assert result["data"] is None
    assert _no_internal(result)[0] in ("GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED")


@pytest.mark.parametrize(
    "first", [-1, -(2**31), 2**31 - 1, 2**31, 2**63, -(2**63), 10**30, 1.5, "20"]
)
def test_negative_and_huge_page_sizes(gql: GraphQLTestClient, first: object) -> None:
    result = gql.execute("query ($n: Int) { users(first: $n) { edges { cursor } } }", {"n": first})
    codes = _no_internal(result)
    if codes:
        assert set(codes) <= {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}, result
    else:
        assert len(result["data"]["users"]["edges"]) <= 100


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


MALFORMED = [
    "",
    "=",
    "!!!",
    "%00",
    "A" * 10_000,
    "üser",
    _b64("User:"),
    _b64("User:-5"),
    _b64("User:abc"),
    _b64("User:" + "9" * 40),
    _b64("Nope:1"),
    _b64("User:1:2"),
    _b64("\x00"),
    _b64(json.dumps({"id": 1})),
    base64.b64encode(secrets.token_bytes(64)).decode(),
]


@pytest.mark.parametrize("value", MALFORMED)
def test_malformed_global_ids_and_cursors(gql: GraphQLTestClient, value: str) -> None:
    for document in (
        "query ($v: ID!) { user(id: $v) { id } }",
        "query ($v: ID!) { node(id: $v) { id } }",
        "query ($v: ID!) { nodes(ids: [$v, $v]) { id } }",
        "query ($v: String) { users(after: $v) { edges { cursor } } }",
    ):
        codes = _no_internal(gql.execute(document, {"v": value}))
        assert set(codes) <= {"BAD_USER_INPUT", "NOT_FOUND"}, (document, value, codes)


def test_forged_and_reused_session_tokens(
    gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    update = 'mutation { updateMe(input: {displayName: "Hijacked"}) { user { id } } }'
    for forged in (secrets.token_urlsafe(32), "", "x" * 5000, "a\x00b", "' OR 1=1 --"):
        assert gql.execute(ME, token=forged) == {"data": {"me": None}}
        assert _no_internal(gql.execute(update, token=forged)) == ["UNAUTHENTICATED"]
        gql.client.set_cookie(SESSION_COOKIE, forged[:4000])  # what a browser would keep
        assert gql.execute(ME) == {"data": {"me": None}}
    gql.client.delete_cookie(SESSION_COOKIE)

    user = make_user("Reused")
    login = gql.execute(LOGIN, {"i": {"email": user.email, "password": PASSWORD}})  # cookie login
    assert login["data"]["login"] == {"token": None, "errors": []}
    cookie = gql.client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    token = cookie.value  # the same secret, stolen and sent as a bearer token
    assert gql.execute(ME, token=token)["data"]["me"]["displayName"] == "Reused"
    gql.execute("mutation { logout(input: {}) { ok } }")  # ends this session (the cookie's)
    gql.client.set_cookie(SESSION_COOKIE, cookie.value)  # an attacker replays the cookie
    assert gql.execute(ME) == {"data": {"me": None}}
    assert gql.execute(ME, token=token) == {"data": {"me": None}}
    assert _no_internal(gql.execute(update, token=token)) == ["UNAUTHENTICATED"]
