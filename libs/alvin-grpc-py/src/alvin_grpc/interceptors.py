"""Server interceptors: each usable alone, composed by :func:`server_interceptors`.

The composed order (outermost first; ``grpc.server(interceptors=[...])`` runs the first one first):

0. OpenTelemetry's server interceptor, when tracing is on (:mod:`alvin_python_lib.telemetry`).
1. :class:`RequestContextInterceptor`: reads ``x-request-id`` (or the trace id of a W3C
   ``traceparent``, or makes a new id), binds it for logging, returns it in trailing metadata.
   Outermost, so that every line the others log carries the request id.
2. :class:`AccessLogInterceptor`: one structured line per call (method, code, duration_ms, peer,
   request_id), rejected and failed calls included.
3. :class:`MetricsInterceptor`: Prometheus counters and histogram (go-grpc-prometheus names).
4. :class:`ServiceAuthInterceptor`: shared token or mTLS peer allow-list; health and reflection stay
   open. Before the handler and the database, after the observers (rejections are logged/counted).
5. :class:`ErrorsInterceptor`: domain exceptions -> status codes with ``google.rpc.Status`` details;
   a database that cannot serve -> ``UNAVAILABLE``; anything else -> ``INTERNAL`` with a generic
   message (traceback in the server log only).
6. :class:`DbSessionInterceptor`: statements bounded by the call's deadline, and
   ``database.remove()`` after every call, also when it raised (innermost: it runs in the
   handler's thread, before the error is mapped).

Every interceptor handles the four RPC kinds. For a streamed response, the "after" part runs when the
stream ends (exhausted, failed, or cancelled by the client). Handlers marked
``experimental_non_blocking`` (grpcio's health ``Watch``) keep their callback style and are passed
through untouched by the observing interceptors.
"""

from __future__ import annotations

import hmac
import re
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn, TypeVar

import grpc
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from pydantic import SecretStr

from alvin_grpc.errors import (
    DEFAULT_ERROR_DOMAIN,
    abort_with_error,
    abort_with_status,
    internal_rpc_status,
)
from alvin_python_lib import telemetry
from alvin_python_lib.db import SupportsRemove, statement_deadline
from alvin_python_lib.db.errors import unavailable_error
from alvin_python_lib.errors import DomainError, Unauthenticated
from alvin_python_lib.logging import (
    REQUEST_ID_HEADER,
    bind_request_id,
    clear_request_id,
    get_logger,
    get_request_id,
)
from alvin_python_lib.metrics import MetricsServer, start_metrics_server

__all__ = [
    "GO_CODE_NAMES",
    "OPEN_SERVICES",
    "TRACEPARENT_HEADER",
    "AccessLogInterceptor",
    "CallInfo",
    "DbSessionInterceptor",
    "ErrorsInterceptor",
    "MetricsInterceptor",
    "MetricsServer",
    "RequestContextInterceptor",
    "ServerMetrics",
    "ServiceAuthInterceptor",
    "WrappingInterceptor",
    "context_code",
    "server_interceptors",
    "start_metrics_server",
]

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")
Behavior = Callable[[Any, grpc.ServicerContext], Any]

TRACEPARENT_HEADER = "traceparent"
SERVICE_TOKEN_HEADER = "x-service-token"  # noqa: S105 - a metadata key, not a secret
AUTHORIZATION_HEADER = "authorization"

HEALTH_SERVICE = "grpc.health.v1.Health"
REFLECTION_SERVICES = (
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)
# Services reachable without a service credential (container probes, grpcurl, load balancers).
OPEN_SERVICES: frozenset[str] = frozenset({HEALTH_SERVICE, *REFLECTION_SERVICES})

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")
_TRACEPARENT_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

_KINDS = {
    (False, False): "unary",
    (False, True): "server_stream",
    (True, False): "client_stream",
    (True, True): "bidi_stream",
}


