"""Server builder, settings, reflection, graceful shutdown in a real subprocess."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import wrappers_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_test_service import SERVICE_NAME, Handlers, wait_until
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from alvin_grpc.client import create_channel
from alvin_grpc.interceptors import MIN_SERVICE_TOKEN_LENGTH
from alvin_grpc.server import ServerSettings, ServiceRegistration, build_server
from alvin_python_lib.config import BaseAppSettings, SettingsError

HERE = Path(__file__).parent


def test_reflection_lists_registered_health_and_reflection_services(serve: Any) -> None:
    _, channel, _ = serve()
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    assert services == {
        SERVICE_NAME,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    # The descriptors are served too (grpcurl describe, grpc-requests ...).
    file = database.FindFileContainingSymbol(SERVICE_NAME)
    assert file.name == "alvin/test/v1/test_service.proto"
    assert [m.name for m in file.service[0].method][:2] == ["Echo", "Raise"]


def test_reflection_can_be_turned_off(serve: Any) -> None:
    _, channel, _ = serve(ServerSettings(grpc_reflection=False))
    with pytest.raises(grpc.RpcError) as raised:
        ProtoReflectionDescriptorDatabase(channel).get_services()
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


class DeployableSettings(ServerSettings, BaseAppSettings):
    """Server settings with an environment, as a service mixes them."""

    model_config = SettingsConfigDict(env_prefix="DEMO_")


STRONG_TOKEN = "s" * MIN_SERVICE_TOKEN_LENGTH  # pragma: allowlist secret


def _reflected(channel: grpc.Channel) -> grpc.StatusCode:
    try:
        ProtoReflectionDescriptorDatabase(channel).get_services()
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def test_reflection_is_off_by_default_in_staging_and_production(serve: Any) -> None:
    for app_env, reflection, expected in [
        ("development", None, grpc.StatusCode.OK),
        ("test", None, grpc.StatusCode.OK),
        ("staging", None, grpc.StatusCode.UNIMPLEMENTED),
        ("production", None, grpc.StatusCode.UNIMPLEMENTED),
        ("production", True, grpc.StatusCode.OK),
    ]:
        settings = DeployableSettings(
            app_env=app_env,
            grpc_reflection=reflection,
            grpc_service_token=STRONG_TOKEN,  # type: ignore[arg-type]
        )
        server, _, _ = serve(settings)
        channel = create_channel(server.address, token=STRONG_TOKEN)
        try:
            assert _reflected(channel) == expected, (app_env, reflection)
        finally:
            channel.close()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({}, "DEMO_GRPC_SERVICE_TOKEN is empty"),
        ({"grpc_service_token": ""}, "DEMO_GRPC_SERVICE_TOKEN is empty"),
        ({"grpc_service_token": "s" * 31}, "DEMO_GRPC_SERVICE_TOKEN is too short"),
        # a peer allow-list admits nobody without mTLS: still no credential
        ({"grpc_allowed_peers": "gateway"}, "DEMO_GRPC_ALLOWED_PEERS with DEMO_GRPC_TLS_CLIENT"),
    ],
)
def test_a_deployed_server_refuses_to_start_without_strong_service_auth(
    handlers: Handlers, changes: dict[str, Any], message: str
) -> None:
    for app_env in ("staging", "production"):
        settings = DeployableSettings(app_env=app_env, grpc_port=0, **changes)
        with pytest.raises(SettingsError, match=message) as raised:
            build_server([handlers.registration()], settings, start=False)
        assert "32 characters" in raised.value.message


def test_development_and_strong_deployed_settings_build(handlers: Handlers) -> None:
    for settings in (
        DeployableSettings(app_env="development", grpc_port=0, grpc_service_token=""),  # type: ignore[arg-type]
        DeployableSettings(app_env="test", grpc_port=0),
        ServerSettings(grpc_port=0),  # no environment: the caller decides
        DeployableSettings(app_env="production", grpc_port=0, grpc_service_token=STRONG_TOKEN),  # type: ignore[arg-type]
    ):
        build_server([handlers.registration()], settings, start=False).server.stop(0)
    # a caller that passes its own chain owns the authentication
    bare = DeployableSettings(app_env="production", grpc_port=0)
    build_server([handlers.registration()], bare, interceptors=[], start=False).server.stop(0)


def test_health_reports_every_service(serve: Any) -> None:
    server, channel, _ = serve()
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", SERVICE_NAME):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as raised:
        stub.Check(health_pb2.HealthCheckRequest(service="no.Such"), timeout=5)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND

    server.enter_graceful_shutdown()
    for name in ("", SERVICE_NAME):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING


def test_server_wrapper_lifecycle(handlers: Handlers) -> None:
    settings = ServerSettings(grpc_host="127.0.0.1", grpc_port=0, grpc_grace_period_s=0)
    server = build_server([handlers.registration()], settings, start=False)
    assert server.port > 0
    assert server.address == f"127.0.0.1:{server.port}"
    with server:
        channel = grpc.insecure_channel(server.address)
        check = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
        assert check.status == health_pb2.HealthCheckResponse.SERVING
        channel.close()
        assert server.wait(timeout=0) is False
    assert server.wait(timeout=5) is True
    server.stop()  # idempotent


def test_duplicate_registration_is_refused(handlers: Handlers) -> None:
    with pytest.raises(ValueError, match="registered twice"):
        build_server([handlers.registration(), handlers.registration()], start=False)


def test_from_servicer_and_generic_registrations(grpc_server_factory: Any) -> None:
    def add(servicer: Any, server: grpc.Server) -> None:
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("alvin.test.v1.Upper", servicer),)
        )

    handlers = {
        "Up": grpc.unary_unary_rpc_method_handler(
            lambda request, _: wrappers_pb2.StringValue(value=request.value.upper()),
            wrappers_pb2.StringValue.FromString,
            wrappers_pb2.StringValue.SerializeToString,
        )
    }
    registration = ServiceRegistration.from_servicer(add, handlers, "alvin.test.v1.Upper")
    server, channel = grpc_server_factory([registration])
    assert server.services == ("alvin.test.v1.Upper",)
    up = channel.unary_unary(
        "/alvin.test.v1.Upper/Up",
        request_serializer=wrappers_pb2.StringValue.SerializeToString,
        response_deserializer=wrappers_pb2.StringValue.FromString,
    )
    assert up(wrappers_pb2.StringValue(value="abc"), timeout=5).value == "ABC"
    with pytest.raises(TypeError, match="service_name"):
        ServiceRegistration.from_generic_handler(object())  # type: ignore[arg-type]


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRPC_PORT", "6000")
    monkeypatch.setenv("GRPC_ALLOWED_PEERS", "gateway, worker ,")
    monkeypatch.setenv("GRPC_SERVICE_TOKEN", "t0k")
    settings = ServerSettings()
    assert settings.grpc_port == 6000
    assert settings.grpc_allowed_peers == ("gateway", "worker")
    assert settings.grpc_service_token is not None
    assert settings.grpc_service_token.get_secret_value() == "t0k"
    assert "t0k" not in repr(settings)

    class UserServiceSettings(ServerSettings):
        model_config = SettingsConfigDict(env_prefix="USER_SERVICE_")

    monkeypatch.setenv("USER_SERVICE_GRPC_PORT", "7000")
    assert UserServiceSettings().grpc_port == 7000


def test_settings_validation(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="go together"):
        ServerSettings(grpc_tls_cert_file=tmp_path / "cert.pem")
    with pytest.raises(ValidationError, match="mTLS"):
        ServerSettings(grpc_tls_client_ca_file=tmp_path / "ca.pem")
    with pytest.raises(ValidationError):
        ServerSettings(grpc_port=70000)
    assert ServerSettings(grpc_host="::1", grpc_port=1).bind_address == "[::1]:1"


def _reader(stream: Any, seen: list[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            seen.append(line.rstrip("\n"))
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _expect(lines: queue.Queue[str], prefix: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no line starting with {prefix!r} within {timeout}s")


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_graceful_shutdown_on_sigterm() -> None:
    # The drain delay is the window in which health says NOT_SERVING while calls are still
    # accepted: wide enough for a loaded CI machine to poll in it.
    grace, drain, slow = 8.0, 3.0, 2.0
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "GRPC_GRACE_PERIOD_S": str(grace),
        "GRPC_DRAIN_DELAY_S": str(drain),
    }
    process = subprocess.Popen(
        [sys.executable, str(HERE / "_graceful_server.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    output: list[str] = []
    try:
        lines = _reader(process.stdout, output)
        port = int(_expect(lines, "PORT ", timeout=30).split()[1])
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        health = health_pb2_grpc.HealthStub(channel)
        slow_call = channel.unary_unary(
            f"/{SERVICE_NAME}/Slow",
            request_serializer=wrappers_pb2.DoubleValue.SerializeToString,
            response_deserializer=lambda data: data,
        )
        in_flight = slow_call.future(wrappers_pb2.DoubleValue(value=slow), timeout=30)
        _expect(lines, "SLOW-STARTED", timeout=10)

        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()

        def not_serving() -> bool:
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
            except grpc.RpcError:
                return False
            return reply.status == health_pb2.HealthCheckResponse.NOT_SERVING

        assert wait_until(not_serving, timeout=drain * 0.9), "health did not go NOT_SERVING"
        assert time.monotonic() - signalled < 2.0  # promptly (a generous bound, not a perf test)
        for name in (SERVICE_NAME,):
            reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=1)
            assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING

        assert in_flight.result(timeout=30) == b""  # the in-flight call completed OK
        assert in_flight.code() == grpc.StatusCode.OK
        returncode = process.wait(timeout=grace + drain + 5)
        assert returncode == 0, output
        assert time.monotonic() - signalled < grace, output
        channel.close()
        assert any("grpc.server.shutdown" in line for line in output), output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
