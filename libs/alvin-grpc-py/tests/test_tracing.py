"""OpenTelemetry through alvin_grpc: client and server spans of one call share a trace.

Runs in a fresh interpreter: OpenTelemetry's tracer provider is process-global.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("opentelemetry.instrumentation.grpc")

SCRIPT = """
import sys
import grpc
from alvin_grpc.client import create_channel
from alvin_grpc.server import ServerSettings, ServiceRegistration, build_server
from alvin_python_lib import telemetry
from alvin_python_lib.logging import configure_logging

configure_logging(fmt="json", stream=sys.stderr)
tracing = sys.argv[1] == "on"
exporter = "console" if tracing else "none"
telemetry.configure_telemetry(
    telemetry.TelemetrySettings(otel_exporter=exporter), service_name="svc", service_version="1"
)
echo = grpc.unary_unary_rpc_method_handler(lambda request, context: request)  # raw bytes
registration = ServiceRegistration.from_handlers("test.Echo", {"Say": echo})
settings = ServerSettings(grpc_host="127.0.0.1", grpc_port=0, grpc_reflection=False)
server = build_server([registration], settings)
try:
    channel = create_channel(server.address)
    with telemetry.span("caller"):
        assert channel.unary_unary("/test.Echo/Say")(b"hi") == b"hi"
    channel.close()
finally:
    server.stop(0)
telemetry.shutdown_telemetry()
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")), file=sys.stderr)
"""


def run(mode: str) -> tuple[list[dict], list[str]]:  # type: ignore[type-arg]
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    spans = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return spans, done.stderr.splitlines()


def test_client_and_server_spans_share_the_callers_trace() -> None:
    spans, log = run("on")
    by_name: dict[tuple[str, str], dict] = {(s["name"], s["kind"]): s for s in spans}  # type: ignore[type-arg]
    caller = by_name[("caller", "SpanKind.INTERNAL")]
    client = by_name[("/test.Echo/Say", "SpanKind.CLIENT")]
    server = by_name[("/test.Echo/Say", "SpanKind.SERVER")]
    trace_id = caller["context"]["trace_id"]
    assert client["context"]["trace_id"] == server["context"]["trace_id"] == trace_id
    assert client["parent_id"] == caller["context"]["span_id"]
    assert server["parent_id"] == client["context"]["span_id"]
    # The server's access log line carries the server span's ids.
    (access,) = [json.loads(line) for line in log if '"grpc.access"' in line]
    assert access["trace_id"] == trace_id.removeprefix("0x")
    assert access["span_id"] == server["context"]["span_id"].removeprefix("0x")


def test_without_tracing_nothing_of_opentelemetry_is_imported() -> None:
    spans, log = run("off")
    assert spans == []
    assert log[-1] == "[]"
