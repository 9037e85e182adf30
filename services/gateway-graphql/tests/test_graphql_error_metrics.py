"""``graphql_errors_total{code,operation}``: GraphQL errors visible to operators, labels bounded."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from conftest import TOKEN, make_settings
from flask import Flask, Response
from prometheus_client import REGISTRY
from support.graphql_client import GraphQLTestClient
from support.user_service_process import (
    UserServiceProcess,
    own_user_service,
    wait_until,
)

from gateway_graphql.app.settings import Settings
from gateway_graphql.web.http_metrics import record_graphql_errors

USERS = "query Users { users(first: 1) { edges { cursor } } }"


def errors_total(code: str, operation: str) -> float:
    labels = {"code": code, "operation": operation}
    return REGISTRY.get_sample_value("graphql_errors_total", labels) or 0.0


def operation_labels() -> set[str]:
    return {
        sample.labels["operation"]
        for family in REGISTRY.collect()
        if family.name == "graphql_errors"
        for sample in family.samples
        if sample.name == "graphql_errors_total"
    }


@pytest.fixture
def stoppable_user_service(database_url: str) -> Iterator[UserServiceProcess]:
    """A user-service of this test alone (the test stops it)."""
    with own_user_service(database_url, prefix="gateway_stopped", token=TOKEN) as service:
        yield service


def test_a_stopped_user_service_moves_the_counter(
    app_factory: Callable[[Settings], Flask], stoppable_user_service: UserServiceProcess
) -> None:
    app = app_factory(make_settings(stoppable_user_service.target, user_service_timeout_s=1.0))
    gql = GraphQLTestClient(app.test_client())
    before = errors_total("UNAVAILABLE", "Users")
    answer = gql.execute(USERS, operation_name="Users")
    assert "errors" not in answer
    assert errors_total("UNAVAILABLE", "Users") == before  # no errors, nothing counted

    stoppable_user_service.stop()
    wait_until(
        lambda: not stoppable_user_service.serving(timeout=0.2), timeout=15, message="stopped"
    )
    answer = gql.execute(USERS, operation_name="Users")  # HTTP 200, as GraphQL answers errors
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["UNAVAILABLE"]
    assert errors_total("UNAVAILABLE", "Users") == before + 1


def test_each_code_counts_once_per_response(gql: GraphQLTestClient) -> None:
    bad_ids = 'query Nodes { a: user(id: "x") { id } b: user(id: "y") { id } }'
    before = errors_total("BAD_USER_INPUT", "Nodes")
    answer = gql.execute(bad_ids, operation_name="Nodes")
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["BAD_USER_INPUT"] * 2
    assert errors_total("BAD_USER_INPUT", "Nodes") == before + 1


def test_refusals_outside_execution_are_counted(gql: GraphQLTestClient) -> None:
    before_csrf = errors_total("CSRF_PREVENTED", "anonymous")
    before_405 = errors_total("METHOD_NOT_ALLOWED", "anonymous")
    before_parse = errors_total("GRAPHQL_PARSE_FAILED", "anonymous")
    forged = gql.client.post(
        "/graphql",
        data='{"query": "mutation { logout(input: {}) { ok } }"}',
        content_type="text/plain",
    )
    assert forged.status_code == 403
    over_get = gql.client.get(
        "/graphql", query_string={"query": "mutation { logout(input: {}) { ok } }"}
    )
    assert over_get.status_code == 405
    gql.execute("{ users(")
    assert errors_total("CSRF_PREVENTED", "anonymous") == before_csrf + 1
    assert errors_total("METHOD_NOT_ALLOWED", "anonymous") == before_405 + 1
    assert errors_total("GRAPHQL_PARSE_FAILED", "anonymous") == before_parse + 1


def test_strangers_cannot_grow_the_label_values(
    app_factory: Callable[[Settings], Flask], settings: Settings
) -> None:
    app = app_factory(settings.model_copy(update={"metrics_max_operation_names": 3}))
    gql = GraphQLTestClient(app.test_client())
    prefix = f"Junk{uuid.uuid4().hex[:8]}"
    before_other = errors_total("GRAPHQL_VALIDATION_FAILED", "other")
    names = [f"{prefix}N{n}" for n in range(200)]
    for name in names:
        answer = gql.execute(f"query {name} {{ noSuchField }}", operation_name=name)
        assert answer["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    long_name = "L" * 5000  # long and odd names never become label values
    gql.post(f"query {long_name} {{ noSuchField }}", operation_name=long_name)
    gql.post("{ noSuchField }", operation_name="bad name\n{}")

    junk = {label for label in operation_labels() if label.startswith((prefix, "LLL", "bad"))}
    assert junk == set(names[:3])  # the first few, then everything else is "other"
    assert errors_total("GRAPHQL_VALIDATION_FAILED", "other") == before_other + 199


def test_unknown_codes_are_other(app: Flask) -> None:
    before = errors_total("OTHER", "anonymous")
    with app.test_request_context("/graphql", method="POST", json={"query": "{ a }"}):
        record_graphql_errors(["SOMETHING_NEW", "NOT_FOUND"])
        app.process_response(Response("{}"))
    assert errors_total("OTHER", "anonymous") == before + 1
    assert "SOMETHING_NEW" not in {
        sample.labels["code"]
        for family in REGISTRY.collect()
        if family.name == "graphql_errors"
        for sample in family.samples
    }
