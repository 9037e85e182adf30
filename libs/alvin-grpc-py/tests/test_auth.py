"""Service authentication: shared token; health stays open, reflection needs the token."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import wrappers_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_test_service import SERVICE_NAME, Handlers, Stub

from alvin_grpc.client import BaseClient, create_channel
from alvin_grpc.interceptors import ServiceAuthInterceptor
from alvin_grpc.server import ServerSettings
from alvin_grpc.testing import assert_rpc_error
from alvin_python_lib.errors import Unauthenticated

TOKEN = "correct-horse-battery-staple"


@pytest.fixture
def protected(serve: Any) -> tuple[Any, grpc.Channel, Stub]:
    return serve(ServerSettings(grpc_service_token=TOKEN))  # type: ignore[arg-type]


def test_calls_without_or_with_a_wrong_token_are_rejected(
    protected: Any, handlers: Handlers, log_lines: Any
) -> None:
    _, _, stub = protected
    request = wrappers_pb2.StringValue(value="x")
    for metadata in (
        (),
        (("authorization", "Bearer wrong"),),
        (("authorization", f"Basic {TOKEN}"),),
        (("x-service-token", "wrong"),),
        (("authorization", "Bearer "),),
    ):
        assert_rpc_error(
            lambda metadata=metadata: stub.Echo(request, metadata=metadata),
            grpc.StatusCode.UNAUTHENTICATED,
            details="Missing or invalid service credentials.",
        )
    assert not handlers.calls  # the handler never ran

    # Streams are guarded too.
    assert_rpc_error(
        lambda: list(stub.Count(wrappers_pb2.Int32Value(value=2))),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    rejected = [line for line in log_lines() if line.get("event") == "grpc.auth.rejected"]
    assert {line["reason"] for line in rejected} == {"missing credentials", "wrong token"}
    assert all(TOKEN not in str(line) for line in log_lines())


def test_the_right_token_is_accepted(protected: Any) -> None:
    server, _, stub = protected
    request = wrappers_pb2.StringValue(value="x")
    assert stub.Echo(request, metadata=(("authorization", f"Bearer {TOKEN}"),)).value == "x"
    assert stub.Echo(request, metadata=(("authorization", f"bearer {TOKEN}"),)).value == "x"
    assert stub.Echo(request, metadata=(("x-service-token", TOKEN),)).value == "x"

    channel = create_channel(server.address, token=TOKEN)
    try:
        assert Stub(channel).Echo(request).value == "x"
        assert [i.value for i in Stub(channel).Count(wrappers_pb2.Int32Value(value=2))] == [0, 1]
    finally:
        channel.close()


def test_typed_client_raises_unauthenticated(protected: Any) -> None:
    server, _, _ = protected
    channel = create_channel(server.address, token="nope")
    client = BaseClient(channel, Stub)
    try:
        with pytest.raises(Unauthenticated) as raised:
            client.call(client.stub.Echo, wrappers_pb2.StringValue(value="x"))
        assert raised.value.message == "Missing or invalid service credentials."
    finally:
        client.close()


def test_health_needs_no_token(protected: Any) -> None:
    _, channel, _ = protected
    health = health_pb2_grpc.HealthStub(channel)
    reply = health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    watch = health.Watch(health_pb2.HealthCheckRequest(), timeout=5)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()


def test_reflection_needs_the_token(protected: Any) -> None:
    server, channel, _ = protected
    with pytest.raises(grpc.RpcError) as raised:
        ProtoReflectionDescriptorDatabase(channel).get_services()
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED

    with_token = create_channel(server.address, token=TOKEN)
    try:
        assert SERVICE_NAME in ProtoReflectionDescriptorDatabase(with_token).get_services()
    finally:
        with_token.close()


def test_auth_interceptor_needs_a_credential() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ServiceAuthInterceptor(tokens=[""])


def test_callback_style_handlers_of_protected_services_are_checked(
    grpc_server_factory: Any,
) -> None:
    def watch(request: Any, context: grpc.ServicerContext, send: Any) -> None:
        send(wrappers_pb2.StringValue(value=request.value))  # grpcio's callback style
        send(None)

    watch.experimental_non_blocking = True  # type: ignore[attr-defined]
    sv = wrappers_pb2.StringValue
    handler = grpc.unary_stream_rpc_method_handler(watch, sv.FromString, sv.SerializeToString)
    callbacks = grpc.method_handlers_generic_handler("alvin.test.v1.Callbacks", {"Watch": handler})
    _, channel = grpc_server_factory(
        [callbacks],
        ServerSettings(grpc_service_token=TOKEN),  # type: ignore[arg-type]
    )
    call = channel.unary_stream(
        "/alvin.test.v1.Callbacks/Watch",
        request_serializer=sv.SerializeToString,
        response_deserializer=sv.FromString,
    )
    assert_rpc_error(lambda: list(call(sv(value="x"), timeout=5)), grpc.StatusCode.UNAUTHENTICATED)
    token = (("authorization", f"Bearer {TOKEN}"),)
    assert [m.value for m in call(sv(value="x"), metadata=token, timeout=5)] == ["x"]
