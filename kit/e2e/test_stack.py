"""The whole stack through its public interfaces only: GraphQL over HTTP, email at the SMTP catcher.

The client is a third-party GraphQL client (gql over HTTP); nothing of the kit is imported.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import psutil
import pytest
from conftest import LocalStack, Stack
from gql import Client, GraphQLRequest, gql
from gql.transport.requests import RequestsHTTPTransport

SIGNUP = gql(
    """
    mutation Signup($input: SignupInput!) {
      signup(input: $input) { ok errors { field message code } }
    }
    """
)
LOGIN = gql(
    """
    mutation Login($input: LoginInput!) {
      login(input: $input) { token user { id } errors { field message code } }
    }
    """
)
ME = gql("query Me { me { id email displayName } }")
USERS = gql(
    """
    query Users($first: Int, $after: String) {
      users(first: $first, after: $after) {
        edges { cursor node { id displayName invitedBy { id displayName } } }
        pageInfo { hasNextPage endCursor }
      }
    }
    """
)
UPDATE_ME = gql(
    """
    mutation UpdateMe($input: UpdateMeInput!) {
      updateMe(input: $input) { user { displayName } errors { field message code } }
    }
    """
)
LOGOUT = gql("mutation Logout { logout(input: {}) { ok } }")


def run(
    stack: Stack,
    query: Any,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """One GraphQL request with a fresh client, as a single-page app would send it."""
    headers = {"X-Request-ID": request_id or uuid.uuid4().hex}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    transport = RequestsHTTPTransport(url=stack.graphql_url, headers=headers, timeout=15)
    with Client(transport=transport, fetch_schema_from_transport=False) as session:
        return dict(session.execute(GraphQLRequest(query, variable_values=variables)))


def test_signup_email_login_me_users_update_logout(stack: Stack) -> None:
    request_id = f"e2e-{uuid.uuid4().hex[:12]}"
    address = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    signup_input = {"email": address, "password": "an e2e password", "displayName": "E2E"}
    signed_up = run(stack, SIGNUP, {"input": signup_input}, request_id=request_id)["signup"]
    # the same answer as for a taken address: signup returns no user (log in next)
    assert signed_up == {"ok": True, "errors": []}

    welcome = stack.wait_for_mail(address, subject="Welcome!")
    assert welcome["Subject"] == "Welcome!"

    # an API client: it asks for the token (a browser would get the HttpOnly cookie instead)
    credentials = {"email": address, "password": "an e2e password", "tokenDelivery": "BEARER"}
    login = run(stack, LOGIN, {"input": credentials})["login"]
    assert login["errors"] == []
    token = login["token"]
    me = run(stack, ME, token=token)["me"]
    assert me == {"id": login["user"]["id"], "email": address, "displayName": "E2E"}

    renamed = run(stack, UPDATE_ME, {"input": {"displayName": "Renamed E2E"}}, token=token)
    assert renamed["updateMe"] == {"user": {"displayName": "Renamed E2E"}, "errors": []}

    assert run(stack, LOGOUT, token=token)["logout"]["ok"] is True
    assert run(stack, ME, token=token)["me"] is None

    # The request id of the signup travelled gateway -> gRPC metadata -> outbox -> Celery task.
    for process in ("gateway", "grpc", "worker"):
        records = stack.json_lines_of(process)
        assert any(r.get("request_id") == request_id for r in records), process


def _signup(stack: Stack, name: str, invited_by: str | None = None) -> dict[str, Any]:
    data = {
        "email": f"{name}-{uuid.uuid4().hex[:8]}@example.com",
        "password": "an e2e password",
        "displayName": name,
    }
    if invited_by:
        data["invitedBy"] = invited_by
    result = run(stack, SIGNUP, {"input": data})["signup"]
    assert result["errors"] == []
    # signup returns no user (that would tell a taken address apart): its login does
    credentials = {"email": data["email"], "password": data["password"]}
    login = run(stack, LOGIN, {"input": credentials})["login"]
    assert login["errors"] == []
    return dict(login["user"])


def test_users_pagination_and_batched_invited_by(stack: Stack) -> None:
    inviter = _signup(stack, "inviter")
    for n in range(4):
        _signup(stack, f"invited{n}", invited_by=inviter["id"])

    seen: list[str] = []
    after = None
    while True:
        page = run(stack, USERS, {"first": 2, "after": after})["users"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) >= 5

    # N+1 through the public API: one page of users with their inviters costs ListUsers plus at
    # most one BatchGetUsers in the user-service's access log for that request id.
    request_id = f"e2e-batch-{uuid.uuid4().hex[:8]}"
    page = run(stack, USERS, {"first": 50}, request_id=request_id)
    inviters = [e["node"]["invitedBy"] for e in page["users"]["edges"] if e["node"]["invitedBy"]]
    assert len(inviters) >= 4
    deadline = time.monotonic() + 10
    while True:
        calls = [
            r["method"]
            for r in stack.json_lines_of("grpc")
            if r.get("request_id") == request_id and r.get("event") == "grpc.access"
        ]
        if calls or time.monotonic() > deadline:
            break
        time.sleep(0.1)  # polling interval: the stack's output reaches the log file asynchronously
    assert calls.count("/alvin.user.v1.UserService/ListUsers") == 1
    assert set(calls) <= {
        "/alvin.user.v1.UserService/ListUsers",
        "/alvin.user.v1.UserService/BatchGetUsers",
    }
    assert len(calls) <= 2


def test_graphiql_answers_from_the_gateway_itself(stack: Stack) -> None:
    import urllib.request

    request = urllib.request.Request(stack.graphql_url, headers={"Accept": "text/html"})
    with urllib.request.urlopen(request, timeout=10) as response:
        page = response.read().decode()
    assert response.status == 200
    assert "graphiql" in page.lower()
    assert "cdn" not in page.lower()  # assets come from the gateway, not a CDN


@pytest.mark.local_stack
def test_a_busy_port_is_one_clear_line(local_stack: LocalStack) -> None:
    import os
    import socket
    import subprocess
    import sys

    from conftest import ROOT

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(ROOT / "deploy" / "local" / "run_stack.py")],
            env={**os.environ, "GATEWAY_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(port) in lines[0]
    assert "GATEWAY_PORT" in lines[0]


@pytest.mark.local_stack
def test_stop_leaves_no_process(local_stack: LocalStack) -> None:
    import signal

    stack = local_stack
    stack.remember_pids()
    assert stack.pids, "the stack has no child processes?"
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(timeout=30) == 0
    deadline = time.monotonic() + 10
    alive = stack.pids
    while alive and time.monotonic() < deadline:
        alive = {
            pid
            for pid in alive
            if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        }
        time.sleep(0.1)  # polling interval
    assert alive == set()
