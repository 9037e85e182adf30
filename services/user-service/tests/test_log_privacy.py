"""In staging and production, a failing SQL statement leaves its values out of the server log.

The statement fails for real on the test database (a trigger refuses the insert), through the
engine the composition root builds for the gRPC process, and the log is the one the gRPC errors
interceptor writes for an unexpected error.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from support import DEFAULT_PASSWORD, TEST_CONFIG

from alvin_grpc.client import create_channel
from alvin_grpc.testing import assert_rpc_error
from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as pb_grpc
from alvin_python_lib import ids
from alvin_python_lib.logging import configure_logging
from alvin_python_lib.testing import real_databases
from user_service.app.bootstrap import bootstrap, database_from
from user_service.app.server import create_server
from user_service.app.settings import Settings
from user_service.remote.email import SmtpConfig, SmtpMailer

TOKEN = "a-production-grade-service-token-for-tests"  # pragma: allowlist secret
EMAIL = "private.person@refused.example.com"

REFUSE_TEST_SIGNUPS = """
CREATE FUNCTION refuse_test_signups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.email LIKE '%@refused.example.com' THEN
        RAISE EXCEPTION 'signup refused by the test';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_test_signups BEFORE INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION refuse_test_signups();
"""
DROP_TRIGGER = """
DROP TRIGGER IF EXISTS refuse_test_signups ON users;
DROP FUNCTION IF EXISTS refuse_test_signups();
"""


@pytest.fixture
def refused_signups(db_engine: Engine) -> Iterator[None]:
    """Inserts of ``@refused.example.com`` users fail in the database (committed DDL, dropped after)."""
    with db_engine.begin() as conn:
        conn.execute(text(REFUSE_TEST_SIGNUPS))
    try:
        yield
    finally:
        with db_engine.begin() as conn:
            conn.execute(text(DROP_TRIGGER))


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the process logs during the test, as the deployed JSON lines."""
    stream = io.StringIO()
    configure_logging(fmt="json", stream=stream, level="INFO")
    yield stream
    configure_logging(fmt="console", level="WARNING")


@pytest.mark.parametrize("app_env", ["production", "development"])
def test_a_failing_statement_logs_no_parameter_when_deployed(
    refused_signups: None,
    log_output: io.StringIO,
    database_url: str,
    redis_url: str,
    id_generator: ids.SnowflakeGenerator,
    app_env: str,
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        app_env=app_env,
        database_url=database_url,
        redis_url=redis_url,
        grpc_host="127.0.0.1",
        grpc_port=0,
        grpc_grace_period_s=0,
        grpc_service_token=TOKEN,
        public_url="https://app.example.com",
    )
    # The engine and sessions of the gRPC process, as in production (not the test's session).
    with real_databases():
        container = bootstrap(
            settings,
            process="grpc",
            database=database_from(settings, "grpc"),
            config=TEST_CONFIG,
            mailer=SmtpMailer(SmtpConfig(port=1)),
            id_generator=id_generator,
        )
        server = create_server(container)
        channel = create_channel(server.address, token=TOKEN, default_timeout=10)
        try:
            request = pb.CreateUserRequest(
                email=EMAIL, password=DEFAULT_PASSWORD, display_name="Private Person"
            )
            assert_rpc_error(
                lambda: pb_grpc.UserServiceStub(channel).CreateUser(request),
                grpc.StatusCode.INTERNAL,
            )
        finally:
            channel.close()
            server.stop(0)
            container.close()

    lines: list[dict[str, Any]] = [json.loads(line) for line in log_output.getvalue().splitlines()]
    (failure,) = [line for line in lines if line.get("event") == "grpc.unhandled_exception"]
    assert "signup refused by the test" in failure["exception"]
    everything = log_output.getvalue()
    if app_env == "production":
        assert "SQL parameters hidden" in failure["exception"]
        assert EMAIL not in everything
        assert "$argon2id$" not in everything  # the password hash
    else:  # in development the values help debugging
        assert EMAIL in failure["exception"]
