"""Channel factory: retries, deadlines, metadata; idempotent method discovery."""

from __future__ import annotations

import json
import time
from typing import Any

import grpc
import pytest
from google.protobuf import wrappers_pb2
from grpc_test_service import SERVICE_DESCRIPTOR, Handlers, Stub, method

from alvin_grpc.client import BaseClient, create_channel, idempotent_methods, retry_service_config
from alvin_python_lib.errors import Unavailable
from alvin_python_lib.logging import bind_request_id


def test_idempotent_methods_reads_the_proto_options() -> None:
    assert idempotent_methods(SERVICE_DESCRIPTOR) == [
        method("Echo"),
        method("FlakyIdempotent"),
        method("Count"),
    ]


def test_retry_service_config_shape() -> None:
    config = retry_service_config(
        ["/a.B/C", "a.B/D"], max_attempts=4, initial_backoff_s=0.05, max_backoff_s=1
    )
    policy = config["methodConfig"][0]
    assert policy["name"] == [{"service": "a.B", "method": "C"}, {"service": "a.B", "method": "D"}]
    assert policy["retryPolicy"] == {
        "maxAttempts": 4,
        "initialBackoff": "0.05s",
        "maxBackoff": "1s",
        "backoffMultiplier": 2.0,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    json.dumps(config)
    assert retry_service_config([]) == {"methodConfig": []}
    with pytest.raises(ValueError, match="full method name"):
        retry_service_config(["a.B"])
    with pytest.raises(ValueError, match="between 2 and 5"):
        retry_service_config(["/a.B/C"], max_attempts=6)


@pytest.mark.timeout(30)
def test_unavailable_is_retried_for_idempotent_methods_only(serve: Any, handlers: Handlers) -> None:
    server, _, _ = serve()
    channel = create_channel(
        server.address,
        retry_methods=idempotent_methods(SERVICE_DESCRIPTOR),
        max_attempts=3,
        initial_backoff_s=0.01,
        max_backoff_s=0.05,
    )
    stub = Stub(channel)
    try:
        reply = stub.FlakyIdempotent(wrappers_pb2.StringValue(value="a"))
        assert reply.value == "ok after 3"
        assert handlers.calls["FlakyIdempotent:a"] == 3

        with pytest.raises(grpc.RpcError) as raised:
            stub.FlakyUnsafe(wrappers_pb2.StringValue(value="b"))
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert handlers.calls["FlakyUnsafe:b"] == 1
    finally:
        channel.close()


@pytest.mark.timeout(30)
def test_retries_give_up_after_max_attempts(serve: Any, handlers: Handlers) -> None:
    server, _, _ = serve()
    channel = create_channel(
        server.address,
        retry_methods=[method("FlakyIdempotent")],
        max_attempts=2,
        initial_backoff_s=0.01,
    )
    try:
        with pytest.raises(grpc.RpcError) as raised:
            Stub(channel).FlakyIdempotent(wrappers_pb2.StringValue(value="c"))
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert handlers.calls["FlakyIdempotent:c"] == 2
    finally:
        channel.close()


@pytest.mark.timeout(30)
def test_deadline_exceeded_arrives_in_time(serve: Any) -> None:
    server, _, stub = serve()
    deadline = 0.3

    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as raised:
        stub.Slow(wrappers_pb2.DoubleValue(value=10), timeout=deadline)
    elapsed = time.monotonic() - started
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert elapsed < deadline + 0.1, elapsed

    # The factory's default deadline applies when the caller gives none ...
    channel = create_channel(server.address, default_timeout=deadline)
    try:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as raised:
            Stub(channel).Slow(wrappers_pb2.DoubleValue(value=10))
        elapsed = time.monotonic() - started
        assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert elapsed < deadline + 0.1, elapsed

        # ... an explicit timeout wins over it ...
        assert Stub(channel).Slow(wrappers_pb2.DoubleValue(value=0.5), timeout=5) is not None

        # ... and a typed client raises Unavailable.
        client = BaseClient(channel, Stub)
        with pytest.raises(Unavailable) as mapped:
            client.call(client.stub.Slow, wrappers_pb2.DoubleValue(value=10))
        assert mapped.value.message == "The remote service did not answer in time."
    finally:
        channel.close()


def test_request_id_and_token_metadata(serve: Any, handlers: Handlers) -> None:
    from alvin_grpc.server import ServerSettings

    server, _, _ = serve(ServerSettings(grpc_service_token="tok-123"))
    channel = create_channel(server.address, token="tok-123")
    try:
        stub = Stub(channel)
        bind_request_id("req-from-gateway")
        _, call = stub.Echo.with_call(wrappers_pb2.StringValue(value="bound"))
        assert handlers.request_ids["bound"] == "req-from-gateway"
        assert ("x-request-id", "req-from-gateway") in tuple(call.trailing_metadata())

        # The caller's own metadata wins.
        stub.Echo(wrappers_pb2.StringValue(value="explicit"), metadata=(("x-request-id", "mine"),))
        assert handlers.request_ids["explicit"] == "mine"
    finally:
        channel.close()


def test_a_new_request_id_per_call_when_none_is_bound(serve: Any, handlers: Handlers) -> None:
    server, _, _ = serve()
    channel = create_channel(server.address)
    try:
        stub = Stub(channel)
        stub.Echo(wrappers_pb2.StringValue(value="one"))
        stub.Echo(wrappers_pb2.StringValue(value="two"))
        one, two = handlers.request_ids["one"], handlers.request_ids["two"]
        assert one
        assert two
        assert one != two
    finally:
        channel.close()


def test_create_channel_validates_arguments() -> None:
    with pytest.raises(ValueError, match="go together"):
        create_channel("127.0.0.1:1", client_certificate_chain=b"x")


@pytest.mark.timeout(30)
def test_round_robin_spreads_calls_over_every_address(grpc_server_factory: Any) -> None:
    first, second = Handlers(), Handlers()
    server_a, _ = grpc_server_factory([first.registration()])
    server_b, _ = grpc_server_factory([second.registration()])
    target = f"ipv4:127.0.0.1:{server_a.port},127.0.0.1:{server_b.port}"

    pick_first = create_channel(target)
    round_robin = create_channel(target, load_balancing_policy="round_robin")
    try:
        for n in range(10):
            Stub(pick_first).Echo(wrappers_pb2.StringValue(value=f"p{n}"))
        # pick_first: every call on one address
        assert sorted([sum(first.calls.values()), sum(second.calls.values())]) == [0, 10]

        before = sum(first.calls.values()), sum(second.calls.values())
        for n in range(20):
            Stub(round_robin).Echo(wrappers_pb2.StringValue(value=f"r{n}"))
        # round_robin: both addresses get calls (the first ones may go to whichever connected first)
        to_first = sum(first.calls.values()) - before[0]
        to_second = sum(second.calls.values()) - before[1]
        assert to_first + to_second == 20
        assert min(to_first, to_second) >= 5, (to_first, to_second)
    finally:
        pick_first.close()
        round_robin.close()
