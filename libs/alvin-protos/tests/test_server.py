"""A real server on a loopback port, called by clients that know nothing of this package.

The reflection clients use a fresh descriptor pool filled only through server reflection, so the
descriptors, message classes and idempotency options they see came over the wire.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from conftest import RunningServer
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor_pb2 import MethodOptions
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_requests import ReflectionClient
from support import MAX_UINT64

from alvin_protos.alvin.user.v1 import user_service_pb2 as user_pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as user_grpc

USER_SERVICE = "alvin.user.v1.UserService"
HEALTH_SERVICE = "grpc.health.v1.Health"
RPCS = [method.name for method in user_pb.DESCRIPTOR.services_by_name["UserService"].methods]


@pytest.fixture
def channel(grpc_server: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(grpc_server.address) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield channel


# --- grpc-requests: a generic reflection-based client -------------------------------------------


@pytest.fixture
def requests_client(grpc_server: RunningServer) -> Iterator[ReflectionClient]:
    pool = descriptor_pool.DescriptorPool()  # not the default pool our generated modules fill
    client = ReflectionClient(grpc_server.address, descriptor_pool=pool)
    yield client
    client.channel.close()


def test_reflection_lists_the_services(requests_client: ReflectionClient) -> None:
    assert {USER_SERVICE, HEALTH_SERVICE} <= set(requests_client.service_names)
    assert sorted(requests_client.service(USER_SERVICE).method_names) == sorted(RPCS)


def test_health_check_through_reflection(requests_client: ReflectionClient) -> None:
    overall = requests_client.request(HEALTH_SERVICE, "Check", {})
    user_service = requests_client.request(HEALTH_SERVICE, "Check", {"service": USER_SERVICE})

    assert overall == {"status": "SERVING"}
    assert user_service == {"status": "SERVING"}


def test_get_user_through_reflection(requests_client: ReflectionClient) -> None:
    reply = requests_client.request(USER_SERVICE, "GetUser", {"id": str(MAX_UINT64)})

    user = reply["user"]
    assert user["id"] == "18446744073709551615"  # 64-bit IDs are strings in JSON
    assert user["invited_by_id"] == "18446744073709551614"
    assert user["email"] == "ada@example.com"
    assert user["created_at"] == "2026-11-28T12:34:56.789012Z"
    assert "last_login_at" not in user


def test_reflected_descriptors_carry_the_idempotency_options(
    requests_client: ReflectionClient,
) -> None:
    requests_client.register_service(USER_SERVICE)
    pool = requests_client._desc_pool
    get_user = pool.FindMethodByName(f"{USER_SERVICE}.GetUser")
    revoke = pool.FindMethodByName(f"{USER_SERVICE}.RevokeSession")

    assert pool is not descriptor_pool.Default()
    assert get_user.GetOptions().idempotency_level == MethodOptions.NO_SIDE_EFFECTS
    assert revoke.GetOptions().idempotency_level == MethodOptions.IDEMPOTENT


def test_errors_through_reflection(requests_client: ReflectionClient) -> None:
    with pytest.raises(grpc.RpcError) as missing:
        requests_client.request(USER_SERVICE, "GetUser", {"id": "42"})
    with pytest.raises(grpc.RpcError) as unimplemented:
        requests_client.request(USER_SERVICE, "DeleteUser", {"id": "42"})

    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "42" in str(missing.value.details())
    assert unimplemented.value.code() == grpc.StatusCode.UNIMPLEMENTED


# --- grpcio-reflection's descriptor database, by hand ------------------------------------------


def test_descriptor_database_client(channel: grpc.Channel) -> None:
    database = ProtoReflectionDescriptorDatabase(channel)
    pool = descriptor_pool.DescriptorPool(database)

    assert USER_SERVICE in database.get_services()
    method = pool.FindServiceByName(USER_SERVICE).methods_by_name["GetUser"]
    assert method.GetOptions().idempotency_level == MethodOptions.NO_SIDE_EFFECTS
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    assert request_class is not user_pb.GetUserRequest

    get_user = channel.unary_unary(
        f"/{USER_SERVICE}/GetUser",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    reply: Any = get_user(request_class(id=MAX_UINT64), timeout=10)

    assert reply.user.id == MAX_UINT64
    assert reply.user.display_name == "Ada"
    assert reply.user.created_at.seconds == 1_795_869_296


def test_generated_stub_against_the_same_server(
    grpc_server: RunningServer, channel: grpc.Channel
) -> None:
    stub = user_grpc.UserServiceStub(channel)

    reply = stub.GetUser(user_pb.GetUserRequest(id=MAX_UINT64), timeout=10)

    assert reply.user == grpc_server.users[MAX_UINT64]
    with pytest.raises(grpc.RpcError) as unimplemented:
        stub.ListUsers(user_pb.ListUsersRequest(page_size=10), timeout=10)
    assert unimplemented.value.code() == grpc.StatusCode.UNIMPLEMENTED
