"""In-process calls give what network calls give: statuses, rich details, metadata, deadlines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import wrappers_pb2
from grpc_health.v1 import health_pb2
from grpc_test_service import Handlers, Stub, errors

from alvin_grpc.client import create_channel
from alvin_grpc.errors import from_rpc_error
from alvin_grpc.inprocess import InProcessServer, channel_for
from alvin_grpc.server import GrpcServer, ServerSettings
from alvin_python_lib.logging import bind_request_id, get_request_id

TOKEN = "inprocess-test-token-of-at-least-32-chars"  # pragma: allowlist secret


@pytest.fixture
def inprocess(handlers: Handlers) -> Iterator[InProcessServer]:
    settings = ServerSettings(grpc_service_token=TOKEN)
    with InProcessServer([handlers.registration()], settings, name="test-service") as server:
        yield server


@pytest.fixture
def network(
    grpc_server_factory: Callable[..., tuple[GrpcServer, grpc.Channel]], handlers: Handlers
) -> GrpcServer:
    server, _ = grpc_server_factory(
        [handlers.registration()], ServerSettings(grpc_port=0, grpc_service_token=TOKEN)
    )
    return server


def _both(inprocess: InProcessServer, network: GrpcServer) -> dict[str, Stub]:
    return {
        "inprocess": Stub(create_channel(inprocess.target, token=TOKEN, default_timeout=5)),
        "network": Stub(create_channel(network.address, token=TOKEN, default_timeout=5)),
    }


def _failure(call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def _shape(error: grpc.RpcError) -> tuple[Any, ...]:
    domain = from_rpc_error(error)
    return (
        error.code(),  # type: ignore[attr-defined]
        error.details(),  # type: ignore[attr-defined]
        type(domain),
        domain.message,
        getattr(domain, "violations", None),
        getattr(domain, "field", None),
        getattr(domain, "key", None),
        getattr(domain, "retry_after", None),
    )


@pytest.mark.parametrize("name", sorted(errors()))
def test_every_domain_error_arrives_as_over_the_network(
    inprocess: InProcessServer, network: GrpcServer, name: str
) -> None:
    stubs = _both(inprocess, network)
    request = wrappers_pb2.StringValue(value=name)
    shapes = {mode: _shape(_failure(lambda s=s: s.Raise(request))) for mode, s in stubs.items()}
    assert shapes["inprocess"] == shapes["network"]


def test_unexpected_error_abort_and_missing_token_as_over_the_network(
    inprocess: InProcessServer, network: GrpcServer
) -> None:
    stubs = _both(inprocess, network)
    empty = wrappers_pb2.StringValue()
    boom = {m: _shape(_failure(lambda s=s: s.Boom(empty))) for m, s in stubs.items()}
    assert boom["inprocess"] == boom["network"]
    assert boom["inprocess"][0] is grpc.StatusCode.INTERNAL
    request = wrappers_pb2.StringValue(value="x")
    aborted = {m: _shape(_failure(lambda s=s: s.Abort(request))) for m, s in stubs.items()}
    assert aborted["inprocess"] == aborted["network"]
    anonymous = Stub(create_channel(inprocess.target, default_timeout=5))
    error = _failure(lambda: anonymous.Echo(request))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]


def test_request_is_serialized_and_request_id_travels_both_ways(
    inprocess: InProcessServer, handlers: Handlers
) -> None:
    stub = Stub(create_channel(inprocess.target, token=TOKEN, default_timeout=5))
    bind_request_id("caller-rid-1")
    request = wrappers_pb2.StringValue(value="hello")
    response, call = stub.Echo.with_call(request)
    assert response == request
    assert response is not request  # a parsed copy
    assert handlers.request_ids["hello"] == "caller-rid-1"  # the server bound the caller's id
    assert ("x-request-id", "caller-rid-1") in tuple(call.trailing_metadata())
    # the server cleared its own binding in its own context, not the caller's
    assert get_request_id() == "caller-rid-1"


def test_deadline_exceeded_and_time_remaining(inprocess: InProcessServer) -> None:
    stub = Stub(create_channel(inprocess.target, token=TOKEN, default_timeout=0.2))
    error = _failure(lambda: stub.Slow(wrappers_pb2.DoubleValue(value=0.5)))
    assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
    assert stub.Slow(wrappers_pb2.DoubleValue(value=0.0)) is not None


def test_a_handler_failing_after_the_deadline_is_deadline_exceeded(
    inprocess: InProcessServer, handlers: Handlers
) -> None:
    # past the deadline the error mapping leaves the exception alone (the client has gone):
    # the caller sees DEADLINE_EXCEEDED, as from a network call, not UNKNOWN
    original = handlers.raise_

    def late(request: Any, context: grpc.ServicerContext) -> Any:
        handlers.release.wait(0.3)
        return original(request, context)

    handlers.raise_ = late  # type: ignore[method-assign]
    try:
        server = InProcessServer([handlers.registration()], inprocess.settings, name="late").start()
        late_stub = Stub(create_channel(server.target, token=TOKEN, default_timeout=0.1))
        request = wrappers_pb2.StringValue(value="not_found")
        error = _failure(lambda: late_stub.Raise(request))
        assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
        server.stop()
    finally:
        handlers.raise_ = original  # type: ignore[method-assign]


def test_health_streaming_unknown_names_and_stop(inprocess: InProcessServer) -> None:
    channel = channel_for(inprocess.target)
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    serving = health_pb2.HealthCheckResponse.SERVING
    assert (
        check(health_pb2.HealthCheckRequest(service="alvin.test.v1.TestService")).status == serving
    )
    stub = Stub(create_channel(inprocess.target, token=TOKEN, default_timeout=5))
    streamed = _failure(lambda: list(stub.Count(wrappers_pb2.Int32Value(value=2))))
    assert streamed.code() is grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="no in-process gRPC server named 'nope'"):
        create_channel("inprocess:nope")
    with pytest.raises(ValueError, match="no TLS"):
        create_channel(inprocess.target, tls=True)
    with pytest.raises(ValueError, match="is running"):
        InProcessServer([], name=inprocess.name).start()
    inprocess.stop()
    stopped = _failure(lambda: stub.Echo(wrappers_pb2.StringValue(value="late")))
    assert stopped.code() is grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
