"""A tiny OTLP/HTTP trace receiver: what an OpenTelemetry collector is to the stack, in-process.

The processes export with the real OTLP/HTTP exporter (protobuf over POST /v1/traces); the request
bodies are decoded with the protobuf classes of ``opentelemetry-proto`` and kept as flat records.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


@dataclass(frozen=True)
class Span:
    """One received span (ids in lower-case hex, as in ``traceparent``)."""

    service: str
    role: str  # the process: web, grpc, worker, scheduler (resource attribute alvin.process.role)
    name: str
    kind: int  # 1 internal, 2 server, 3 client, 4 producer, 5 consumer
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any] = field(hash=False, compare=False)


class OtlpReceiver:
    """Receives spans on ``endpoint`` until :meth:`stop`."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver._add(request)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        """The URL for ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/traces"

    def _add(self, request: ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        Span(
                            service=str(resource.get("service.name", "")),
                            role=str(resource.get("alvin.process.role", "")),
                            name=span.name,
                            kind=int(span.kind),
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                        )
                    )
        with self._lock:
            self.spans.extend(received)

    def trace(self, trace_id: str) -> list[Span]:
        """The spans of one trace received so far."""
        with self._lock:
            return [span for span in self.spans if span.trace_id == trace_id]

    def wait_for(
        self, trace_id: str, done: Callable[[list[Span]], bool], timeout: float = 30
    ) -> list[Span]:
        """Poll until ``done(spans of the trace)``; the spans (the last ones seen on timeout)."""
        deadline = time.monotonic() + timeout
        spans = self.trace(trace_id)
        while not done(spans) and time.monotonic() < deadline:
            time.sleep(0.1)  # polling interval
            spans = self.trace(trace_id)
        return spans

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
