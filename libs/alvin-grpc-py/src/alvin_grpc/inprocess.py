"""Serve gRPC services inside the calling process: same contract, same interceptors, no socket.

A service and its callers may start in one process and split later. :class:`InProcessServer`
holds services registered exactly as for :func:`alvin_grpc.server.build_server` (the same
:class:`~alvin_grpc.server.ServiceRegistration`, the same default interceptor chain from the
same settings: request id, access log, metrics, service authentication, error mapping, session
cleanup) and answers calls made on a ``grpc.Channel``-compatible :class:`InProcessChannel`::

    server = InProcessServer([registration], settings, name="user-service", database=db).start()
    channel = create_channel("inprocess:user-service", token=token)   # alvin_grpc.client
    UserServiceClient(channel).get_user(42)

What stays as over the network:

- every request and response is serialized to bytes and parsed back by the generated
  (de)serializers: the protobuf contract is exercised, nothing is shared by reference;
- the server interceptors run around the handler with a ``grpc.ServicerContext``
  (``invocation_metadata``, ``abort``, ``abort_with_status``, ``set_code``, ``time_remaining``,
  trailing metadata, ``peer`` = ``unix:inprocess:<name>``);
- a failed call raises a ``grpc.RpcError`` that is also a ``grpc.Call`` (``code()``,
  ``details()``, ``trailing_metadata()`` with the ``google.rpc.Status`` details), so client
  interceptors and :func:`alvin_grpc.errors.from_rpc_error` see what a network call gives them;
- deadlines: a call whose deadline has passed when the handler returns fails with
  ``DEADLINE_EXCEEDED``, and the handler sees the time left (the database interceptor bounds its
  statements by it); the server's message size and concurrency limits apply.

What differs: the handler runs in the caller's thread, in a fresh ``contextvars`` context (so the
server's request-id binding never leaks into the caller's); a handler cannot be cut off at the
deadline (nor can a grpcio handler: it is only told). Only unary-unary methods are carried:
calling a streaming method raises ``UNIMPLEMENTED``. The health service answers ``Check``.

``create_channel("inprocess:<name>")`` finds a started server by name (as grpc-java's
``InProcessChannelBuilder.forName``), so a caller chooses in-process or network by its target
setting alone; :meth:`InProcessServer.channel` gives a bare channel without the registry.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
import types
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from alvin_grpc.health import HealthChecks
from alvin_grpc.server import ServerSettings, ServiceRegistration, default_interceptors
from alvin_python_lib.db import SupportsRemove

__all__ = [
    "SCHEME",
    "InProcessChannel",
    "InProcessRpcError",
    "InProcessServer",
    "channel_for",
    "is_inprocess_target",
]

SCHEME = "inprocess:"

_log = logging.getLogger(__name__)
if TYPE_CHECKING:  # generic in the stubs only
    _Future = grpc.Future[Any]
    _UnaryUnaryCallable = grpc.UnaryUnaryMultiCallable[Any, Any]
else:
    _Future = grpc.Future
    _UnaryUnaryCallable = grpc.UnaryUnaryMultiCallable
_servers: dict[str, InProcessServer] = {}
_servers_lock = threading.Lock()


def is_inprocess_target(target: str) -> bool:
    """True for ``inprocess:<name>`` targets."""
    return target.startswith(SCHEME)


def channel_for(target: str) -> InProcessChannel:
    """A channel to the started server named by ``inprocess:<name>``.

    The server must be started first (``ValueError`` otherwise): a typo in a target setting
    fails at start-up, not on the first call.
    """
    name = target[len(SCHEME) :] if is_inprocess_target(target) else target
    with _servers_lock:
        server = _servers.get(name)
    if server is None:
        raise ValueError(f"no in-process gRPC server named {name!r} is running")
    return server.channel()


class _Metadatum(NamedTuple):
    key: str
    value: str | bytes


class _Finished(grpc.Call, _Future):
    """What a finished in-process call answers whatever its outcome: no initial metadata, not
    active, nothing to cancel, done (grpc's client interceptor chain calls ``result()`` on what
    a continuation returned, so each outcome is its own finished ``grpc.Future``)."""

    _trailing: tuple[_Metadatum, ...]

    def initial_metadata(self) -> Any:
        return ()

    def trailing_metadata(self) -> Any:
        return self._trailing

    # grpc.Call / grpc.RpcContext
    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> Any:  # grpcio: None without a deadline (its stubs: float)
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False

    # grpc.Future
    def cancelled(self) -> bool:
        return False

    def running(self) -> bool:
        return False

    def done(self) -> bool:
        return True

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        fn(self)


class InProcessRpcError(_Finished, grpc.RpcError):
    """A failed in-process call: a ``grpc.RpcError`` that is its own finished ``grpc.Call``."""

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str,
        trailing_metadata: Sequence[tuple[str, str | bytes]] = (),
    ) -> None:
        super().__init__(f"{code.name}: {details}")
        self._code = code
        self._details = details
        self._trailing = tuple(_Metadatum(k, v) for k, v in trailing_metadata)

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def result(self, timeout: float | None = None) -> Any:
        raise self

    def exception(self, timeout: float | None = None) -> Exception | None:
        return self

    def traceback(self, timeout: float | None = None) -> types.TracebackType | None:
        return self.__traceback__


class _Done(_Finished):
    """A successful in-process call (what ``with_call`` and ``future`` return)."""

    def __init__(self, response: Any, trailing_metadata: Sequence[tuple[str, str | bytes]]):
        self._response = response
        self._trailing = tuple(_Metadatum(k, v) for k, v in trailing_metadata)

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.OK

    def details(self) -> str:
        return ""

    def result(self, timeout: float | None = None) -> Any:
        return self._response

    def exception(self, timeout: float | None = None) -> Exception | None:
        return None

    def traceback(self, timeout: float | None = None) -> types.TracebackType | None:
        return None


class _Context(grpc.ServicerContext):
    """The servicer context of one in-process call."""

    def __init__(
        self, metadata: Sequence[tuple[str, str | bytes]], deadline: float | None, peer: str
    ) -> None:
        self._metadata = tuple(_Metadatum(k, v) for k, v in metadata)
        self._deadline = deadline
        self._peer = peer
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None
        self._trailing: tuple[tuple[str, str | bytes], ...] = ()
        self._callbacks: list[Callable[[], None]] = []
        self._cancelled = False

    # grpc.RpcContext
    def is_active(self) -> bool:
        return not self._cancelled and (self._deadline is None or time.monotonic() < self._deadline)

    def time_remaining(self) -> Any:  # grpcio: None without a deadline (its stubs: float)
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def cancel(self) -> bool:
        self._cancelled = True
        return True

    def add_callback(self, callback: Callable[[], None]) -> bool:
        self._callbacks.append(callback)
        return True

    # grpc.ServicerContext
    def invocation_metadata(self) -> Any:
        return self._metadata

    def peer(self) -> str:
        return self._peer

    def peer_identities(self) -> Iterable[bytes] | None:
        return None

    def peer_identity_key(self) -> str | None:
        return None

    def auth_context(self) -> dict[str, bytes]:
        return {}

    def send_initial_metadata(self, initial_metadata: Any) -> None:
        pass  # in-process calls have no initial metadata to send

    def set_trailing_metadata(self, trailing_metadata: Any) -> None:
        self._trailing = tuple((str(k), v) for k, v in trailing_metadata)

    def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self._trailing

    def abort(self, code: grpc.StatusCode, details: str) -> Any:
        if code is grpc.StatusCode.OK:
            _log.error("abort() called with StatusCode.OK; returning UNKNOWN")
            code, details = grpc.StatusCode.UNKNOWN, ""
        self._code, self._details = code, details
        # grpcio raises a bare Exception(): interceptors recognise an abort by it
        raise Exception()

    def abort_with_status(self, status: grpc.Status) -> Any:
        self.set_trailing_metadata(status.trailing_metadata)
        self.abort(status.code, status.details)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str | None:
        return self._details

    def set_compression(self, compression: grpc.Compression) -> None:
        pass  # nothing is compressed in process

    def disable_next_message_compression(self) -> None:
        pass

    def finish(self) -> None:
        for callback in self._callbacks:
            try:
                callback()
            except Exception:
                _log.exception("in-process call callback failed")


class _HandlerCollector:
    """Stands in for ``grpc.Server`` while registrations attach their handlers."""

    def __init__(self) -> None:
        self.generic: list[grpc.GenericRpcHandler] = []

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self.generic.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: Any) -> None:
        pass  # the generic handler added with them answers the same methods


class _HandlerCallDetails(NamedTuple):
    method: str
    invocation_metadata: tuple[_Metadatum, ...]


class InProcessServer:
    """Services answered in this process through the server interceptor chain.

    ``services``, ``settings``, ``interceptors``, ``extra_interceptors``, ``database`` and
    ``metrics_registry`` mean what they mean for :func:`~alvin_grpc.server.build_server` (deployed
    settings without a strong service credential are refused the same way). ``name`` is what
    ``inprocess:<name>`` targets find once :meth:`start` ran. ``health_checks`` drive the health
    status as on a network server.
    """

    def __init__(
        self,
        services: Iterable[ServiceRegistration | grpc.GenericRpcHandler],
        settings: ServerSettings | None = None,
        *,
        name: str,
        interceptors: Sequence[grpc.ServerInterceptor] | None = None,
        extra_interceptors: Sequence[grpc.ServerInterceptor] = (),
        database: SupportsRemove | None = None,
        health_checks: HealthChecks | None = None,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        if not name or "/" in name:
            raise ValueError(f"an in-process server needs a plain name, not {name!r}")
        self.name = name
        self.settings = settings if settings is not None else ServerSettings()
        registrations = [
            item
            if isinstance(item, ServiceRegistration)
            else ServiceRegistration.from_generic_handler(item)
            for item in services
        ]
        self.services = tuple(r.name for r in registrations)
        if len(set(self.services)) != len(self.services):
            raise ValueError(f"a service is registered twice: {list(self.services)}")
        if interceptors is None:
            interceptors = default_interceptors(
                self.settings,
                database=database,
                metrics_registry=metrics_registry,
                extra=extra_interceptors,
            )
        self._interceptors = tuple(interceptors)
        collector = _HandlerCollector()
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, cast(grpc.Server, collector))
        for registration in registrations:
            registration.attach(collector)  # type: ignore[arg-type]
        self._generic = tuple(collector.generic)
        for service in ("", *self.services):
            self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        self.health_checks = health_checks
        self._peer = f"unix:{SCHEME}{name}"
        limit = self.settings.grpc_max_concurrent_rpcs
        self._slots = threading.BoundedSemaphore(limit) if limit is not None else None
        self._started = False
        self._stopped = False
        self._lock = threading.Lock()

    @property
    def target(self) -> str:
        """``inprocess:<name>``: the target a client passes to ``create_channel``."""
        return f"{SCHEME}{self.name}"

    def start(self) -> InProcessServer:
        """Register the name (``ValueError`` when another server holds it) and the health checks."""
        with self._lock:
            if self._started:
                return self
            with _servers_lock:
                if self.name in _servers:
                    raise ValueError(f"an in-process gRPC server named {self.name!r} is running")
                _servers[self.name] = self
            self._started = True
        if self.health_checks is not None:
            self.health_checks.start(self.health, self.services)
        return self

    def stop(self) -> None:
        """NOT_SERVING, unregister the name; later calls fail with ``UNAVAILABLE``."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self.health.enter_graceful_shutdown()
        if self.health_checks is not None:
            self.health_checks.stop()
        with _servers_lock:
            if _servers.get(self.name) is self:
                del _servers[self.name]

    def __enter__(self) -> InProcessServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def channel(self) -> InProcessChannel:
        """A bare channel to this server (no default deadline, token or request id: see
        :func:`alvin_grpc.client.create_channel` with an ``inprocess:`` target for those)."""
        return InProcessChannel(self)

    # ------------------------------------------------------------------------------ calls

    def _handler(self, details: _HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        def lookup(call_details: grpc.HandlerCallDetails) -> Any:
            for generic in self._generic:
                found = generic.service(call_details)
                if found is not None:
                    return found
            return None

        continuation: Callable[[grpc.HandlerCallDetails], Any] = lookup
        # grpc.server(interceptors=[a, b]) runs a first: a's continuation is b's interception.
        for interceptor in reversed(self._interceptors):
            continuation = _bind(interceptor, continuation)
        handler: grpc.RpcMethodHandler[Any, Any] | None = continuation(
            cast(grpc.HandlerCallDetails, details)
        )
        return handler

    def invoke(
        self,
        method: str,
        request: bytes,
        *,
        timeout: float | None,
        metadata: Sequence[tuple[str, str | bytes]],
    ) -> tuple[bytes, tuple[tuple[str, str | bytes], ...]]:
        """Serve one unary call: the serialized response and the trailing metadata, or
        :class:`InProcessRpcError`."""
        if self._stopped or not self._started:
            raise InProcessRpcError(grpc.StatusCode.UNAVAILABLE, "in-process server not running")
        if len(request) > self.settings.grpc_max_receive_message_bytes:
            raise InProcessRpcError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"Received message larger than max ({len(request)} vs. "
                f"{self.settings.grpc_max_receive_message_bytes})",
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        if timeout is not None and timeout <= 0:
            raise InProcessRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        if self._slots is not None and not self._slots.acquire(blocking=False):
            raise InProcessRpcError(
                grpc.StatusCode.RESOURCE_EXHAUSTED, "Concurrent RPC limit exceeded!"
            )
        try:
            # A fresh context, as a server thread has: the server side binds and clears its own
            # request id and trace context without touching the caller's.
            return contextvars.Context().run(self._serve, method, request, deadline, metadata)
        finally:
            if self._slots is not None:
                self._slots.release()

    def _serve(
        self,
        method: str,
        request: bytes,
        deadline: float | None,
        metadata: Sequence[tuple[str, str | bytes]],
    ) -> tuple[bytes, tuple[tuple[str, str | bytes], ...]]:
        context = _Context(metadata, deadline, self._peer)
        details = _HandlerCallDetails(method, context.invocation_metadata())
        handler = self._handler(details)
        if handler is None:
            raise InProcessRpcError(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
        if handler.unary_unary is None:
            raise InProcessRpcError(
                grpc.StatusCode.UNIMPLEMENTED, "in-process channels carry unary-unary calls only"
            )
        try:
            try:
                message = (
                    handler.request_deserializer(request)
                    if handler.request_deserializer
                    else request
                )
            except Exception as error:
                raise InProcessRpcError(
                    grpc.StatusCode.INTERNAL, "Exception deserializing request!"
                ) from error
            try:
                response = handler.unary_unary(message, context)
            except InProcessRpcError:
                raise
            except Exception as error:
                if deadline is not None and time.monotonic() >= deadline:
                    # the caller stopped waiting at its deadline, whatever the handler ended with
                    raise InProcessRpcError(
                        grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"
                    ) from error
                code = context.code()
                if code is None or code is grpc.StatusCode.OK:
                    # grpcio's answer to an exception no interceptor mapped
                    _log.exception("Exception calling application: %s", error)
                    raise InProcessRpcError(
                        grpc.StatusCode.UNKNOWN,
                        f"Exception calling application: {error}",
                        context.trailing_metadata(),
                    ) from error
                raise InProcessRpcError(
                    code, context.details() or "", context.trailing_metadata()
                ) from None
            code = context.code()
            if code is not None and code is not grpc.StatusCode.OK:
                raise InProcessRpcError(code, context.details() or "", context.trailing_metadata())
            if deadline is not None and time.monotonic() >= deadline:
                raise InProcessRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
            serialized = (
                handler.response_serializer(response) if handler.response_serializer else response
            )
            if len(serialized) > self.settings.grpc_max_send_message_bytes:
                raise InProcessRpcError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED, "Sent message larger than max"
                )
            return serialized, context.trailing_metadata()
        finally:
            context.finish()


def _bind(
    interceptor: grpc.ServerInterceptor,
    continuation: Callable[[grpc.HandlerCallDetails], Any],
) -> Callable[[grpc.HandlerCallDetails], Any]:
    def intercepted(details: grpc.HandlerCallDetails) -> Any:
        return interceptor.intercept_service(continuation, details)

    return intercepted


class _UnaryUnary(_UnaryUnaryCallable):
    def __init__(
        self,
        server: InProcessServer,
        method: str,
        request_serializer: Callable[[Any], bytes] | None,
        response_deserializer: Callable[[bytes], Any] | None,
    ) -> None:
        self._server = server
        self._method = method
        self._serialize = request_serializer
        self._deserialize = response_deserializer

    def with_call(  # noqa: PLR0917 - grpc.UnaryUnaryMultiCallable's signature
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str | bytes]] | None = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> tuple[Any, _Done]:
        data = self._serialize(request) if self._serialize else request
        answer, trailing = self._server.invoke(
            self._method, data, timeout=timeout, metadata=tuple(metadata or ())
        )
        response = self._deserialize(answer) if self._deserialize else answer
        return response, _Done(response, trailing)

    def __call__(  # noqa: PLR0917 - grpc.UnaryUnaryMultiCallable's signature
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str | bytes]] | None = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> Any:
        return self.with_call(request, timeout, metadata)[0]

    def future(  # noqa: PLR0917 - grpc.UnaryUnaryMultiCallable's signature
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str | bytes]] | None = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> Any:
        """Runs the call now (in this thread) and returns it finished."""
        try:
            return self.with_call(request, timeout, metadata)[1]
        except InProcessRpcError as error:
            return error


class _Unsupported:
    """A streaming method's callable: every call fails with UNIMPLEMENTED."""

    def __init__(self, method: str) -> None:
        self._method = method

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise InProcessRpcError(
            grpc.StatusCode.UNIMPLEMENTED,
            f"{self._method}: in-process channels carry unary-unary calls only",
        )

    with_call = future = __call__


class InProcessChannel(grpc.Channel):
    """A ``grpc.Channel`` whose calls an :class:`InProcessServer` answers in this process."""

    def __init__(self, server: InProcessServer) -> None:
        self._server = server

    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        _registered_method: bool | None = False,
    ) -> _UnaryUnary:
        return _UnaryUnary(self._server, method, request_serializer, response_deserializer)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Unsupported(method)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Unsupported(method)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Unsupported(method)

    def subscribe(self, callback: Callable[..., Any], try_to_connect: bool = False) -> None:
        callback(grpc.ChannelConnectivity.READY)

    def unsubscribe(self, callback: Callable[..., Any]) -> None:
        pass  # subscribe() called back once; nothing stays subscribed

    def close(self) -> None:
        pass  # nothing to release: the server belongs to whoever built it

    def __enter__(self) -> InProcessChannel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
