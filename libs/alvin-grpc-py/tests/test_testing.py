"""The pytest plugin is registered and import-light; assertion helpers."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import grpc
import pytest
from google.protobuf import wrappers_pb2


def test_plugin_is_registered_through_the_entry_point(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("alvin_grpc")


def test_plugin_import_does_not_import_grpc() -> None:
    code = (
        "import sys, alvin_grpc.testing.plugin, alvin_grpc.testing; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'grpc', 'google', 'prometheus_client', 'alvin_python_lib'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_assert_rpc_error_forms(serve: Any) -> None:
    from alvin_grpc.testing import assert_rpc_error

    _, _, stub = serve()
    request = wrappers_pb2.StringValue(value="invalid_argument")
    error = assert_rpc_error(
        lambda: stub.Raise(request),
        grpc.StatusCode.INVALID_ARGUMENT,
        field_violations=["profile.name", "email"],
    )
    assert isinstance(error, grpc.RpcError)
    with pytest.raises(grpc.RpcError) as raised:
        stub.Raise(request)
    assert_rpc_error(raised, grpc.StatusCode.INVALID_ARGUMENT, details="email: not an email")
    assert_rpc_error(raised.value, grpc.StatusCode.INVALID_ARGUMENT)

    with pytest.raises(AssertionError, match="expected NOT_FOUND, got INVALID_ARGUMENT"):
        assert_rpc_error(raised, grpc.StatusCode.NOT_FOUND)
    with pytest.raises(AssertionError, match="field violations"):
        assert_rpc_error(raised, grpc.StatusCode.INVALID_ARGUMENT, field_violations=["email"])
    with pytest.raises(AssertionError, match="it succeeded"):
        assert_rpc_error(lambda: stub.Echo(wrappers_pb2.StringValue()), grpc.StatusCode.OK)


def test_factory_settings_keep_everything_but_the_address(grpc_server_factory: Any) -> None:
    from alvin_grpc.server import ServerSettings

    settings = ServerSettings(grpc_port=50051, grpc_max_workers=3, grpc_error_domain="x")
    server, _ = grpc_server_factory([], settings)
    assert server.settings.grpc_port == 0
    assert server.settings.grpc_host == "127.0.0.1"
    assert (server.settings.grpc_max_workers, server.settings.grpc_error_domain) == (3, "x")
