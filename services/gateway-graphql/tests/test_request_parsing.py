"""How ``/graphql`` reads a POST: its ``Content-Type``, the strict protocol, the body."""

from __future__ import annotations

from flask import Flask


def test_accepting_graphql_response_json_is_the_strict_protocol(app: Flask) -> None:
    response = app.test_client().post(
        "/graphql",
        json={"query": "{ noSuchField }"},
        headers={"Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/graphql-response+json"
    body = response.get_json(force=True)
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_multipart_subscriptions_are_refused(app: Flask) -> None:
    response = app.test_client().post(
        "/graphql",
        data='{"query": "{ __typename }"}',
        headers={
            "Content-Type": 'multipart/mixed; boundary="graphql"; subscriptionSpec="1.0"',
            "X-Requested-With": "test",
        },
    )
    assert response.status_code == 400
    message = response.get_json()["errors"][0]["message"]
    assert message == "Multipart subscriptions are not supported in sync mode"


def test_the_same_content_type_gets_the_same_answer_every_time(app: Flask) -> None:
    client = app.test_client()
    for _ in range(3):
        json_body = client.post(
            "/graphql",
            data='{"query": "{ __typename }"}',
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        assert json_body.get_json() == {"data": {"__typename": "Query"}}
        text = client.post(
            "/graphql",
            data='{"query": "{ __typename }"}',
            headers={"Content-Type": "text/plain", "X-Requested-With": "test"},
        )
        assert text.status_code == 400
        assert text.get_json()["errors"][0]["message"] == "Unsupported content type"