@dataclass(frozen=True)
class CallInfo:
    """What an interceptor knows about a call before the handler runs."""

    method: str  # "/package.Service/Method"
    service: str  # "package.Service"
    name: str  # "Method"
    kind: str  # unary | server_stream | client_stream | bidi_stream (go-grpc-prometheus grpc_type)
    metadata: tuple[tuple[str, str | bytes], ...]

    @classmethod
    def of(
        cls, details: grpc.HandlerCallDetails, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> CallInfo:
        service, _, name = details.method.lstrip("/").partition("/")
        kind = _KINDS[(bool(handler.request_streaming), bool(handler.response_streaming))]
        return cls(details.method, service, name, kind, tuple(details.invocation_metadata or ()))

    def header(self, key: str) -> str | None:
        """The first metadata value for ``key`` (lower case) as text, or None."""
        for k, v in self.metadata:
            if k == key:
                return v.decode("utf-8", "replace") if isinstance(v, bytes) else v
        return None


def context_code(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """The status code already set on ``context`` (by ``abort`` or ``set_code``), or None."""
    getter = getattr(context, "code", None)
    value = getter() if callable(getter) else None
    return value if isinstance(value, grpc.StatusCode) else None


def _is_active(context: grpc.ServicerContext) -> bool:
    try:
        return bool(context.is_active())
    except Exception:  # a context without a live call
        return False


def _final_code(context: grpc.ServicerContext, outcome: str) -> grpc.StatusCode:
    code = context_code(context)
    if code is not None:
        return code
    if outcome == "ok":
        return grpc.StatusCode.OK
    if outcome == "cancelled" or not _is_active(context):
        return grpc.StatusCode.CANCELLED  # the client went away (or the server is stopping)
    return grpc.StatusCode.UNKNOWN


def _is_non_blocking(handler: grpc.RpcMethodHandler[Any, Any]) -> bool:
    behavior = handler.unary_stream or handler.stream_stream
    return bool(getattr(behavior, "experimental_non_blocking", False))


class WrappingInterceptor(grpc.ServerInterceptor):
    """Base class: wraps the handler's behavior with :meth:`unary` / :meth:`stream`.

    :meth:`unary` surrounds handlers with a single response (unary-unary, stream-unary),
    :meth:`stream` those with a streamed response (unary-stream, stream-stream); ``request`` is the
    request message or the request iterator, passed on untouched.
    """

    def skip(self, call: CallInfo) -> bool:
        """True to leave this call alone."""
        return False

    def non_blocking(
        self, handler: grpc.RpcMethodHandler[_Req, _Resp], call: CallInfo
    ) -> grpc.RpcMethodHandler[_Req, _Resp]:
        """What to do with an ``experimental_non_blocking`` handler (default: nothing)."""
        return handler

    def unary(
        self, behavior: Behavior, request: Any, context: grpc.ServicerContext, call: CallInfo
    ) -> Any:
        return behavior(request, context)

    def stream(
        self, behavior: Behavior, request: Any, context: grpc.ServicerContext, call: CallInfo
    ) -> Iterator[Any]:
        yield from behavior(request, context)

    def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], grpc.RpcMethodHandler[_Req, _Resp] | None
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Req, _Resp] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        call = CallInfo.of(handler_call_details, handler)
        if self.skip(call):
            return handler
        if _is_non_blocking(handler):
            return self.non_blocking(handler, call)
        return _rebuild(handler, self._unary_wrapper(call), self._stream_wrapper(call))

    def _unary_wrapper(self, call: CallInfo) -> Callable[[Behavior], Behavior]:
        def wrap(behavior: Behavior) -> Behavior:
            def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
                return self.unary(behavior, request, context, call)

            return wrapped

        return wrap

    def _stream_wrapper(self, call: CallInfo) -> Callable[[Behavior], Behavior]:
        def wrap(behavior: Behavior) -> Behavior:
            def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                return self.stream(behavior, request, context, call)

            return wrapped

        return wrap


def _rebuild(
    handler: grpc.RpcMethodHandler[_Req, _Resp],
    unary: Callable[[Behavior], Behavior],
    stream: Callable[[Behavior], Behavior],
) -> grpc.RpcMethodHandler[_Req, _Resp]:
    """The same handler (kind, serializers) with its behavior wrapped."""
    des, ser = handler.request_deserializer, handler.response_serializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(unary(handler.unary_unary), des, ser)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(unary(handler.stream_unary), des, ser)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(stream(handler.unary_stream), des, ser)
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(stream(handler.stream_stream), des, ser)
    return handler  # pragma: no cover - a handler always has one behavior


