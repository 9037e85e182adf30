"""A real gRPC server for the tests: a partial UserService, health checking and server reflection."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from support import MAX_UINT64, USER_SERVICE, GetUserOnlyServicer, sample_user

from alvin_protos.alvin.user.v1 import user_service_pb2 as user_pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as user_grpc


@dataclass
class RunningServer:
    address: str
    users: dict[int, user_pb.User]
    health: health.HealthServicer


@pytest.fixture(scope="module")
def grpc_server() -> Iterator[RunningServer]:
    users = {MAX_UINT64: sample_user()}
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    user_grpc.add_UserServiceServicer_to_server(
        GetUserOnlyServicer(users),  # type: ignore[abstract]
        server,
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", USER_SERVICE):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (USER_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    assert port > 0
    server.start()
    try:
        yield RunningServer(f"127.0.0.1:{port}", users, health_servicer)
    finally:
        server.stop(grace=None).wait()
