"""A small test service, defined at import time from a FileDescriptorProto (no generated code).

``alvin.test.v1.TestService`` uses only well-known types (StringValue, DoubleValue, Int32Value,
Empty). Its file is added to the default descriptor pool, so server reflection can describe it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, empty_pb2, wrappers_pb2

from alvin_grpc.server import ServiceRegistration
from alvin_python_lib.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from alvin_python_lib.logging import get_request_id

SERVICE_NAME = "alvin.test.v1.TestService"
FILE_NAME = "alvin/test/v1/test_service.proto"
SECRET = "s3cret-db-password-do-not-leak"

_NO_SIDE_EFFECTS = descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
_IDEMPOTENT = descriptor_pb2.MethodOptions.IDEMPOTENT

# name, input, output, server streaming, idempotency level
_METHODS: list[tuple[str, str, str, bool, int | None]] = [
    ("Echo", "StringValue", "StringValue", False, _NO_SIDE_EFFECTS),
    ("Raise", "StringValue", "Empty", False, None),
    ("Boom", "StringValue", "Empty", False, None),
    ("Abort", "StringValue", "Empty", False, None),
    ("Slow", "DoubleValue", "Empty", False, None),
    ("FlakyIdempotent", "StringValue", "StringValue", False, _IDEMPOTENT),
    ("FlakyUnsafe", "StringValue", "StringValue", False, None),
    ("Count", "Int32Value", "Int32Value", True, _NO_SIDE_EFFECTS),
    ("CountThenRaise", "Int32Value", "Int32Value", True, None),
]


def _file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name=FILE_NAME,
        package="alvin.test.v1",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto", "google/protobuf/empty.proto"],
    )
    service = proto.service.add(name="TestService")
    for name, request, response, streaming, level in _METHODS:
        method = service.method.add(
            name=name,
            input_type=f".google.protobuf.{request}",
            output_type=f".google.protobuf.{response}",
            server_streaming=streaming,
        )
        if level is not None:
            method.options.idempotency_level = level  # type: ignore[assignment]
    return proto


def _register() -> Any:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(FILE_NAME)
    except KeyError:
        pool.AddSerializedFile(_file().SerializeToString())
    return pool.FindServiceByName(SERVICE_NAME)


SERVICE_DESCRIPTOR = _register()


def errors() -> dict[str, DomainError]:
    """Every domain exception, keyed by the name the Raise method takes."""
    return {
        "not_found": NotFound(entity="User", key=42),
        "not_found_plain": NotFound("No such thing."),
        "already_exists": AlreadyExists(field="email"),
        "invalid_argument": InvalidArgument(
            violations=[
                FieldViolation("email", "not an email address"),
                FieldViolation("profile.name", "must not be empty"),
            ]
        ),
        "invalid_argument_message": InvalidArgument("Bad input."),
        "permission_denied": PermissionDenied("Not your account."),
        "unauthenticated": Unauthenticated(),
        "failed_precondition": FailedPrecondition("The user is inactive."),
        "resource_exhausted": ResourceExhausted("Slow down.", retry_after=1.5),
        "resource_exhausted_bare": ResourceExhausted(),
        "unavailable": Unavailable("The database is down."),
        "domain_error": DomainError("Something safe to say."),
    }


class Handlers:
    """Handlers with counters the tests can read."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.request_ids: dict[str, str | None] = {}
        self.handler_threads: list[int] = []
        self.release = threading.Event()  # ends Slow early (teardown)
        self.slow_started = threading.Event()
        self.on_item: Callable[[int], None] | None = None
        self._lock = threading.Lock()

    def _count(self, key: str) -> int:
        with self._lock:
            self.calls[key] += 1
            self.handler_threads.append(threading.get_ident())
            return self.calls[key]

    def echo(self, request: wrappers_pb2.StringValue, context: grpc.ServicerContext) -> Any:
        self._count(f"Echo:{request.value}")
        self.request_ids[request.value] = get_request_id()
        return wrappers_pb2.StringValue(value=request.value)

    def raise_(self, request: wrappers_pb2.StringValue, context: grpc.ServicerContext) -> Any:
        self._count(f"Raise:{request.value}")
        raise errors()[request.value]

    def boom(self, request: wrappers_pb2.StringValue, context: grpc.ServicerContext) -> Any:
        self._count("Boom")
        raise RuntimeError(f"connection to postgres://admin:{SECRET}@db failed")

    def abort(self, request: wrappers_pb2.StringValue, context: grpc.ServicerContext) -> Any:
        self._count("Abort")
        context.abort(grpc.StatusCode.OUT_OF_RANGE, f"handler said: {request.value}")

    def slow(self, request: wrappers_pb2.DoubleValue, context: grpc.ServicerContext) -> Any:
        self._count("Slow")
        self.slow_started.set()
        if request.value > 0:
            self.release.wait(request.value)
        return empty_pb2.Empty()

    def _flaky(self, name: str, request: wrappers_pb2.StringValue) -> Any:
        attempt = self._count(f"{name}:{request.value}")
        if attempt <= 2:
            raise Unavailable(f"attempt {attempt} failed")
        return wrappers_pb2.StringValue(value=f"ok after {attempt}")

    def flaky_idempotent(
        self, request: wrappers_pb2.StringValue, context: grpc.ServicerContext
    ) -> Any:
        return self._flaky("FlakyIdempotent", request)

    def flaky_unsafe(self, request: wrappers_pb2.StringValue, context: grpc.ServicerContext) -> Any:
        return self._flaky("FlakyUnsafe", request)

    def count(
        self, request: wrappers_pb2.Int32Value, context: grpc.ServicerContext
    ) -> Iterator[wrappers_pb2.Int32Value]:
        self._count("Count")
        for i in range(request.value):
            if self.on_item is not None:
                self.on_item(i)
            yield wrappers_pb2.Int32Value(value=i)

    def count_then_raise(
        self, request: wrappers_pb2.Int32Value, context: grpc.ServicerContext
    ) -> Iterator[wrappers_pb2.Int32Value]:
        self._count("CountThenRaise")
        for i in range(request.value):
            yield wrappers_pb2.Int32Value(value=i)
        raise NotFound(entity="Page", key=request.value)

    def registration(self) -> ServiceRegistration:
        """Registered like generated code does (generic + registered method handlers)."""
        sv, dv, iv = wrappers_pb2.StringValue, wrappers_pb2.DoubleValue, wrappers_pb2.Int32Value
        empty = empty_pb2.Empty

        def unary(fn: Any, request: Any, response: Any) -> grpc.RpcMethodHandler[Any, Any]:
            return grpc.unary_unary_rpc_method_handler(
                fn, request.FromString, response.SerializeToString
            )

        def stream(fn: Any, request: Any, response: Any) -> grpc.RpcMethodHandler[Any, Any]:
            return grpc.unary_stream_rpc_method_handler(
                fn, request.FromString, response.SerializeToString
            )

        return ServiceRegistration.from_handlers(
            SERVICE_NAME,
            {
                "Echo": unary(self.echo, sv, sv),
                "Raise": unary(self.raise_, sv, empty),
                "Boom": unary(self.boom, sv, empty),
                "Abort": unary(self.abort, sv, empty),
                "Slow": unary(self.slow, dv, empty),
                "FlakyIdempotent": unary(self.flaky_idempotent, sv, sv),
                "FlakyUnsafe": unary(self.flaky_unsafe, sv, sv),
                "Count": stream(self.count, iv, iv),
                "CountThenRaise": stream(self.count_then_raise, iv, iv),
            },
        )


