"""Domain exceptions travel through a real server and come back as the same exceptions."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import wrappers_pb2
from grpc_test_service import SECRET, SERVICE_NAME, Handlers, Stub, errors

from alvin_grpc.client import BaseClient
from alvin_grpc.errors import (
    INTERNAL_MESSAGE,
    InternalError,
    from_rpc_error,
    rpc_status_of,
    status_code_for,
)
from alvin_grpc.testing import assert_rpc_error
from alvin_python_lib.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)


class TestClient(BaseClient[Stub]):
    __test__ = False

    def __init__(self, channel: grpc.Channel) -> None:
        super().__init__(channel, Stub)

    def raise_(self, name: str) -> None:
        self.call(self.stub.Raise, wrappers_pb2.StringValue(value=name))

    def boom(self) -> None:
        self.call(self.stub.Boom, wrappers_pb2.StringValue(value="x"))


def _attrs(error: DomainError) -> dict[str, Any]:
    attrs: dict[str, Any] = {"type": type(error), "message": error.message, "code": error.code}
    if isinstance(error, InvalidArgument):
        attrs["violations"] = error.violations
    if isinstance(error, AlreadyExists):
        attrs["field"] = error.field
    if isinstance(error, NotFound):
        attrs["entity"] = error.entity
        attrs["key"] = None if error.key is None else str(error.key)  # keys travel as text
    if isinstance(error, ResourceExhausted):
        attrs["retry_after"] = error.retry_after
    return attrs


@pytest.mark.parametrize("name", sorted(errors()))
def test_every_domain_error_round_trips(serve: Any, name: str) -> None:
    _, channel, _ = serve()
    expected = errors()[name]
    with TestClient(channel) as client, pytest.raises(DomainError) as raised:
        client.raise_(name)
    assert _attrs(raised.value) == _attrs(expected)
    assert isinstance(raised.value.__cause__, grpc.RpcError)
    assert raised.value.__cause__.code() == status_code_for(expected)


def test_status_codes_and_details_on_the_wire(serve: Any) -> None:
    _, _, stub = serve()
    expected_codes = {
        "not_found": grpc.StatusCode.NOT_FOUND,
        "already_exists": grpc.StatusCode.ALREADY_EXISTS,
        "invalid_argument": grpc.StatusCode.INVALID_ARGUMENT,
        "permission_denied": grpc.StatusCode.PERMISSION_DENIED,
        "unauthenticated": grpc.StatusCode.UNAUTHENTICATED,
        "failed_precondition": grpc.StatusCode.FAILED_PRECONDITION,
        "resource_exhausted": grpc.StatusCode.RESOURCE_EXHAUSTED,
        "unavailable": grpc.StatusCode.UNAVAILABLE,
        "domain_error": grpc.StatusCode.UNKNOWN,
    }
    for name, code in expected_codes.items():
        error = assert_rpc_error(
            lambda name=name: stub.Raise(wrappers_pb2.StringValue(value=name)), code
        )
        assert error.details() == errors()[name].message
        trailers = dict(error.trailing_metadata())
        assert "grpc-status-details-bin" in trailers  # the rich status ...
        assert len(trailers["x-request-id"]) == 32  # ... and the request id, side by side
        status = rpc_status_of(error)
        assert status is not None
        assert status.message == errors()[name].message

    error = assert_rpc_error(
        lambda: stub.Raise(wrappers_pb2.StringValue(value="invalid_argument")),
        grpc.StatusCode.INVALID_ARGUMENT,
        field_violations={"email": "not an email address", "profile.name": "must not be empty"},
    )
    from google.rpc import error_details_pb2  # type: ignore[import-untyped]

    status = rpc_status_of(error)
    infos = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    info = error_details_pb2.ErrorInfo()
    infos[0].Unpack(info)
    assert (info.reason, info.domain) == ("INVALID_ARGUMENT", "alvin")


def test_error_info_carries_domain_setting_and_metadata(serve: Any) -> None:
    from alvin_grpc.server import ServerSettings

    _, _, stub = serve(ServerSettings(grpc_error_domain="users.alvin.example"))
    with pytest.raises(grpc.RpcError) as raised:
        stub.Raise(wrappers_pb2.StringValue(value="already_exists"))
    from google.rpc import error_details_pb2

    info = error_details_pb2.ErrorInfo()
    rpc_status_of(raised.value).details[0].Unpack(info)
    assert info.reason == "ALREADY_EXISTS"
    assert info.domain == "users.alvin.example"
    assert dict(info.metadata) == {"field": "email"}


def test_unexpected_exception_leaks_nothing(serve: Any, handlers: Handlers, log_lines: Any) -> None:
    _, channel, stub = serve()
    with pytest.raises(grpc.RpcError) as raised:
        stub.Boom(wrappers_pb2.StringValue(value="x"))
    error = raised.value
    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == INTERNAL_MESSAGE
    wire = (
        repr(error.details()) + repr(error.trailing_metadata()) + repr(error.debug_error_string())
    )
    for leak in (SECRET, "Traceback", "RuntimeError", "postgres://"):
        assert leak not in wire

    with TestClient(channel) as client, pytest.raises(InternalError) as mapped:
        client.boom()
    assert SECRET not in mapped.value.message
    assert mapped.value.message == InternalError.default_message

    # ... but the server log has the whole story.
    crashes = [line for line in log_lines() if line.get("event") == "grpc.unhandled_exception"]
    assert len(crashes) == 2
    assert crashes[0]["method"] == f"/{SERVICE_NAME}/Boom"
    assert "Traceback" in crashes[0]["exception"]
    assert SECRET in crashes[0]["exception"]


def test_handler_abort_is_left_alone(serve: Any) -> None:
    _, channel, stub = serve()
    assert_rpc_error(
        lambda: stub.Abort(wrappers_pb2.StringValue(value="page 9")),
        grpc.StatusCode.OUT_OF_RANGE,
        details="handler said: page 9",
    )
    client = TestClient(channel)
    with pytest.raises(InvalidArgument) as raised:  # OUT_OF_RANGE maps to InvalidArgument
        client.call(client.stub.Abort, wrappers_pb2.StringValue(value="page 9"))
    assert raised.value.message == "handler said: page 9"


def test_errors_raised_mid_stream_are_mapped(serve: Any) -> None:
    _, channel, stub = serve()
    received: list[int] = []
    with pytest.raises(grpc.RpcError) as raised:
        for item in stub.CountThenRaise(wrappers_pb2.Int32Value(value=3)):
            received.append(item.value)
    assert received == [0, 1, 2]
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert raised.value.details() == "Page 3 not found."

    client = TestClient(channel)
    with pytest.raises(NotFound) as mapped:
        list(client.call_stream(client.stub.CountThenRaise, wrappers_pb2.Int32Value(value=2)))
    assert (mapped.value.entity, mapped.value.key) == ("Page", "2")


def test_service_subclass_travels_by_reason(grpc_server_factory: Any) -> None:
    class EmailNotVerified(FailedPrecondition):
        code = "EMAIL_NOT_VERIFIED"
        default_message = "Verify your email first."

    def fail(request: Any, context: Any) -> Any:
        raise EmailNotVerified()

    # A plain generic handler is a registration too (its service_name() names it).
    generic = grpc.method_handlers_generic_handler(
        "alvin.test.v1.Other",
        {
            "Fail": grpc.unary_unary_rpc_method_handler(
                fail,
                wrappers_pb2.StringValue.FromString,
                wrappers_pb2.StringValue.SerializeToString,
            )
        },
    )
    _, channel = grpc_server_factory([generic])
    call = channel.unary_unary(
        "/alvin.test.v1.Other/Fail",
        request_serializer=wrappers_pb2.StringValue.SerializeToString,
        response_deserializer=wrappers_pb2.StringValue.FromString,
    )

    class KnowsIt(BaseClient[None]):
        error_classes = (EmailNotVerified,)

    with pytest.raises(EmailNotVerified) as known:
        KnowsIt(channel, lambda _: None).call(call, wrappers_pb2.StringValue())
    assert known.value.message == "Verify your email first."

    with pytest.raises(FailedPrecondition) as base:
        BaseClient(channel, lambda _: None).call(call, wrappers_pb2.StringValue())
    assert type(base.value) is FailedPrecondition
    assert base.value.message == "Verify your email first."


def test_unknown_status_codes_map_to_documented_classes() -> None:
    class FakeError(grpc.RpcError):
        def __init__(self, code: grpc.StatusCode, details: str) -> None:
            self._code, self._details = code, details

        def code(self) -> grpc.StatusCode:
            return self._code

        def details(self) -> str:
            return self._details

    cases = {
        grpc.StatusCode.DEADLINE_EXCEEDED: Unavailable,
        grpc.StatusCode.UNAVAILABLE: Unavailable,
        grpc.StatusCode.CANCELLED: Unavailable,
        grpc.StatusCode.ABORTED: Unavailable,
        grpc.StatusCode.UNKNOWN: InternalError,
        grpc.StatusCode.INTERNAL: InternalError,
        grpc.StatusCode.UNIMPLEMENTED: InternalError,
        grpc.StatusCode.DATA_LOSS: InternalError,
        grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
        grpc.StatusCode.NOT_FOUND: NotFound,
    }
    for code, cls in cases.items():
        mapped = from_rpc_error(FakeError(code, "Exception calling application: secret"))
        assert type(mapped) is cls, code
        if cls is not NotFound and cls is not InvalidArgument:
            assert "secret" not in mapped.message, code
