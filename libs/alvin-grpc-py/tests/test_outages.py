"""Dependencies that cannot serve now: UNAVAILABLE, not INTERNAL; and client-side health."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import wrappers_pb2
from grpc_test_service import SERVICE_NAME, Handlers, Stub, wait_until
from sqlalchemy.exc import OperationalError

from alvin_grpc.client import create_channel
from alvin_python_lib.db.errors import DATABASE_UNAVAILABLE_MESSAGE


@pytest.mark.timeout(30)
def test_a_database_outage_is_unavailable(grpc_server_factory: Any) -> None:
    def fail(request: bytes, context: grpc.ServicerContext) -> bytes:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    handler = grpc.method_handlers_generic_handler(
        "test.Db", {"Fail": grpc.unary_unary_rpc_method_handler(fail)}
    )
    _, channel = grpc_server_factory([handler])
    with pytest.raises(grpc.RpcError) as raised:
        channel.unary_unary("/test.Db/Fail")(b"", timeout=5)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert raised.value.details() == DATABASE_UNAVAILABLE_MESSAGE


@pytest.mark.timeout(30)
def test_round_robin_skips_a_server_that_reports_not_serving(grpc_server_factory: Any) -> None:
    first, second = Handlers(), Handlers()
    server_a, _ = grpc_server_factory([first.registration()])
    server_b, _ = grpc_server_factory([second.registration()])
    target = f"ipv4:127.0.0.1:{server_a.port},127.0.0.1:{server_b.port}"
    channel = create_channel(
        target, load_balancing_policy="round_robin", health_check_service=SERVICE_NAME
    )
    stub = Stub(channel)
    try:
        for n in range(10):
            stub.Echo(wrappers_pb2.StringValue(value=f"a{n}"))
        assert sum(first.calls.values()) > 0
        assert sum(second.calls.values()) > 0

        server_a.enter_graceful_shutdown()  # draining: NOT_SERVING, still accepting calls

        def only_b() -> bool:
            before = sum(first.calls.values())
            for n in range(10):
                stub.Echo(wrappers_pb2.StringValue(value=f"b{n}"))
            return sum(first.calls.values()) == before

        assert wait_until(only_b, timeout=10)
    finally:
        channel.close()


def test_max_reconnect_backoff_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_reconnect_backoff_s"):
        create_channel("127.0.0.1:1", max_reconnect_backoff_s=0)
    create_channel("127.0.0.1:1", max_reconnect_backoff_s=0.5).close()
