"""alvin_python_lib.process: logging and tracing named after the process; start-up frozen.

Each ``start_process`` case runs in a fresh interpreter: logging and OpenTelemetry's tracer
provider are process-global.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from alvin_python_lib.process import freeze_startup_objects

START = """
    import json, sys
    from alvin_python_lib import telemetry
    from alvin_python_lib.config import BaseAppSettings
    from alvin_python_lib.logging import get_logger
    from alvin_python_lib.process import start_process

    class Settings({bases}):
        pass

    settings = Settings(service_name="svc", log_format="json", **json.loads(sys.argv[1]))
    start_process(settings, process="worker", service_version="1.2.3", celery={celery})
    get_logger("t").debug("started")
    with telemetry.span("step"):
        pass
    telemetry.shutdown_telemetry()
    print("RESULT " + json.dumps({{
        "tracing": telemetry.tracing_enabled(),
        "celery": "opentelemetry.instrumentation.celery" in sys.modules,
        "otel": sorted(m for m in sys.modules if m.startswith("opentelemetry")) != [],
    }}))
"""


def start(
    bases: str, settings: dict[str, Any], *, celery: bool
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Run START in a new interpreter: (result, JSON lines on stdout, JSON log lines on stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APP_ENV"))}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(START.format(bases=bases, celery=celery)),
            json.dumps(settings),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**env, "APP_ENV": "test"},
    )
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    spans = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    logs = [json.loads(x) for x in done.stderr.splitlines() if x.startswith("{")]
    return json.loads(line.removeprefix("RESULT ")), spans, logs


def test_logging_and_tracing_are_named_after_the_process() -> None:
    pytest.importorskip("opentelemetry.sdk")
    result, spans, logs = start(
        "telemetry.TelemetrySettings, BaseAppSettings",
        {"log_level": "DEBUG", "otel_exporter": "console"},
        celery=True,
    )
    assert result == {"tracing": True, "celery": True, "otel": True}
    (started,) = [line for line in logs if line["event"] == "started"]
    assert started["service"] == "svc.worker"
    assert started["level"] == "debug"
    (span,) = [span for span in spans if span.get("name") == "step"]
    resource = span["resource"]["attributes"]
    assert resource["service.name"] == "svc"
    assert resource["service.version"] == "1.2.3"
    assert resource["deployment.environment.name"] == "test"
    assert resource["alvin.process.role"] == "worker"


def test_celery_is_instrumented_only_when_asked() -> None:
    pytest.importorskip("opentelemetry.sdk")
    result, _, _ = start(
        "telemetry.TelemetrySettings, BaseAppSettings", {"otel_exporter": "console"}, celery=False
    )
    assert result == {"tracing": True, "celery": False, "otel": True}


def test_settings_without_telemetry_only_configure_logging() -> None:
    result, spans, logs = start("BaseAppSettings", {"log_level": "INFO"}, celery=True)
    assert result == {"tracing": False, "celery": False, "otel": False}
    assert spans == []
    assert not [line for line in logs if line["event"] == "started"]  # DEBUG is below INFO


def test_frozen_startup_objects_leave_the_collectors_generations() -> None:
    built_at_startup = [{"n": n} for n in range(1_000)]
    assert gc.is_tracked(built_at_startup)
    gc.unfreeze()
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() >= len(built_at_startup)
        # a full pass now walks only what was allocated after the freeze
        assert not any(obj is built_at_startup for obj in gc.get_objects())
        after = [{"n": 0}]
        assert any(obj is after for obj in gc.get_objects())
    finally:
        gc.unfreeze()
