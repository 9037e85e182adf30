"""Read-only RPCs reach PostgreSQL in at most two round trips (counted on the wire, through the
real gRPC server and its interceptors, the client's deadline bounding the statements)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import delete

from alvin_grpc.client import create_channel
from alvin_grpc.server import ServerSettings
from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as pb_grpc
from alvin_python_lib import ids
from alvin_python_lib.db import transaction
from alvin_python_lib.testing import real_databases, round_trips
from user_service.app.server import registration
from user_service.db.models import User
from user_service.service.deps import Deps

TOKEN = "test-service-token-for-round-trips"  # pragma: allowlist secret


@pytest.fixture
def committed_user(deps: Deps, id_generator: ids.SnowflakeGenerator) -> Iterator[int]:
    """A user committed for real (the reads run on the service's own connections), then removed."""
    with real_databases():
        user_id = id_generator.next_id()
        with transaction(deps.database.session) as session:
            session.add(
                User(
                    id=user_id,
                    email=f"round-trips-{user_id}@example.com",
                    display_name="Round Trips",
                    password_hash="not-a-hash",  # pragma: allowlist secret
                )
            )
        deps.database.remove()
        try:
            yield user_id
        finally:
            with transaction(deps.database.session) as session:
                session.execute(delete(User).where(User.id == user_id))
            deps.database.remove()


@pytest.fixture
def stub(
    committed_user: int, grpc_server_factory: Callable[..., Any], deps: Deps
) -> Iterator[pb_grpc.UserServiceStub]:
    settings = ServerSettings(grpc_service_token=SecretStr(TOKEN), grpc_grace_period_s=0)
    server, _ = grpc_server_factory([registration(deps)], settings, database=deps.database)
    channel = create_channel(str(server.address), token=TOKEN, default_timeout=10)
    yield pb_grpc.UserServiceStub(channel)
    channel.close()


def test_read_rpcs_take_at_most_two_round_trips(
    stub: pb_grpc.UserServiceStub, committed_user: int, deps: Deps
) -> None:
    calls: dict[str, Callable[[], object]] = {
        "GetUser": lambda: stub.GetUser(pb.GetUserRequest(id=committed_user)),
        "BatchGetUsers": lambda: stub.BatchGetUsers(
            pb.BatchGetUsersRequest(ids=[committed_user, 1])
        ),
        "ListUsers": lambda: stub.ListUsers(pb.ListUsersRequest(page_size=5)),
    }
    assert stub.GetUser(pb.GetUserRequest(id=committed_user)).user.id == committed_user
    for name, call in calls.items():
        with round_trips(deps.database.engine) as trips:
            call()
        # the statement, and the deadline's SET when the connection's limit has to move
        assert 1 <= len(trips) <= 2, (name, trips.trips)
    # back to back with the same deadline: the statement alone, after one SET per connection
    with round_trips(deps.database.engine) as trips:
        for _ in range(10):
            calls["GetUser"]()
    pool_size = deps.database.engine.pool.size()  # type: ignore[attr-defined]
    assert 10 <= len(trips) <= 10 + pool_size, trips.trips
    assert not any("BEGIN" in trip or "ROLLBACK" in trip for trip in trips.trips), trips.trips
