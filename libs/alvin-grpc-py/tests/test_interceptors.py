"""Request context, access log, metrics, database session cleanup, composition, custom hooks."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Generator
from typing import Any

import grpc
import pytest
from google.protobuf import wrappers_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_test_service import SERVICE_NAME, Handlers, Stub, method, wait_until
from prometheus_client import CollectorRegistry

from alvin_grpc.client import create_channel
from alvin_grpc.interceptors import (
    AccessLogInterceptor,
    CallInfo,
    Continuation,
    DbSessionInterceptor,
    ErrorsInterceptor,
    MetricsInterceptor,
    RequestContextInterceptor,
    ServerInterceptor,
    ServiceAuthInterceptor,
    final_code,
    metadata_value,
    server_interceptors,
    start_metrics_server,
)
from alvin_grpc.server import ServerSettings
from alvin_python_lib.logging import bind_request_id


class RemoveRecorder:
    """A SupportsRemove that records when and where remove() ran."""

    def __init__(self) -> None:
        self.count = 0
        self.threads: list[int] = []
        self._lock = threading.Lock()

    def remove(self) -> None:
        with self._lock:
            self.count += 1
            self.threads.append(threading.get_ident())


def _access(lines: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [
        line
        for line in lines
        if line.get("event") == "grpc.access" and line.get("method") == method(name)
    ]


def test_request_id_reaches_handler_access_log_and_trailers(
    serve: Any, handlers: Handlers, log_lines: Any
) -> None:
    server, _, _ = serve()
    channel = create_channel(server.address)
    try:
        bind_request_id("req-42")
        _, call = Stub(channel).Echo.with_call(wrappers_pb2.StringValue(value="hi"))
    finally:
        channel.close()
    assert handlers.request_ids["hi"] == "req-42"
    assert dict(call.trailing_metadata())["x-request-id"] == "req-42"

    [line] = _access(log_lines(), "Echo")
    assert line["request_id"] == "req-42"
    assert line["code"] == "OK"
    assert line["grpc_type"] == "unary"
    assert isinstance(line["duration_ms"], float)
    assert line["peer"].startswith("ipv4:127.0.0.1:")
    assert line["level"] == "info"


def test_access_log_has_one_line_per_call_with_the_final_code(serve: Any, log_lines: Any) -> None:
    _, _, stub = serve()
    with pytest.raises(grpc.RpcError):
        stub.Raise(wrappers_pb2.StringValue(value="not_found"))
    with pytest.raises(grpc.RpcError):
        stub.Boom(wrappers_pb2.StringValue(value="x"))
    assert list(stub.Count(wrappers_pb2.Int32Value(value=2))) != []

    lines = log_lines()
    assert [line["code"] for line in _access(lines, "Raise")] == ["NOT_FOUND"]
    [boom] = _access(lines, "Boom")
    assert (boom["code"], boom["level"]) == ("INTERNAL", "warning")
    [count] = _access(lines, "Count")
    assert (count["code"], count["grpc_type"]) == ("OK", "server_stream")
    # Every line of the call (the crash report too) carries the call's request id.
    [crash] = [line for line in lines if line.get("event") == "grpc.unhandled_exception"]
    assert crash["request_id"] == boom["request_id"]


def test_incoming_ids_are_validated_and_traceparent_is_used(
    serve: Any, handlers: Handlers, log_lines: Any
) -> None:
    _, _, stub = serve()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    _, call = stub.Echo.with_call(
        wrappers_pb2.StringValue(value="traced"), metadata=(("traceparent", traceparent),)
    )
    assert handlers.request_ids["traced"] == trace_id
    assert dict(call.trailing_metadata())["x-request-id"] == trace_id
    [line] = _access(log_lines(), "Echo")
    assert line["trace_id"] == trace_id
    assert line["parent_span_id"] == "00f067aa0ba902b7"

    # Garbage in x-request-id (log injection) is replaced by a fresh id.
    stub.Echo(
        wrappers_pb2.StringValue(value="evil"),
        metadata=(("x-request-id", 'x" forged=1 <script>'),),
    )
    fresh = handlers.request_ids["evil"]
    assert fresh is not None
    assert len(fresh) == 32
    assert "forged" not in fresh
    stub.Echo(wrappers_pb2.StringValue(value="long"), metadata=(("x-request-id", "a" * 200),))
    assert handlers.request_ids["long"] != "a" * 200

    # Nothing leaks into the next call on the same worker thread.
    stub.Echo(wrappers_pb2.StringValue(value="plain"))
    assert handlers.request_ids["plain"] not in (trace_id, fresh)


def test_db_session_removed_after_success_error_and_stream(serve: Any, handlers: Handlers) -> None:
    database = RemoveRecorder()
    _, _, stub = serve(database=database)

    stub.Echo(wrappers_pb2.StringValue(value="ok"))
    assert database.count == 1
    assert database.threads[-1] == handlers.handler_threads[-1]  # the handler's own thread

    with pytest.raises(grpc.RpcError):
        stub.Raise(wrappers_pb2.StringValue(value="already_exists"))
    assert database.count == 2
    with pytest.raises(grpc.RpcError):
        stub.Boom(wrappers_pb2.StringValue(value="x"))
    assert database.count == 3

    seen_during_stream: list[int] = []
    handlers.on_item = lambda _: seen_during_stream.append(database.count)
    items = [item.value for item in stub.Count(wrappers_pb2.Int32Value(value=3))]
    assert items == [0, 1, 2]
    assert seen_during_stream == [3, 3, 3]  # not removed while the stream is running
    assert database.count == 4  # removed once it was exhausted

    with pytest.raises(grpc.RpcError):
        list(stub.CountThenRaise(wrappers_pb2.Int32Value(value=2)))
    assert database.count == 5


def test_metrics_count_calls_with_go_grpc_prometheus_labels(serve: Any) -> None:
    registry = CollectorRegistry()
    _, _, stub = serve(metrics_registry=registry)
    stub.Echo(wrappers_pb2.StringValue(value="a"))
    stub.Echo(wrappers_pb2.StringValue(value="b"))
    with pytest.raises(grpc.RpcError):
        stub.Raise(wrappers_pb2.StringValue(value="not_found"))
    list(stub.Count(wrappers_pb2.Int32Value(value=2)))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"grpc_service": SERVICE_NAME, **labels})

    assert value("grpc_server_started_total", grpc_type="unary", grpc_method="Echo") == 2
    handled = "grpc_server_handled_total"
    assert value(handled, grpc_type="unary", grpc_method="Echo", grpc_code="OK") == 2
    assert value(handled, grpc_type="unary", grpc_method="Raise", grpc_code="NotFound") == 1
    assert value(handled, grpc_type="server_stream", grpc_method="Count", grpc_code="OK") == 1
    seconds = "grpc_server_handling_seconds_count"
    assert value(seconds, grpc_type="unary", grpc_method="Echo") == 2

    metrics = start_metrics_server(0, registry, addr="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{metrics.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
    finally:
        metrics.stop()
    assert 'grpc_server_handled_total{grpc_code="OK",grpc_method="Echo"' in body
    assert "grpc_server_handling_seconds_bucket" in body


def test_metrics_port_setting_serves_metrics(serve: Any) -> None:
    registry = CollectorRegistry()
    server, _, stub = serve(ServerSettings(metrics_port=0), metrics_registry=registry)
    stub.Echo(wrappers_pb2.StringValue(value="a"))
    assert server.metrics_server is not None
    url = f"http://127.0.0.1:{server.metrics_server.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert "grpc_server_started_total" in response.read().decode()


def test_two_servers_can_share_a_registry(serve: Any) -> None:
    registry = CollectorRegistry()
    serve(metrics_registry=registry)
    serve(metrics_registry=registry)  # no "Duplicated timeseries" error


def test_composition_order() -> None:
    chain = server_interceptors(tokens=["t"], database=RemoveRecorder())
    assert [type(i) for i in chain] == [
        RequestContextInterceptor,
        AccessLogInterceptor,
        MetricsInterceptor,
        ServiceAuthInterceptor,
        ErrorsInterceptor,
        DbSessionInterceptor,
    ]
    assert [type(i) for i in server_interceptors(metrics=False)] == [
        RequestContextInterceptor,
        AccessLogInterceptor,
        ErrorsInterceptor,
    ]


def test_interceptors_work_alone(grpc_server_factory: Any, handlers: Handlers) -> None:
    # Only the errors interceptor: domain errors still map, the rest is plain grpcio.
    _, channel = grpc_server_factory([handlers.registration()], interceptors=[ErrorsInterceptor()])
    stub = Stub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        stub.Raise(wrappers_pb2.StringValue(value="permission_denied"))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    _, call = stub.Echo.with_call(wrappers_pb2.StringValue(value="x"))
    assert "x-request-id" not in dict(call.trailing_metadata())

    # No interceptors at all: health works; an unexpected exception is grpcio's UNKNOWN.
    _, bare = grpc_server_factory([handlers.registration()], interceptors=[])
    with pytest.raises(grpc.RpcError) as raised:
        Stub(bare).Boom(wrappers_pb2.StringValue(value="x"))
    assert raised.value.code() == grpc.StatusCode.UNKNOWN
    check = health_pb2_grpc.HealthStub(bare).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert check.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.timeout(30)
def test_cancelled_stream_is_cleaned_up_and_logged_as_cancelled(
    serve: Any, handlers: Handlers, log_lines: Any
) -> None:
    database = RemoveRecorder()
    registry = CollectorRegistry()
    _, _, stub = serve(database=database, metrics_registry=registry)
    proceed = threading.Event()
    handlers.on_item = lambda i: proceed.wait(10) if i == 1 else None

    call = stub.Count(wrappers_pb2.Int32Value(value=1000))
    assert next(call).value == 0
    call.cancel()
    proceed.set()

    assert wait_until(lambda: database.count == 1, timeout=5)
    assert wait_until(lambda: bool(_access(log_lines(), "Count")), timeout=5)
    [line] = _access(log_lines(), "Count")
    assert line["code"] == "CANCELLED"
    assert not [line for line in log_lines() if line["event"] == "grpc.unhandled_exception"]
    labels = {
        "grpc_type": "server_stream",
        "grpc_service": SERVICE_NAME,
        "grpc_method": "Count",
        "grpc_code": "Canceled",
    }
    assert registry.get_sample_value("grpc_server_handled_total", labels) == 1


class Shouting(ServerInterceptor):
    """A user-written interceptor: denies calls with ``x-deny``, upper-cases unary answers,
    multiplies streamed numbers by ten and records each call's final code."""

    def __init__(self) -> None:
        self.codes: list[tuple[str, str, grpc.StatusCode]] = []

    def intercept(
        self,
        method: Continuation,
        request_or_iterator: Any,
        context: grpc.ServicerContext,
        call: CallInfo,
    ) -> Generator[Any, None, Any]:
        error: BaseException | None = None
        try:
            if metadata_value(context, "x-deny") is not None:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, "denied by the interceptor")
            if call.response_streaming:
                for message in method(request_or_iterator, context):
                    yield wrappers_pb2.Int32Value(value=message.value * 10)
                return None
            response = yield from method(request_or_iterator, context)
            if isinstance(response, wrappers_pb2.StringValue):
                return wrappers_pb2.StringValue(value=response.value.upper())
            return response
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.codes.append((call.name, call.kind, final_code(context, error)))


