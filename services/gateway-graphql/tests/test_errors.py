"""Every error code: gRPC statuses and domain exceptions -> GraphQL ``extensions.code``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from conftest import PASSWORD, LogLines, make_settings, unique_email
from flask import Flask
from support.graphql_client import GraphQLTestClient

from alvin_grpc.server import ServiceRegistration
from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as pb_grpc
from alvin_python_lib.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from gateway_graphql.api.graphql.errors import code_for
from gateway_graphql.api.graphql.ids import user_global_id
from gateway_graphql.app.bootstrap import connect_user_service
from gateway_graphql.app.factory import create_app
from gateway_graphql.app.settings import Settings
from gateway_graphql.remote.user_service import (
    ServiceCredentialsRejected,
    User,
    UserServiceClient,
)


def _only_error(result: dict[str, Any]) -> dict[str, Any]:
    assert len(result["errors"]) == 1, result
    error: dict[str, Any] = result["errors"][0]
    return error


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (NotFound(), "NOT_FOUND"),
        (Unauthenticated(), "UNAUTHENTICATED"),
        (PermissionDenied(), "FORBIDDEN"),
        (InvalidArgument(), "BAD_USER_INPUT"),
        (AlreadyExists(), "BAD_USER_INPUT"),
        (FailedPrecondition(), "BAD_USER_INPUT"),
        (ResourceExhausted(), "RATE_LIMITED"),
        (Unavailable(), "UNAVAILABLE"),
        (ServiceCredentialsRejected(), "INTERNAL"),
        (DomainError(), "INTERNAL"),
        (RuntimeError(), "INTERNAL"),
    ],
)
def test_code_of_each_exception(error: BaseException, code: str) -> None:
    assert code_for(error) == code


def test_not_found(gql: GraphQLTestClient) -> None:
    result = gql.execute(f'{{ user(id: "{user_global_id(2**62)}") {{ id }} }}')
    assert result["data"] == {"user": None}
    error = _only_error(result)
    assert error["extensions"] == {"code": "NOT_FOUND"}
    assert error["message"] == "User not found."
    assert error["path"] == ["user"]


def test_unauthenticated(gql: GraphQLTestClient) -> None:
    result = gql.execute('mutation { updateMe(input: {displayName: "x"}) { user { id } } }')
    assert result["data"] == {"updateMe": None}
    assert _only_error(result)["extensions"] == {"code": "UNAUTHENTICATED"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ('{ user(id: "not-an-id") { id } }', "id"),
        (f'{{ user(id: "{user_global_id(2**64 - 1)}") {{ id }} }}', "id"),
        ("{ users(first: -1) { edges { cursor } } }", "first"),
        ('{ users(after: "bm9wZQ") { edges { cursor } } }', "after"),
    ],
)
def test_bad_user_input(gql: GraphQLTestClient, query: str, field: str) -> None:
    error = _only_error(gql.execute(query))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert [v["field"] for v in error["extensions"]["violations"]] == [field]


def test_bad_variables_are_bad_user_input(gql: GraphQLTestClient) -> None:
    result = gql.execute("query ($n: Int) { users(first: $n) { edges { cursor } } }", {"n": "x"})
    assert _only_error(result)["extensions"] == {"code": "BAD_USER_INPUT"}


def test_parse_and_validation_failures(gql: GraphQLTestClient) -> None:
    assert _only_error(gql.execute("{ users("))["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}
    error = _only_error(gql.execute("{ nope }"))
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert "nope" in error["message"]


def test_rate_limited(gql: GraphQLTestClient, make_user: Callable[..., User]) -> None:
    user = make_user(email=unique_email("throttled"))
    login = "mutation ($i: LoginInput!) { login(input: $i) { errors { code } } }"
    variables = {"i": {"email": user.email, "password": "wrong password!"}}
    for _ in range(3):  # the test user-service allows 3 failures per email per window
        result = gql.execute(login, variables)
        assert result["data"]["login"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]
    result = gql.execute(login, {"i": {"email": user.email, "password": PASSWORD}})
    error = _only_error(result)
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] > 0
    assert error["message"] == "Too many failed logins; try again later."


class _RaisingCalls(grpc.UnaryUnaryClientInterceptor):
    """Raises ``error`` instead of making the calls to ``method``: a failure the gateway does not
    expect, below the use cases (a bug in a client library, say)."""

    def __init__(self, method: str, error: Exception) -> None:
        self.method = method
        self.error = error

    def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        if str(client_call_details.method).endswith(f"/{self.method}"):
            raise self.error
        return continuation(client_call_details, request)


def test_unexpected_error_is_internal_without_details_and_logged(
    settings: Settings, log_lines: LogLines
) -> None:
    failure = RuntimeError("secret detail: db password is hunter2")
    with connect_user_service(
        settings, interceptors=[_RaisingCalls("ListUsers", failure)]
    ) as client:
        gql = GraphQLTestClient(create_app(settings, user_service=client).test_client())
        response = gql.post("{ users { edges { cursor } } }", headers={"X-Request-ID": "req-int-1"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["data"] is None
    error = _only_error(body)
    assert error["message"] == "Internal server error."
    assert error["extensions"] == {"code": "INTERNAL", "requestId": "req-int-1"}
    assert "hunter2" not in response.get_data(as_text=True)

    logged = [r for r in log_lines.records() if r["event"] == "graphql.unexpected_error"]
    assert len(logged) == 1
    assert logged[0]["request_id"] == "req-int-1"
    assert "RuntimeError: secret detail" in logged[0]["exception"]


def test_refused_service_token_is_internal(
    app_factory: Callable[[Settings], Flask], user_service: Any, log_lines: LogLines
) -> None:
    app = app_factory(make_settings(user_service.target, user_service_token="wrong-token"))
    result = GraphQLTestClient(app.test_client()).execute("{ users { edges { cursor } } }")
    error = _only_error(result)
    assert error["extensions"]["code"] == "INTERNAL"
    events = [r["event"] for r in log_lines.records()]
    assert "graphql.remote_internal_error" in events


class _FailingUserService(pb_grpc.UserServiceServicer):  # type: ignore[misc]
    """A user-service that refuses lookups and crashes on listing."""

    def BatchGetUsers(self, request: Any, context: grpc.ServicerContext) -> Any:
        raise PermissionDenied("Not for you.")

    def GetUser(self, request: Any, context: grpc.ServicerContext) -> Any:
        raise PermissionDenied("Not for you.")

    def ListUsers(self, request: Any, context: grpc.ServicerContext) -> Any:
        raise RuntimeError("boom")


@pytest.fixture
def failing_gql(grpc_server_factory: Any) -> Iterator[GraphQLTestClient]:
    registration = ServiceRegistration.from_servicer(
        pb_grpc.add_UserServiceServicer_to_server,
        _FailingUserService(),
        pb.DESCRIPTOR.services_by_name["UserService"],
    )
    server, _ = grpc_server_factory([registration])
    client = UserServiceClient.connect(server.address, timeout_s=5)
    app = create_app(make_settings(server.address), user_service=client)
    yield GraphQLTestClient(app.test_client())
    client.close()


def test_forbidden_from_the_user_service(failing_gql: GraphQLTestClient) -> None:
    result = failing_gql.execute(f'{{ user(id: "{user_global_id(42)}") {{ id }} }}')
    error = _only_error(result)
    assert error["extensions"] == {"code": "FORBIDDEN"}
    assert error["message"] == "Not for you."


def test_internal_from_the_user_service(failing_gql: GraphQLTestClient) -> None:
    error = _only_error(failing_gql.execute("{ users { edges { cursor } } }"))
    assert error["message"] == "Internal server error."
    assert error["extensions"]["code"] == "INTERNAL"
    assert error["extensions"]["requestId"]


def test_csrf_refusal_is_forbidden_json(gql: GraphQLTestClient) -> None:
    response = gql.client.post(
        "/graphql",
        data='{"query": "mutation { logout(input: {}) { ok } }"}',
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 403
    assert response.is_json
    assert response.get_json()["errors"][0]["extensions"] == {"code": "CSRF_PREVENTED"}


def test_broken_requests_get_json_errors(gql: GraphQLTestClient) -> None:
    not_json = gql.client.post(
        "/graphql", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.get_json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}
    no_query = gql.client.post("/graphql", json={"variables": {}})
    assert no_query.status_code == 400
    assert no_query.get_json()["errors"][0]["message"] == "No GraphQL query found in the request."
    bad_variables = gql.client.post("/graphql", json={"query": "{ me { id } }", "variables": [1]})
    assert bad_variables.status_code == 400
    assert bad_variables.is_json
