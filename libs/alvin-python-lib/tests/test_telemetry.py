"""alvin_python_lib.telemetry: tracing off costs nothing; on, spans, SQL, propagation, log ids; Sentry.

Each case runs in a fresh interpreter: OpenTelemetry's tracer provider is process-global and can
be set once, and "nothing was imported" can only be checked in a clean process.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    """Run ``code`` in a new interpreter; (stdout, stderr); fails the test on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_exporter_none_imports_nothing_and_helpers_are_no_ops() -> None:
    out, err = run_python(
        """
        import sys
        from alvin_python_lib import telemetry
        from alvin_python_lib.logging import configure_logging, get_logger

        configure_logging(fmt="json", stream=sys.stderr)
        settings = telemetry.TelemetrySettings()
        assert settings.otel_exporter == "none"
        assert telemetry.configure_telemetry(settings, service_name="s", service_version="1") is False
        assert not telemetry.tracing_enabled()
        with telemetry.span("step"):
            get_logger("t").info("inside")
        assert telemetry.inject_trace_headers({"a": "b"}) == {"a": "b"}
        with telemetry.trace_context({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}):
            assert telemetry.current_trace_ids() is None
        print(sorted(m for m in sys.modules if m.startswith(("opentelemetry", "sentry_sdk"))))
        """
    )
    assert out.strip() == "[]"
    (line,) = [line for line in json_lines(err) if line["event"] == "inside"]
    assert "trace_id" not in line
    assert "span_id" not in line


def test_console_exporter_spans_sql_propagation_and_log_ids(database_url: str) -> None:
    out, err = run_python(
        """
        import json, sys
        from sqlalchemy import text
        from alvin_python_lib import telemetry
        from alvin_python_lib.db import Database
        from alvin_python_lib.logging import configure_logging, get_logger

        configure_logging(fmt="json", stream=sys.stderr)
        settings = telemetry.TelemetrySettings(otel_exporter="console")
        assert telemetry.configure_telemetry(
            settings, service_name="svc", service_version="1.2.3", process="test"
        )
        database = Database(sys.argv[1])
        telemetry.instrument_sqlalchemy(database.engine)
        with telemetry.span("outer", step="one"):
            get_logger("t").info("inside")
            headers = telemetry.inject_trace_headers({"request_id": "r1"})
            with database.engine.connect() as conn:
                conn.execute(text("SELECT 41 + 1"))
        with telemetry.trace_context(json.loads(json.dumps(headers))):  # as stored in a row
            with telemetry.span("continued"):
                pass
        database.dispose()
        telemetry.shutdown_telemetry()
        print(json.dumps({"headers": dict(headers)}), file=sys.stderr)
        """,
        database_url,
    )
    spans = {span["name"]: span for span in json_lines(out)}
    outer, continued = spans["outer"], spans["continued"]
    (sql,) = [span for name, span in spans.items() if name.startswith("SELECT")]

    def hexid(value: str) -> str:
        return value.removeprefix("0x")

    trace_id = hexid(outer["context"]["trace_id"])
    outer_id = hexid(outer["context"]["span_id"])
    assert outer["parent_id"] is None
    assert outer["attributes"] == {"step": "one"}
    assert outer["resource"]["attributes"]["service.name"] == "svc"
    assert outer["resource"]["attributes"]["service.version"] == "1.2.3"
    assert hexid(sql["context"]["trace_id"]) == trace_id
    assert hexid(sql["parent_id"]) == outer_id
    assert sql["attributes"]["db.statement"] == "SELECT 41 + 1"
    # The carried context continues the trace in another place (another process in real life).
    assert hexid(continued["context"]["trace_id"]) == trace_id
    assert hexid(continued["parent_id"]) == outer_id

    logs = json_lines(err)
    (inside,) = [line for line in logs if line.get("event") == "inside"]
    assert (inside["trace_id"], inside["span_id"]) == (trace_id, outer_id)
    (carried,) = [line["headers"] for line in logs if "headers" in line]
    assert carried["request_id"] == "r1"
    version_trace_span, _, flags = carried["traceparent"].rpartition("-")
    assert version_trace_span == f"00-{trace_id}-{outer_id}"
    assert int(flags, 16) & 1  # sampled


def test_sample_ratio_zero_records_nothing_but_propagates() -> None:
    out, _ = run_python(
        """
        from alvin_python_lib import telemetry
        settings = telemetry.TelemetrySettings(otel_exporter="console", otel_sample_ratio=0)
        telemetry.configure_telemetry(settings, service_name="s", service_version="1")
        with telemetry.span("dropped"):
            headers = telemetry.inject_trace_headers({})
        telemetry.shutdown_telemetry()
        print("traceparent=" + headers["traceparent"])
        """
    )
    assert '"name": "dropped"' not in out
    (line,) = [line for line in out.splitlines() if line.startswith("traceparent=")]
    assert not int(line.rpartition("-")[2], 16) & 1  # not sampled: the callee will not record


class _Collector(BaseHTTPRequestHandler):
    bodies: list[bytes]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        self.server.bodies.append(body)  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def sentry_ingest() -> Iterator[ThreadingHTTPServer]:
    """A local HTTP endpoint that stands in for Sentry's ingest API and keeps what it receives."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.bodies = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_sentry_reports_with_the_request_id_only_when_a_dsn_is_set(
    sentry_ingest: ThreadingHTTPServer,
) -> None:
    pytest.importorskip("sentry_sdk")
    port = sentry_ingest.server_address[1]
    out, _ = run_python(
        """
        import sys
        from alvin_python_lib import telemetry
        from alvin_python_lib.logging import bind_request_id

        settings = telemetry.TelemetrySettings(sentry_dsn=sys.argv[1])
        telemetry.configure_telemetry(settings, service_name="s", service_version="9")
        assert not telemetry.tracing_enabled()
        import sentry_sdk
        bind_request_id("req-sentry-1")
        try:
            1 / 0
        except ZeroDivisionError:
            sentry_sdk.capture_exception()
        sentry_sdk.flush(5)
        print("done")
        """,
        f"http://publickey@127.0.0.1:{port}/1",
    )
    assert out.strip() == "done"
    received = b"\n".join(sentry_ingest.bodies)  # type: ignore[attr-defined]
    assert b"ZeroDivisionError" in received
    assert b'"request_id":"req-sentry-1"' in received.replace(b" ", b"")
    assert b"s@9" in received  # release
