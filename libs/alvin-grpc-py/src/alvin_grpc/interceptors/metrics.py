"""Count and time every call with the go-grpc-prometheus server metrics."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Generator, Mapping
from typing import Any, ClassVar

import grpc
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from alvin_grpc.interceptors.base import CallInfo, Continuation, ServerInterceptor, final_code

__all__ = ["GO_CODE_NAMES", "MetricsInterceptor", "ServerMetrics"]

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


class _MethodSeries:
    """One method's labelled series, looked up once (``labels()`` takes a lock on every call)."""

    __slots__ = ("_handled", "_labels", "_metrics", "seconds", "started")

    def __init__(self, metrics: ServerMetrics, call: CallInfo) -> None:
        self._metrics = metrics
        self._labels = (call.kind, call.service, call.name)
        self.started = metrics.started.labels(*self._labels)
        self.seconds = metrics.handling_seconds.labels(*self._labels)
        self._handled: dict[grpc.StatusCode, Counter] = {}

    def handled(self, code: grpc.StatusCode) -> Counter:
        counter = self._handled.get(code)
        if counter is None:
            counter = self._metrics.handled.labels(*self._labels, GO_CODE_NAMES[code])
            self._handled[code] = counter
        return counter


class MetricsInterceptor(ServerInterceptor):
    """Count and time every call (see :class:`ServerMetrics`); ``registry`` isolates tests."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.metrics = ServerMetrics.for_registry(registry)
        self._series: dict[str, _MethodSeries] = {}

    def intercept(
        self,
        method: Continuation,
        request_or_iterator: Any,
        context: grpc.ServicerContext,
        call: CallInfo,
    ) -> Generator[Any, None, Any]:
        series = self._series.get(call.method)
        if series is None:  # one per method served, like the label sets themselves
            series = self._series[call.method] = _MethodSeries(self.metrics, call)
        series.started.inc()
        started = time.perf_counter()
        try:
            response = yield from method(request_or_iterator, context)
        except BaseException as error:  # GeneratorExit too: the client cancelled a stream
            series.handled(final_code(context, error)).inc()
            series.seconds.observe(time.perf_counter() - started)
            raise
        series.handled(final_code(context)).inc()
        series.seconds.observe(time.perf_counter() - started)
        return response
