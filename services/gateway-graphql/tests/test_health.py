"""Probes against the real user-service."""

from __future__ import annotations

from support.graphql_client import GraphQLTestClient


def test_readyz_when_the_user_service_serves(gql: GraphQLTestClient) -> None:
    response = gql.client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"user-service": "SERVING"}}
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz(gql: GraphQLTestClient) -> None:
    response = gql.client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_unknown_paths_and_methods_are_json(gql: GraphQLTestClient) -> None:
    missing = gql.client.get("/nope")
    assert missing.status_code == 404
    assert missing.is_json
    assert missing.get_json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    wrong = gql.client.put("/graphql")
    assert wrong.status_code == 405
    assert wrong.is_json
    assert "POST" in wrong.headers["Allow"]