class Stub:
    """What generated code would give: one multi-callable per method (registered methods)."""

    def __init__(self, channel: grpc.Channel) -> None:
        sv, dv, iv = wrappers_pb2.StringValue, wrappers_pb2.DoubleValue, wrappers_pb2.Int32Value
        empty = empty_pb2.Empty

        def unary(name: str, request: Any, response: Any) -> Any:
            return channel.unary_unary(
                f"/{SERVICE_NAME}/{name}",
                request_serializer=request.SerializeToString,
                response_deserializer=response.FromString,
                _registered_method=True,
            )

        def stream(name: str, request: Any, response: Any) -> Any:
            return channel.unary_stream(
                f"/{SERVICE_NAME}/{name}",
                request_serializer=request.SerializeToString,
                response_deserializer=response.FromString,
                _registered_method=True,
            )

        self.Echo = unary("Echo", sv, sv)
        self.Raise = unary("Raise", sv, empty)
        self.Boom = unary("Boom", sv, empty)
        self.Abort = unary("Abort", sv, empty)
        self.Slow = unary("Slow", dv, empty)
        self.FlakyIdempotent = unary("FlakyIdempotent", sv, sv)
        self.FlakyUnsafe = unary("FlakyUnsafe", sv, sv)
        self.Count = stream("Count", iv, iv)
        self.CountThenRaise = stream("CountThenRaise", iv, iv)


def method(name: str) -> str:
    """Full method name."""
    return f"/{SERVICE_NAME}/{name}"


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
