"""The real processes: `user-service db upgrade` then `user-service grpcserver`, as in production."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from alvin_grpc.client import create_channel
from alvin_grpc.testing import assert_rpc_error
from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as pb_grpc

TOKEN = "process-test-token"


def _tool(name: str) -> str:
    return shutil.which(name) or str(Path(sys.executable).parent / name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_grpcserver_process_serves_and_stops_gracefully(
    empty_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "APP_ENV": "test",
        "USER_SERVICE_DATABASE_URL": empty_database_url,
        "USER_SERVICE_REDIS_URL": redis_url,
        "USER_SERVICE_GRPC_HOST": "127.0.0.1",
        "USER_SERVICE_GRPC_PORT": str(port),
        "USER_SERVICE_GRPC_SERVICE_TOKEN": TOKEN,
        "USER_SERVICE_GRPC_GRACE_PERIOD_S": "5",
        "USER_SERVICE_ARGON2_MEMORY_COST_KIB": "8",
        "USER_SERVICE_ARGON2_TIME_COST": "1",
        "USER_SERVICE_ARGON2_PARALLELISM": "1",
        "USER_SERVICE_LOG_FORMAT": "json",
    }
    upgrade = subprocess.run(
        [_tool("user-service"), "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert upgrade.returncode == 0, upgrade.stderr

    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [_tool("user-service"), "grpcserver"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            health = subprocess.run(
                [
                    _tool("alvin-grpc-health"),
                    f"127.0.0.1:{port}",
                    "alvin.user.v1.UserService",
                    "--timeout",
                    "1",
                ],
                capture_output=True,
                timeout=10,
                check=False,
            )
            if health.returncode == 0:
                break
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the server never reported SERVING"
            time.sleep(0.1)  # polling interval

        channel = create_channel(f"127.0.0.1:{port}", token=TOKEN)
        stub = pb_grpc.UserServiceStub(channel)
        created = stub.CreateUser(
            pb.CreateUserRequest(
                email="proc@example.com", password="process password", display_name="P"
            )
        ).user
        assert stub.GetUser(pb.GetUserRequest(id=created.id)).user.email == "proc@example.com"
        channel.close()
        anonymous = create_channel(f"127.0.0.1:{port}")
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.UserServiceStub(anonymous).GetUser(pb.GetUserRequest(id=created.id))
        assert_rpc_error(info, grpc.StatusCode.UNAUTHENTICATED)
        anonymous.close()

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
    lines = (tmp_path / "server.log").read_text()
    assert '"method": "/alvin.user.v1.UserService/CreateUser"' in lines or "CreateUser" in lines
