"""The user-service down: UNAVAILABLE within the deadline, never a hang or an HTML 500."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import LogLines, make_settings
from flask import Flask
from support.graphql_client import GraphQLTestClient
from support.user_service_process import free_port

from gateway_graphql.api.graphql.ids import user_global_id
from gateway_graphql.app.settings import Settings


@pytest.fixture
def down(app_factory: Callable[[Settings], Flask]) -> GraphQLTestClient:
    # Nothing listens there: connections are refused at once.
    settings = make_settings(f"127.0.0.1:{free_port()}", user_service_timeout_s=1.0)
    return GraphQLTestClient(app_factory(settings).test_client())


@pytest.mark.parametrize(
    ("query", "variables", "headers"),
    [
        ("{ users { edges { cursor } } }", None, {}),
        ('{ user(id: "VXNlcjox") { id } }', None, {}),
        ("{ me { id } }", None, {"Authorization": "Bearer some-token"}),
        (
            "mutation ($i: LoginInput!) { login(input: $i) { token } }",
            {"i": {"email": "a@example.com", "password": "whatever123"}},
            {},
        ),
    ],
)
def test_unavailable_quickly(
    down: GraphQLTestClient,
    query: str,
    variables: dict | None,
    headers: dict[str, str],  # type: ignore[type-arg]
) -> None:
    started = time.monotonic()
    response = down.post(query, variables, headers=headers)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.is_json
    errors = response.get_json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["UNAVAILABLE"]
    assert errors[0]["message"] == "Service unavailable; try again later."
    assert elapsed < 3.0  # the deadline is 1 s; refused connections fail faster still


def test_a_silent_user_service_costs_one_deadline(
    app_factory: Callable[[Settings], Flask],
) -> None:
    # A port that accepts connections and never answers: calls wait for their deadline, which
    # covers every retry, and the answer is UNAVAILABLE (never a hang, never an HTML 500).
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        target = f"127.0.0.1:{silent.getsockname()[1]}"
        app = app_factory(make_settings(target, user_service_timeout_s=1.0))
        gql = GraphQLTestClient(app.test_client())
        started = time.monotonic()
        result = gql.execute("{ users { edges { node { invitedBy { id } } } } }")
        elapsed = time.monotonic() - started
    assert [e["extensions"]["code"] for e in result["errors"]] == ["UNAVAILABLE"]
    assert result["errors"][0]["message"] == "The remote service did not answer in time."
    assert 0.9 < elapsed < 3.0


def test_many_fields_failing_together_are_logged_once(
    down: GraphQLTestClient, log_lines: LogLines, make_user: Callable[..., Any]
) -> None:
    ids = [user_global_id(n) for n in range(1, 51)]
    result = down.execute("query ($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
    assert len(result["errors"]) == 50  # one per field, as GraphQL requires
    warnings = [r for r in log_lines.records() if r["event"] == "graphql.dependency_unavailable"]
    assert len(warnings) == 1  # but one log line: it is one failed call


def test_probes_when_the_user_service_is_down(down: GraphQLTestClient) -> None:
    started = time.monotonic()
    ready = down.client.get("/readyz")
    assert time.monotonic() - started < 3.0
    assert ready.status_code == 503
    assert ready.get_json() == {
        "status": "unavailable",
        "checks": {"user-service": "UNREACHABLE"},
    }
    live = down.client.get("/healthz")
    assert live.status_code == 200
    assert live.get_json() == {"status": "ok"}