def _abort_handler(
    handler: grpc.RpcMethodHandler[_Req, _Resp], abort: Callable[[grpc.ServicerContext], NoReturn]
) -> grpc.RpcMethodHandler[_Req, _Resp]:
    """A handler of the same kind that only aborts (its own behavior never runs)."""

    def behavior(_request: Any, context: grpc.ServicerContext) -> Any:
        abort(context)

    return _rebuild(handler, lambda _: behavior, lambda _: behavior)


# --------------------------------------------------------------------------- request context


class RequestContextInterceptor(WrappingInterceptor):
    """Bind the caller's request id for the call's duration and echo it in trailing metadata.

    The id is the ``x-request-id`` metadata value when it looks sane (1-128 characters of
    ``[A-Za-z0-9._:/+=-]``), else the trace id of a valid W3C ``traceparent``, else a new uuid4 hex.
    A valid ``traceparent`` also binds ``trace_id`` and ``parent_span_id`` to the log context.
    """

    def __init__(self, *, header: str = REQUEST_ID_HEADER, echo: bool = True) -> None:
        self.header = header
        self.echo = echo

    def _begin(self, call: CallInfo) -> str:
        import structlog  # noqa: PLC0415 - alvin_python_lib.logging already imported it

        clear_request_id()  # a pool thread may carry a previous call's context
        trace = _parse_traceparent(call.header(TRACEPARENT_HEADER))
        incoming = call.header(self.header)
        if incoming is not None and _REQUEST_ID_RE.match(incoming):
            rid = incoming
        elif trace is not None:
            rid = trace[0]
        else:
            rid = uuid.uuid4().hex
        bind_request_id(rid)
        if trace is not None:
            structlog.contextvars.bind_contextvars(trace_id=trace[0], parent_span_id=trace[1])
        return rid

    def _end(self, context: grpc.ServicerContext, rid: str) -> None:
        try:
            if self.echo:
                existing = tuple(_trailing(context))
                if not any(key == self.header for key, _ in existing):
                    context.set_trailing_metadata((*existing, (self.header, rid)))
        finally:
            clear_request_id()

    def unary(
        self, behavior: Behavior, request: Any, context: grpc.ServicerContext, call: CallInfo
    ) -> Any:
        rid = self._begin(call)
        try:
            return behavior(request, context)
        finally:
            self._end(context, rid)

    def stream(
        self, behavior: Behavior, request: Any, context: grpc.ServicerContext, call: CallInfo
    ) -> Iterator[Any]:
        rid = self._begin(call)
        try:
            yield from behavior(request, context)
        finally:
            self._end(context, rid)


def _trailing(context: grpc.ServicerContext) -> tuple[tuple[str, str | bytes], ...]:
    getter = getattr(context, "trailing_metadata", None)
    value = getter() if callable(getter) else None
    return tuple(value) if value else ()


def _parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """(trace_id, parent_id) of a valid W3C traceparent, else None."""
    if not value:
        return None
    match = _TRACEPARENT_RE.match(value.strip().lower())
    if match is None or match.group(1) == "ff":
        return None
    trace_id, parent_id = match.group(2), match.group(3)
    if set(trace_id) == {"0"} or set(parent_id) == {"0"}:
        return None
    return trace_id, parent_id


# --------------------------------------------------------------------------- access log

_SERVER_ERROR_CODES = frozenset(
    {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS}
)


