"""Request ids: taken from X-Request-ID or made, sent to the user-service, echoed, logged."""

from __future__ import annotations

from conftest import LogLines
from support.graphql_client import GraphQLTestClient
from support.rpc_counter import RpcCounter


def test_incoming_id_travels_to_the_user_service_and_back(
    gql: GraphQLTestClient, rpc_counter: RpcCounter, log_lines: LogLines
) -> None:
    response = gql.post(
        "{ users(first: 1) { edges { cursor } } }", headers={"X-Request-ID": "abc-123"}
    )
    assert response.headers["X-Request-ID"] == "abc-123"
    assert [c.metadata["x-request-id"] for c in rpc_counter.calls] == ["abc-123"]
    access = [r for r in log_lines.records() if r["event"] == "http.access"]
    assert access
    assert all(r["request_id"] == "abc-123" for r in access)
    assert access[0]["status"] == 200
    assert access[0]["path"] == "/graphql"


def test_missing_or_invalid_ids_are_replaced(
    gql: GraphQLTestClient, rpc_counter: RpcCounter
) -> None:
    made = gql.post("{ users(first: 1) { edges { cursor } } }")
    request_id = made.headers["X-Request-ID"]
    assert len(request_id) == 32
    assert rpc_counter.calls[-1].metadata["x-request-id"] == request_id

    for bad in ("bad id with spaces", "x" * 129, 'quote"s'):
        injected = gql.post("{ __typename }", headers={"X-Request-ID": bad})
        assert injected.headers["X-Request-ID"] not in (bad, request_id)
        assert len(injected.headers["X-Request-ID"]) == 32


def test_every_log_line_of_a_request_has_its_id(
    gql: GraphQLTestClient, log_lines: LogLines
) -> None:
    gql.post("{ users(first: 1) { edges { cursor } } }", headers={"X-Request-ID": "all-lines"})
    lines = [r for r in log_lines.records() if r.get("logger", "").startswith("gateway_graphql")]
    assert lines
    assert {r.get("request_id") for r in lines} == {"all-lines"}


def test_error_responses_carry_the_id_too(gql: GraphQLTestClient) -> None:
    response = gql.client.get("/nope", headers={"X-Request-ID": "err-1"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "err-1"