def test_a_custom_interceptor_sees_unary_and_streamed_calls_to_their_final_code(
    grpc_server_factory: Any, handlers: Handlers
) -> None:
    shouting = Shouting()
    # Outside the error mapping, as the observers are: it sees the mapped codes.
    _, channel = grpc_server_factory(
        [handlers.registration()], interceptors=[shouting, ErrorsInterceptor()]
    )
    stub = Stub(channel)
    assert stub.Echo(wrappers_pb2.StringValue(value="hi")).value == "HI"
    assert [m.value for m in stub.Count(wrappers_pb2.Int32Value(value=3))] == [0, 10, 20]
    with pytest.raises(grpc.RpcError) as raised:
        stub.Raise(wrappers_pb2.StringValue(value="not_found"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as raised:
        list(stub.CountThenRaise(wrappers_pb2.Int32Value(value=2)))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND

    deny = (("x-deny", "1"),)
    for call in (
        lambda: stub.Echo(wrappers_pb2.StringValue(value="no"), metadata=deny),
        lambda: list(stub.Count(wrappers_pb2.Int32Value(value=3), metadata=deny)),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            call()
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert raised.value.details() == "denied by the interceptor"
    assert handlers.calls["Echo:no"] == 0
    assert handlers.calls["Count"] == 1  # the denied stream never reached the handler

    assert shouting.codes == [
        ("Echo", "unary", grpc.StatusCode.OK),
        ("Count", "server_stream", grpc.StatusCode.OK),
        ("Raise", "unary", grpc.StatusCode.NOT_FOUND),
        ("CountThenRaise", "server_stream", grpc.StatusCode.NOT_FOUND),
        ("Echo", "unary", grpc.StatusCode.PERMISSION_DENIED),
        ("Count", "server_stream", grpc.StatusCode.PERMISSION_DENIED),
    ]


def test_a_custom_interceptor_inside_the_default_chain(serve: Any, log_lines: Any) -> None:
    shouting = Shouting()
    database = RemoveRecorder()
    _, _, stub = serve(database=database, extra_interceptors=[shouting])
    assert stub.Echo(wrappers_pb2.StringValue(value="hi")).value == "HI"
    assert [m.value for m in stub.Count(wrappers_pb2.Int32Value(value=2))] == [0, 10]
    with pytest.raises(grpc.RpcError) as raised:
        stub.Echo(wrappers_pb2.StringValue(value="x"), metadata=(("x-deny", "1"),))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert database.count == 2  # the denied call stopped before the session interceptor
    codes = [
        (line["method"], line["code"]) for line in log_lines() if line["event"] == "grpc.access"
    ]
    assert codes == [
        (method("Echo"), "OK"),
        (method("Count"), "OK"),
        (method("Echo"), "PERMISSION_DENIED"),
    ]


def test_intercept_must_be_a_generator() -> None:
    with pytest.raises(TypeError, match="yield from method"):

        class Plain(ServerInterceptor):
            def intercept(
                self,
                method: Continuation,
                request_or_iterator: Any,
                context: grpc.ServicerContext,
                call: CallInfo,
            ) -> Any:
                return method(request_or_iterator, context)


def test_each_method_is_wrapped_once(handlers: Handlers) -> None:
    # grpc asks every interceptor for the handler on every call: the wrapping is made once.
    handler = grpc.unary_unary_rpc_method_handler(handlers.echo)
    details: Any = type("Details", (), {"method": method("Echo"), "invocation_metadata": ()})()
    chain = server_interceptors(tokens=["t"], database=RemoveRecorder())

    def resolve() -> Any:
        def at(index: int) -> Any:
            if index == len(chain):
                return lambda _details: handler
            return lambda details: chain[index].intercept_service(at(index + 1), details)

        return at(0)(details)

    first = resolve()
    assert first is not handler
    assert resolve() is first
