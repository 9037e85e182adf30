"""Database round trips per read RPC: the user-service's own server (its composition root,
interceptors and servicer, in this process) on the stack's database, called over gRPC with a
deadline, counted on the wire with ``alvin_python_lib.testing.round_trips``.

Run with the stack's environment (``USER_SERVICE_*``); prints one JSON object: method -> round
trips per call after a warm-up (mean and most), and the first call's round trips.
"""

from __future__ import annotations

import json
import sys

from alvin_grpc.client import create_channel
from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as pb_grpc
from alvin_python_lib.ids import SnowflakeGenerator
from alvin_python_lib.testing import round_trips
from user_service.app.bootstrap import bootstrap
from user_service.app.server import create_server
from user_service.app.settings import get_settings

CALLS = 20


def main() -> None:
    user_id = int(sys.argv[1])
    settings = get_settings()
    # Reads need no ids: a fixed worker id instead of a lease on the stack's database.
    container = bootstrap(settings, process="bench", id_generator=SnowflakeGenerator(1))
    server = create_server(container)
    token = settings.grpc_service_token.get_secret_value() if settings.grpc_service_token else ""
    channel = create_channel(server.address, token=token, default_timeout=5)
    stub = pb_grpc.UserServiceStub(channel)
    calls = {
        "GetUser": lambda: stub.GetUser(pb.GetUserRequest(id=user_id)),
        "BatchGetUsers": lambda: stub.BatchGetUsers(pb.BatchGetUsersRequest(ids=[user_id, 1])),
        "ListUsers": lambda: stub.ListUsers(pb.ListUsersRequest(page_size=10)),
    }
    found: dict[str, object] = {}
    try:
        for name, call in calls.items():
            call()  # warm up: the pool's connection exists
            counts = []
            seen: list[str] = []
            for _ in range(CALLS):
                with round_trips(container.deps.database.engine) as trips:
                    call()
                counts.append(len(trips))
                seen = seen or trips.trips
            found[name] = {"per_call": sum(counts) / CALLS, "max": max(counts), "first": seen}
    finally:
        channel.close()
        server.stop(0)
        container.close()
    print(json.dumps(found))


if __name__ == "__main__":
    main()