class ObservingInterceptor(WrappingInterceptor):
    """Base of interceptors that watch calls: ``_start`` before, ``_done`` after every call.

    ``outcome`` is ``"ok"``, ``"error"`` (the handler raised) or ``"cancelled"`` (the client went
    away mid-stream); ``_start``'s return value (default: ``time.perf_counter()``) comes back as
    ``started``.
    """

    def _start(self, call: CallInfo) -> float:
        return time.perf_counter()

    def _done(
        self, call: CallInfo, context: grpc.ServicerContext, started: float, outcome: str
    ) -> None:
        raise NotImplementedError

    def unary(
        self, behavior: Behavior, request: Any, context: grpc.ServicerContext, call: CallInfo
    ) -> Any:
        started, outcome = self._start(call), "error"
        try:
            response = behavior(request, context)
            outcome = "ok"
            return response
        finally:
            self._done(call, context, started, outcome)

    def stream(
        self, behavior: Behavior, request: Any, context: grpc.ServicerContext, call: CallInfo
    ) -> Iterator[Any]:
        started, outcome = self._start(call), "error"
        try:
            yield from behavior(request, context)
            outcome = "ok"
        except GeneratorExit:
            outcome = "cancelled"
            raise
        finally:
            self._done(call, context, started, outcome)


class AccessLogInterceptor(ObservingInterceptor):
    """One structured line per call: ``grpc.access`` with method, code, duration_ms, peer,
    request_id (plus service, grpc_type). Info level; warning for UNKNOWN/INTERNAL/DATA_LOSS.

    Health checks are not logged by default (``skip_services``): probes every few seconds would
    drown the real traffic.
    """

    def __init__(
        self,
        *,
        logger: Any = None,
        event: str = "grpc.access",
        skip_services: Iterable[str] = (HEALTH_SERVICE,),
    ) -> None:
        self.logger = logger if logger is not None else get_logger("alvin_grpc.access")
        self.event = event
        self.skip_services = frozenset(skip_services)

    def skip(self, call: CallInfo) -> bool:
        return call.service in self.skip_services

    def _done(
        self, call: CallInfo, context: grpc.ServicerContext, started: float, outcome: str
    ) -> None:
        code = _final_code(context, outcome)
        log = self.logger.warning if code in _SERVER_ERROR_CODES else self.logger.info
        try:
            peer = context.peer()
        except Exception:  # the peer is informative only
            peer = "unknown"
        log(
            self.event,
            method=call.method,
            service=call.service,
            grpc_type=call.kind,
            code=code.name,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            peer=peer,
            request_id=get_request_id(),
        )


# --------------------------------------------------------------------------- metrics

# go-grpc-prometheus labels codes with Go's codes.Code.String() spelling.
GO_CODE_NAMES: Mapping[grpc.StatusCode, str] = {
    grpc.StatusCode.OK: "OK",
    grpc.StatusCode.CANCELLED: "Canceled",
    grpc.StatusCode.UNKNOWN: "Unknown",
    grpc.StatusCode.INVALID_ARGUMENT: "InvalidArgument",
    grpc.StatusCode.DEADLINE_EXCEEDED: "DeadlineExceeded",
    grpc.StatusCode.NOT_FOUND: "NotFound",
    grpc.StatusCode.ALREADY_EXISTS: "AlreadyExists",
    grpc.StatusCode.PERMISSION_DENIED: "PermissionDenied",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "ResourceExhausted",
    grpc.StatusCode.FAILED_PRECONDITION: "FailedPrecondition",
    grpc.StatusCode.ABORTED: "Aborted",
    grpc.StatusCode.OUT_OF_RANGE: "OutOfRange",
    grpc.StatusCode.UNIMPLEMENTED: "Unimplemented",
    grpc.StatusCode.INTERNAL: "Internal",
    grpc.StatusCode.UNAVAILABLE: "Unavailable",
    grpc.StatusCode.DATA_LOSS: "DataLoss",
    grpc.StatusCode.UNAUTHENTICATED: "Unauthenticated",
}


