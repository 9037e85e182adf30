"""alvin_python_lib.telemetry: tracing off costs nothing; on, spans, SQL, propagation, log ids; Sentry.

Each case runs in a fresh interpreter: OpenTelemetry's tracer provider is process-global and can
be set once, and "nothing was imported" can only be checked in a clean process.
"""

from __future__ import annotations

import gzip
import json
import os
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
    assert sql["attributes"]["db.query.text"] == "SELECT 41 + 1"  # the stable convention
    assert "db.statement" not in sql["attributes"]
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
        self.server.received.append(
            (self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def sentry_ingest() -> Iterator[ThreadingHTTPServer]:
    """A local HTTP endpoint that stands in for Sentry's ingest API (or an OTLP/HTTP collector)
    and keeps what it receives."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.bodies = []  # type: ignore[attr-defined]
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_sentry_reports_with_the_request_id_and_no_local_variables(
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

        def check(password):
            return len(password) / 0

        try:
            check("local-value-never-sent")
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
    assert b"local-value-never-sent" not in received  # frames carry no local variables


# --------------------------------------------------------------------------- standard variables


def otel_env(**variables: str) -> dict[str, str]:
    """This process's environment without OTEL_* variables, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return {**env, **variables}


SPAN_AND_RESOURCE = """
    import json, os, sys
    from alvin_python_lib import telemetry
    settings = telemetry.TelemetrySettings.model_validate(json.loads(sys.argv[1]))
    on = telemetry.configure_telemetry(
        settings, service_name="kit-name", service_version="1.0", environment="test",
        process="worker",
    )
    with telemetry.span("step"):
        headers = telemetry.inject_trace_headers({})
    telemetry.shutdown_telemetry()
    print("RESULT " + json.dumps({"on": on, "pid": os.getpid(), "headers": headers}))
"""


def run_span(settings: dict[str, Any], **variables: str) -> tuple[dict[str, Any], list[Any]]:
    """Configure from ``settings`` and the variables, record one span: (result, console spans)."""
    out, _ = run_python(SPAN_AND_RESOURCE, json.dumps(settings), env=otel_env(**variables))
    (line,) = [line for line in out.splitlines() if line.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT ")), json_lines(out)


def test_standard_variables_win_over_the_settings_and_attributes_follow_conventions() -> None:
    result, spans = run_span(
        {"otel_exporter": "none"},
        OTEL_TRACES_EXPORTER="console",
        OTEL_SERVICE_NAME="name-from-env",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=stage-from-env,team=core",
    )
    assert result["on"] is True
    (span,) = spans
    resource = span["resource"]["attributes"]
    assert resource["service.name"] == "name-from-env"
    assert resource["deployment.environment.name"] == "stage-from-env"
    assert resource["team"] == "core"
    assert resource["service.version"] == "1.0"
    assert resource["process.pid"] == result["pid"]
    assert resource["host.name"]
    assert len(resource["service.instance.id"]) == 36  # a UUID per process
    assert resource["alvin.process.role"] == "worker"
    assert not any(key.startswith("service.instance.role") for key in resource)


def test_kit_settings_are_the_defaults() -> None:
    _, spans = run_span({"otel_exporter": "console"})
    (span,) = spans
    resource = span["resource"]["attributes"]
    assert (resource["service.name"], resource["deployment.environment.name"]) == (
        "kit-name",
        "test",
    )


@pytest.mark.parametrize(
    "variables",
    [{"OTEL_TRACES_EXPORTER": "none"}, {"OTEL_SDK_DISABLED": "true"}],
    ids=["exporter-none", "sdk-disabled"],
)
def test_standard_variables_turn_tracing_off(variables: dict[str, str]) -> None:
    result, spans = run_span({"otel_exporter": "console"}, **variables)
    assert result["on"] is False
    assert spans == []
    assert result["headers"] == {}


@pytest.mark.parametrize(
    ("settings", "variables"),
    [
        ({"otel_sample_ratio": 1.0}, {"OTEL_TRACES_SAMPLER": "always_off"}),
        (
            {"otel_sample_ratio": 1.0},
            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"},
        ),
        (
            {"otel_sample_ratio": 1.0},
            {"OTEL_TRACES_SAMPLER_ARG": "0"},
        ),  # the kit's sampler, its ratio
    ],
    ids=["sampler", "sampler-and-arg", "arg-alone"],
)
def test_standard_sampler_variables_win(
    settings: dict[str, Any], variables: dict[str, str]
) -> None:
    result, spans = run_span({"otel_exporter": "console", **settings}, **variables)
    assert result["on"] is True
    assert spans == []  # not recorded
    assert not int(result["headers"]["traceparent"].rpartition("-")[2], 16) & 1


def test_otlp_over_http_from_the_standard_variables(sentry_ingest: ThreadingHTTPServer) -> None:
    port = sentry_ingest.server_address[1]
    result, _ = run_span(
        # the kit's settings point elsewhere: the standard variables must win
        {"otel_exporter": "otlp-grpc", "otel_endpoint": "http://127.0.0.1:9/nowhere"},
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
        OTEL_EXPORTER_OTLP_HEADERS="x-tenant=t1",
    )
    assert result["on"] is True
    received = sentry_ingest.received  # type: ignore[attr-defined]
    assert [path for path, _, _ in received] == ["/v1/traces"]
    ((_, headers, body),) = received
    assert headers["x-tenant"] == "t1"
    assert headers["content-type"] == "application/x-protobuf"
    assert b"step" in body
    assert b"kit-name" in body


def test_an_unknown_exporter_is_a_clear_error() -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SPAN_AND_RESOURCE), json.dumps({})],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=otel_env(OTEL_TRACES_EXPORTER="zipkin"),
    )
    assert done.returncode != 0
    assert "OTEL_TRACES_EXPORTER: unknown exporter 'zipkin'" in done.stderr


def test_scheduler_job_spans_carry_namespaced_attributes(database_url: str) -> None:
    out, _ = run_python(
        """
        import sys, threading
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool
        from alvin_python_lib import telemetry
        from alvin_python_lib.scheduler import LockedScheduler

        telemetry.configure_telemetry(
            telemetry.TelemetrySettings(otel_exporter="console"),
            service_name="s",
            service_version="1",
        )
        ran = threading.Event()
        engine = create_engine(sys.argv[1], poolclass=NullPool)
        scheduler = LockedScheduler(engine, name="span-test", background=True)
        scheduler.add_job(ran.set, "interval", id="tick", seconds=0.2)
        scheduler.start()
        assert ran.wait(20), "the job never ran"
        scheduler.shutdown()
        engine.dispose()
        telemetry.shutdown_telemetry()
        """,
        database_url,
        env=otel_env(),
    )
    jobs = [span for span in json_lines(out) if span["name"] == "scheduler.job"]
    assert jobs
    assert jobs[0]["attributes"] == {
        "alvin.scheduler.name": "span-test",
        "alvin.scheduler.job.id": "tick",
    }
