from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from alvin_python_lib.logging import (
    bind_request_id,
    clear_request_id,
    configure_logging,
    get_logger,
    get_request_id,
)


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    clear_request_id()
    yield
    clear_request_id()
    configure_logging(level="WARNING", fmt="console")


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_the_request_id_from_structlog_and_stdlib() -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="json", service="demo", stream=stream)
    rid = bind_request_id("req-123")
    get_logger("demo").info("user.created", user="u1")
    logging.getLogger("sqlalchemy.engine").warning("plain %s line", "stdlib")
    first, second = _lines(stream)
    assert rid == "req-123"
    assert first["event"] == "user.created"
    assert first["request_id"] == "req-123"
    assert first["service"] == "demo"
    assert first["level"] == "info"
    assert second["event"] == "plain stdlib line"
    assert second["request_id"] == "req-123"
    assert second["logger"] == "sqlalchemy.engine"


def test_request_ids_do_not_leak_between_threads() -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=stream)
    bind_request_id("main")
    seen: list[str | None] = []

    def other() -> None:
        seen.append(get_request_id())
        bind_request_id("thread")
        get_logger().info("in.thread")

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    get_logger().info("in.main")
    lines = {line["event"]: line for line in _lines(stream)}
    assert seen == [None]
    assert lines["in.thread"]["request_id"] == "thread"
    assert lines["in.main"]["request_id"] == "main"


def test_generated_request_ids_are_unique_and_cleared() -> None:
    ids = {bind_request_id() for _ in range(100)}
    assert len(ids) == 100
    clear_request_id()
    assert get_request_id() is None


def test_console_format_is_readable_and_reconfiguring_does_not_duplicate() -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="console", stream=stream)
    configure_logging(level="INFO", fmt="console", stream=stream)
    bind_request_id("abc")
    get_logger("x").info("hello")
    out = stream.getvalue()
    assert out.count("hello") == 1
    assert "request_id=abc" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.splitlines()[0])


def test_exceptions_are_rendered_in_json() -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=stream)
    try:
        raise ValueError("boom")
    except ValueError:
        get_logger().exception("failed")
    (line,) = _lines(stream)
    assert "ValueError: boom" in str(line["exception"])


def test_json_lines_hold_any_value_a_caller_logs() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    stream = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=stream)
    log = get_logger("demo")
    log.info("odd.values", obj=Opaque(), by_id={7: "seven"}, text='é\n"', ratio=0.5)
    log.info("wide.int", value=2**70)  # wider than orjson encodes: the standard library does
    odd, wide = _lines(stream)
    assert odd["obj"] == "<opaque>"
    assert odd["by_id"] == {"7": "seven"}
    assert odd["text"] == 'é\n"'
    assert odd["ratio"] == 0.5
    assert wide["value"] == 2**70


def test_a_named_stdlib_logger_level_silences_its_structlog_lines() -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=stream)
    quiet = logging.getLogger("demo.quiet")
    quiet.setLevel(logging.WARNING)
    try:
        get_logger("demo.quiet").info("dropped")
        get_logger("demo.quiet").warning("kept")
        get_logger("demo.loud").info("written")
    finally:
        quiet.setLevel(logging.NOTSET)
    assert [(line["event"], line["logger"]) for line in _lines(stream)] == [
        ("kept", "demo.quiet"),
        ("written", "demo.loud"),
    ]


def test_warnings_and_errors_reach_other_stdlib_handlers() -> None:
    """What error reporters hooked into logging (Sentry's integration) rely on."""
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=stream)
    seen: list[logging.LogRecord] = []
    extra = logging.Handler()
    extra.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(extra)
    try:
        get_logger("demo").info("routine")
        get_logger("demo").error("broken", user="u1")
    finally:
        logging.getLogger().removeHandler(extra)
    assert [(r.levelno, r.name) for r in seen] == [(logging.ERROR, "demo")]
    assert [line["event"] for line in _lines(stream)] == ["routine", "broken"]


def test_the_default_name_is_the_calling_module() -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=stream)
    get_logger().info("named")
    (line,) = _lines(stream)
    assert line["logger"] == __name__


def test_lines_from_many_threads_never_interleave() -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=stream)

    def emit(n: int) -> None:
        for i in range(200):
            get_logger("demo").info("line", n=n, i=i, pad="x" * 200)
            logging.getLogger("demo.std").warning("std %s %s", n, i)

    threads = [threading.Thread(target=emit, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = _lines(stream)  # each line parses as one JSON object
    assert len(lines) == 4 * 200 * 2