class ServerMetrics:
    """The go-grpc-prometheus server metrics, registered once per registry.

    - ``grpc_server_started_total{grpc_type,grpc_service,grpc_method}``
    - ``grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}``
    - ``grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}`` (histogram)
    """

    _by_registry: ClassVar[weakref.WeakKeyDictionary[CollectorRegistry, ServerMetrics]] = (
        weakref.WeakKeyDictionary()
    )
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.started = Counter(
            "grpc_server_started",
            "Total number of RPCs started on the server.",
            labels,
            registry=registry,
        )
        self.handled = Counter(
            "grpc_server_handled",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            [*labels, "grpc_code"],
            registry=registry,
        )
        self.handling_seconds = Histogram(
            "grpc_server_handling_seconds",
            "Histogram of response latency (seconds) of gRPC that had been application-level "
            "handled by the server.",
            labels,
            registry=registry,
        )

    @classmethod
    def for_registry(cls, registry: CollectorRegistry | None = None) -> ServerMetrics:
        """The metrics of ``registry`` (default: prometheus_client's global one), made once."""
        registry = registry if registry is not None else REGISTRY
        with cls._lock:
            metrics = cls._by_registry.get(registry)
            if metrics is None:
                metrics = cls._by_registry[registry] = cls(registry)
            return metrics


