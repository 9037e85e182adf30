"""HTTP metrics: counted per route, status and bounded GraphQL operation name."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from prometheus_client import REGISTRY
from support.graphql_client import GraphQLTestClient

from gateway_graphql.app.settings import Settings
from gateway_graphql.web.http_metrics import OperationNames


def requests_total(**labels: str) -> float:
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def test_requests_are_counted_by_route_status_and_operation(gql: GraphQLTestClient) -> None:
    ok = {"method": "POST", "route": "/graphql", "status": "200", "operation": "TypeName"}
    anonymous = {**ok, "operation": "anonymous"}
    before_ok, before_anon = requests_total(**ok), requests_total(**anonymous)
    before_404 = requests_total(method="GET", route="unmatched", status="404", operation="")
    seconds = {"method": "POST", "route": "/graphql", "operation": "TypeName"}
    before_count = REGISTRY.get_sample_value("http_request_duration_seconds_count", seconds) or 0

    gql.post("query TypeName { __typename }", operation_name="TypeName")
    gql.post("query TypeName { __typename }", operation_name="TypeName")
    gql.post("{ __typename }")
    gql.client.get("/no/such/path/123")

    assert requests_total(**ok) == before_ok + 2
    assert requests_total(**anonymous) == before_anon + 1
    # Unknown paths share one label value (never the raw path).
    assert requests_total(method="GET", route="unmatched", status="404", operation="") == (
        before_404 + 1
    )
    after = REGISTRY.get_sample_value("http_request_duration_seconds_count", seconds)
    assert after == before_count + 2


def test_operation_names_stay_bounded(
    app_factory: Callable[[Settings], Flask], settings: Settings
) -> None:
    names = OperationNames(limit=2)
    assert names.label({"operationName": "First"}) == "First"
    assert names.label({"operationName": "Second"}) == "Second"
    assert names.label({"operationName": "Third"}) == "other"  # the limit is reached
    assert names.label({"operationName": "First"}) == "First"  # known names keep their label
    assert names.label({"operationName": "bad name; drop table"}) == "other"
    assert names.label({"operationName": 12}) == "other"
    assert names.label({"query": "{ a }"}) == "anonymous"
    assert names.label([{"operationName": "First"}]) == "batch"
    assert names.label(None) == "anonymous"

    # Through the app: with a limit of 0 every name is "other".
    app = app_factory(settings.model_copy(update={"metrics_max_operation_names": 0}))
    client = GraphQLTestClient(app.test_client())
    other = {"method": "POST", "route": "/graphql", "status": "200", "operation": "other"}
    before = requests_total(**other)
    client.post("query Whatever { __typename }", operation_name="Whatever")
    assert requests_total(**other) == before + 1
    assert requests_total(**{**other, "operation": "Whatever"}) == 0
