"""Cost limits: depth, fields, aliases, tokens, body size, page size."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import cast

from conftest import make_settings
from flask import Flask
from support.graphql_client import GraphQLTestClient
from support.rpc_counter import RpcCounter
from support.user_service_process import UserServiceProcess

from gateway_graphql.api.graphql.schema import schema
from gateway_graphql.api.graphql.view import CACHED_QUERY_MAX_CHARS, GatewayGraphQLView, ViewOptions
from gateway_graphql.app.settings import Settings
from gateway_graphql.service.accounts import Accounts
from gateway_graphql.web.cookies import SessionCookie


def _nested(levels: int) -> str:
    """`{ me { invitedBy { ... { id } } } }` with ``levels`` fields on the deepest path."""
    inner = "id"
    for _ in range(levels - 2):
        inner = f"invitedBy {{ {inner} }}"
    return f"{{ me {{ {inner} }} }}"


def _limit_error(result: dict) -> dict:  # type: ignore[type-arg]
    assert result["data"] is None, result
    assert len(result["errors"]) == 1, result
    error: dict = result["errors"][0]  # type: ignore[type-arg]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    return error


def test_depth_limit(gql: GraphQLTestClient, rpc_counter: RpcCounter) -> None:
    assert "errors" not in gql.execute(_nested(10))  # the default maximum: 10 levels
    rpc_counter.reset()
    error = _limit_error(gql.execute(_nested(11)))
    assert error["message"] == "The query is nested 11 levels deep; the maximum is 10."
    assert error["extensions"] == {
        "code": "GRAPHQL_VALIDATION_FAILED",
        "limit": "depth",
        "maximum": 10,
    }
    assert rpc_counter.calls == []  # refused before anything ran


def test_depth_counts_through_fragments(gql: GraphQLTestClient) -> None:
    query = (
        _nested(10).replace("{ id }", "{ ...F }", 1) + " fragment F on User { invitedBy { id } }"
    )
    assert _limit_error(gql.execute(query))["extensions"]["limit"] == "depth"


def test_alias_limit(gql: GraphQLTestClient) -> None:
    ok = "{ " + " ".join(f"a{n}: __typename" for n in range(30)) + " }"
    assert "errors" not in gql.execute(ok)
    too_many = "{ " + " ".join(f"a{n}: __typename" for n in range(31)) + " }"
    error = _limit_error(gql.execute(too_many))
    assert error["extensions"]["limit"] == "aliases"
    assert error["message"] == "The query uses 31 aliases; the maximum is 30."


def test_field_limit_and_fragment_bombs(
    app_factory: Callable[[Settings], Flask], user_service: UserServiceProcess
) -> None:
    app = app_factory(make_settings(user_service.target, max_query_fields=20))
    gql = GraphQLTestClient(app.test_client())
    wide = "{ me { " + " ".join(["id displayName"] * 11) + " } }"  # 23 selections
    error = _limit_error(gql.execute(wide))
    assert error["extensions"]["limit"] == "fields"
    # Each fragment spreads the next one twice: 2^20 fields once expanded.
    fragments = " ".join(
        f"fragment F{n} on User {{ ...F{n + 1} invitedBy {{ ...F{n + 1} }} }}" for n in range(20)
    )
    bomb = "{ me { ...F0 } } " + fragments + " fragment F20 on User { id }"
    errors = gql.execute(bomb)["errors"]
    assert any(e["extensions"].get("limit") == "fields" for e in errors)


def test_token_limit(
    app_factory: Callable[[Settings], Flask], user_service: UserServiceProcess
) -> None:
    app = app_factory(make_settings(user_service.target, max_query_tokens=100))
    gql = GraphQLTestClient(app.test_client())
    result = gql.execute("{ " + "__typename " * 200 + "}")
    assert result["errors"][0]["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}


def test_body_size_limit_is_413_json(gql: GraphQLTestClient) -> None:
    padding = " " * (64 * 1024)
    response = gql.post("{ __typename }" + padding)
    assert response.status_code == 413
    assert response.is_json
    error = response.get_json()["errors"][0]
    assert error["extensions"] == {"code": "PAYLOAD_TOO_LARGE", "maximum": 65536}
    assert response.headers["X-Request-ID"]


def test_body_size_limit_without_content_length(gql: GraphQLTestClient) -> None:
    # A chunked body (no Content-Length), as gunicorn passes it on: stopped while it is read.
    body = b'{"query": "{ __typename }", "x": "' + b"y" * (70 * 1024) + b'"}'
    response = gql.client.post(
        "/graphql",
        input_stream=io.BytesIO(body),
        headers={"Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert response.is_json


def test_first_is_capped(gql: GraphQLTestClient, rpc_counter: RpcCounter, make_user) -> None:  # type: ignore[no-untyped-def]
    for n in range(3):
        make_user(f"Cap {n}")
    rpc_counter.reset()
    result = gql.execute("{ users(first: 100000) { edges { cursor } } }")
    assert "errors" not in result
    assert len(result["data"]["users"]["edges"]) <= 100
    assert rpc_counter.counts() == {"ListUsers": 1}


def _view(document_cache_size: int) -> GatewayGraphQLView:
    # The view alone (no request is executed, so the accounts service is never called).
    options = ViewOptions(
        accounts=cast(Accounts, None),
        cookie=SessionCookie(name="s", secure=False),
        document_cache_size=document_cache_size,
    )
    return GatewayGraphQLView(schema=schema.graphql_schema, options=options)


def test_repeated_queries_reuse_the_checked_document() -> None:
    view = _view(document_cache_size=2)
    first = view.checked_document("{ me { id } }")
    assert view.checked_document("{ me { id } }") is first  # parsed and validated once
    view.checked_document("{ a: me { id } }")
    view.checked_document("{ b: me { id } }")  # the LRU keeps 2: the first one is gone
    assert view.checked_document("{ me { id } }") is not first
    uncached = _view(document_cache_size=0)
    assert uncached.checked_document("{ me { id } }") is not uncached.checked_document(
        "{ me { id } }"
    )


def test_long_queries_are_checked_but_not_kept() -> None:
    view = _view(document_cache_size=8)
    long_query = "# " + "x" * CACHED_QUERY_MAX_CHARS + "\n{ me { id } }"
    assert len(long_query) > CACHED_QUERY_MAX_CHARS
    assert view.checked_document(long_query) is not view.checked_document(long_query)


def test_a_cached_invalid_query_is_refused_every_time(gql: GraphQLTestClient) -> None:
    too_deep = _nested(11)
    for _ in range(3):  # the second and third answers come from the cache
        error = _limit_error(gql.execute(too_deep))
        assert error["extensions"]["limit"] == "depth"
    for _ in range(2):  # a syntax error is never cached, and always refused
        result = gql.execute("{ me { id }")
        assert result["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