class MetricsInterceptor(ObservingInterceptor):
    """Count and time every call (see :class:`ServerMetrics`); ``registry`` isolates tests."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.metrics = ServerMetrics.for_registry(registry)

    def _start(self, call: CallInfo) -> float:
        self.metrics.started.labels(call.kind, call.service, call.name).inc()
        return time.perf_counter()

    def _done(
        self, call: CallInfo, context: grpc.ServicerContext, started: float, outcome: str
    ) -> None:
        code = _final_code(context, outcome)
        self.metrics.handled.labels(call.kind, call.service, call.name, GO_CODE_NAMES[code]).inc()
        self.metrics.handling_seconds.labels(call.kind, call.service, call.name).observe(
            time.perf_counter() - started
        )


# --------------------------------------------------------------------------- authentication


class ServiceAuthInterceptor(WrappingInterceptor):
    """Accept only calls that carry a service credential; others get ``UNAUTHENTICATED``.

    A call is accepted when either

    - its metadata has ``authorization: Bearer <token>`` or ``x-service-token: <token>`` equal to
      one of ``tokens`` (several: rotation; compared with ``hmac.compare_digest``), or
    - it came over mTLS and the client certificate's common name or one of its subject alternative
      names is in ``allowed_peers`` (read from ``context.auth_context()``).

    Services in ``open_services`` (health, reflection) need no credential.
    """

    def __init__(
        self,
        *,
        tokens: Iterable[str | SecretStr] = (),
        allowed_peers: Iterable[str] = (),
        open_services: Iterable[str] = OPEN_SERVICES,
        domain: str = DEFAULT_ERROR_DOMAIN,
    ) -> None:
        raw = (t.get_secret_value() if isinstance(t, SecretStr) else t for t in tokens)
        self._tokens = [t.encode() for t in raw if t]
        self.allowed_peers = frozenset(allowed_peers)
        self.open_services = frozenset(open_services)
        self.domain = domain
        if not self._tokens and not self.allowed_peers:
            raise ValueError("ServiceAuthInterceptor needs at least one token or allowed peer")
        self._log = get_logger("alvin_grpc.auth")

    def skip(self, call: CallInfo) -> bool:
        return call.service in self.open_services

    def _presented_token(self, call: CallInfo) -> bytes | None:
        auth = call.header(AUTHORIZATION_HEADER)
        if auth is not None:
            scheme, _, value = auth.strip().partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                return value.strip().encode()
        token = call.header(SERVICE_TOKEN_HEADER)
        return token.strip().encode() if token else None

    def _token_ok(self, call: CallInfo) -> bool | None:
        """True/False for a right/wrong token, None when none was presented."""
        presented = self._presented_token(call)
        if presented is None:
            return None
        matched = False
        for token in self._tokens:  # no early exit: the time does not tell which token matched
            matched |= hmac.compare_digest(presented, token)
        return matched

    def _peer_ok(self, context: grpc.ServicerContext) -> bool:
        if not self.allowed_peers:
            return False
        auth = context.auth_context()
        if b"ssl" not in _values(auth.get("transport_security_type")):
            return False
        names = _values(auth.get("x509_common_name")) + _values(
            auth.get("x509_subject_alternative_name")
        )
        return any(name.decode("utf-8", "replace") in self.allowed_peers for name in names)

    def _reject(self, call: CallInfo, context: grpc.ServicerContext, reason: str) -> NoReturn:
        try:
            peer = context.peer()
        except Exception:
            peer = "unknown"
        self._log.warning("grpc.auth.rejected", method=call.method, peer=peer, reason=reason)
        abort_with_error(
            context, Unauthenticated("Missing or invalid service credentials."), domain=self.domain
        )

    def _check(self, call: CallInfo, context: grpc.ServicerContext) -> None:
        token_ok = self._token_ok(call)
        if token_ok or self._peer_ok(context):
            return
        self._reject(call, context, "missing credentials" if token_ok is None else "wrong token")

    def non_blocking(
        self, handler: grpc.RpcMethodHandler[_Req, _Resp], call: CallInfo
    ) -> grpc.RpcMethodHandler[_Req, _Resp]:
        # No context before the call starts: only the token can admit a callback-style handler.
        if self._token_ok(call):
            return handler
        return _abort_handler(handler, lambda context: self._reject(call, context, "no token"))

    def unary(
        self, behavior: Behavior, request: Any, context: grpc.ServicerContext, call: CallInfo
    ) -> Any:
        self._check(call, context)
        return behavior(request, context)

    def stream(
        self, behavior: Behavior, request: Any, context: grpc.ServicerContext, call: CallInfo
    ) -> Iterator[Any]:
        self._check(call, context)
        yield from behavior(request, context)


def _values(value: Any) -> list[bytes]:
    """auth_context() values are lists of bytes (the stubs say bytes): normalise."""
    if value is None:
        return []
    if isinstance(value, bytes):
        return [value]
    return [v if isinstance(v, bytes) else str(v).encode() for v in value]


# --------------------------------------------------------------------------- errors


def _is_abort(error: Exception, context: grpc.ServicerContext) -> bool:
    """True for the exception ``context.abort()`` raises (a bare ``Exception()``, code set), and
    for whatever a call that is already over raises (e.g. the request iterator of a cancelled
    stream): nothing can be sent to that client any more."""
    if type(error) is Exception and not error.args and context_code(context) is not None:
        return True
    return not _is_active(context)


class ErrorsInterceptor(WrappingInterceptor):
    """Map exceptions to statuses (see :mod:`alvin_grpc.errors`).

    - :class:`~alvin_python_lib.errors.DomainError`: its status code, its message, and a
      ``google.rpc.Status`` with ErrorInfo (``domain``), BadRequest, RetryInfo details.
    - ``context.abort(...)`` by the handler, or anything raised once the client has gone: left as
      it is.
    - a database that cannot serve now (connection refused or lost, pool exhausted, statement
      timeout: see :func:`alvin_python_lib.db.errors.unavailable_error`): ``UNAVAILABLE``, so
      that callers fail fast and may retry; a warning goes to the server log.
    - anything else: ``INTERNAL`` with ``"Internal error."``; the traceback goes to the server log
      only (never to the client: grpcio would otherwise send ``Exception calling application: ...``).
    """

    def __init__(self, *, domain: str = DEFAULT_ERROR_DOMAIN, logger: Any = None) -> None:
        self.domain = domain
        self._log = logger if logger is not None else get_logger("alvin_grpc.errors")

    def _handle(self, error: Exception, context: grpc.ServicerContext, call: CallInfo) -> NoReturn:
        if isinstance(error, DomainError):
            abort_with_error(context, error, domain=self.domain)
        unavailable = unavailable_error(error)
        if unavailable is not None:
            self._log.warning(
                "grpc.dependency_unavailable",
                method=call.method,
                exc_type=type(error).__name__,
                error=str(error).splitlines()[0][:300] if str(error) else "",
            )
            abort_with_error(context, unavailable, domain=self.domain)
        # Called from the except block: the traceback goes to the server log with the line.
        self._log.exception(
            "grpc.unhandled_exception", method=call.method, exc_type=type(error).__name__
        )
        abort_with_status(context, internal_rpc_status())

    def unary(
        self, behavior: Behavior, request: Any, context: grpc.ServicerContext, call: CallInfo
    ) -> Any:
        try:
            return behavior(request, context)
        except Exception as error:
            if _is_abort(error, context):
                raise
            self._handle(error, context, call)

    def stream(
        self, behavior: Behavior, request: Any, context: grpc.ServicerContext, call: CallInfo
    ) -> Iterator[Any]:
        try:
            yield from behavior(request, context)
        except Exception as error:
            if _is_abort(error, context):
                raise
            self._handle(error, context, call)


# --------------------------------------------------------------------------- database sessions


class DbSessionInterceptor(WrappingInterceptor):
    """Call ``database.remove()`` when each call ends, also when it raised; and bound each
    transaction's statements by the call's deadline
    (:func:`alvin_python_lib.db.statement_deadline`), so that a slow database frees the handler
    thread when the client gives up instead of starving the server (health checks included).

    For a streamed response: when the stream ends. The call runs in the handler's thread, which
    is what a thread-scoped SQLAlchemy ``scoped_session`` needs. A failing ``remove()`` is logged and
    does not replace the call's own outcome.
    """

    def __init__(self, database: SupportsRemove) -> None:
        self.database = database
        self._log = get_logger("alvin_grpc.db")

    def _remove(self, call: CallInfo) -> None:
        try:
            self.database.remove()
        except Exception:
            self._log.exception("grpc.db_remove_failed", method=call.method)

    def unary(
        self, behavior: Behavior, request: Any, context: grpc.ServicerContext, call: CallInfo
    ) -> Any:
        try:
            with statement_deadline(context.time_remaining()):
                return behavior(request, context)
        finally:
            self._remove(call)

    def stream(
        self, behavior: Behavior, request: Any, context: grpc.ServicerContext, call: CallInfo
    ) -> Iterator[Any]:
        try:
            with statement_deadline(context.time_remaining()):
                yield from behavior(request, context)
        finally:
            self._remove(call)


# --------------------------------------------------------------------------- composition


def server_interceptors(
    *,
    error_domain: str = DEFAULT_ERROR_DOMAIN,
    tokens: Iterable[str | SecretStr] = (),
    allowed_peers: Iterable[str] = (),
    database: SupportsRemove | None = None,
    metrics_registry: CollectorRegistry | None = None,
    request_context: bool = True,
    access_log: bool = True,
    metrics: bool = True,
    tracing: bool | None = None,
    extra: Sequence[grpc.ServerInterceptor] = (),
) -> list[grpc.ServerInterceptor]:
    """The interceptors in the documented order (module docstring).

    ``tracing`` (None: when :func:`alvin_python_lib.telemetry.tracing_enabled`) puts
    OpenTelemetry's server interceptor outermost: a span per call, continuing the caller's
    ``traceparent``, current while the other interceptors and the handler run.

    Authentication is added when ``tokens`` or ``allowed_peers`` are given, session cleanup when
    ``database`` is; ``extra`` interceptors go innermost (after the error mapping, before the
    session cleanup), so their domain exceptions are mapped too.
    """
    chain: list[grpc.ServerInterceptor] = []
    if tracing or (tracing is None and telemetry.tracing_enabled()):
        from opentelemetry.instrumentation.grpc import server_interceptor  # noqa: PLC0415

        chain.append(server_interceptor())  # type: ignore[no-untyped-call]
    if request_context:
        chain.append(RequestContextInterceptor())
    if access_log:
        chain.append(AccessLogInterceptor())
    if metrics:
        chain.append(MetricsInterceptor(metrics_registry))
    tokens = [t for t in tokens if (t.get_secret_value() if isinstance(t, SecretStr) else t)]
    allowed_peers = list(allowed_peers)
    if tokens or allowed_peers:
        chain.append(
            ServiceAuthInterceptor(tokens=tokens, allowed_peers=allowed_peers, domain=error_domain)
        )
    chain.append(ErrorsInterceptor(domain=error_domain))
    chain.extend(extra)
    if database is not None:
        chain.append(DbSessionInterceptor(database))
    return chain
