"""Database round trips per read RPC: the user-service's own server (its composition root,
interceptors and servicer, in this process) on the stack's database, called over gRPC with a
deadline, counted on the wire with ``alvin_python_lib.testing.round_trips``.

Also the CPU per read of the two read paths side by side (:func:`read_path_ab`). Run with the
stack's environment (``USER_SERVICE_*``); prints one JSON object: ``round_trips`` (method ->
round trips per call after a warm-up, mean and most, and the first call's round trips) and
``read_path``.
"""

from __future__ import annotations

import json
import sys
import time

import psutil
from sqlalchemy import text

from alvin_grpc.client import create_channel
from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as pb_grpc
from alvin_python_lib.db import Database, statement_deadline
from alvin_python_lib.ids import SnowflakeGenerator
from alvin_python_lib.testing import round_trips
from user_service.app.bootstrap import bootstrap
from user_service.app.server import create_server
from user_service.app.settings import get_settings
from user_service.db.repository import user as user_repo

CALLS = 20
AB_CALLS = 300  # per block; blocks alternate so that both paths see the same machine


def _backend_cpu_s(database: Database) -> float:
    """CPU seconds so far of the PostgreSQL backends serving this process's connections."""

    with database.engine.connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = current_setting("
                 "'application_name')")
        ).scalars().all()  # fmt: skip
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def read_path_ab(database: Database, user_id: int) -> dict[str, dict[str, float]]:
    """CPU microseconds per read of one user, under a 5 s deadline, in this process and in
    PostgreSQL: the ORM's user_repo.get_user in the scoped session's transaction (BEGIN,
    SET LOCAL, SELECT, ROLLBACK) and in Database.reading() (the SELECT alone), the same Core
    statement on Database.read_connection() (no session), against the read RPCs' path,
    user_repo.read_user on Database.read_rows() (the statement on the driver's cursor)."""

    def in_transaction() -> None:
        with statement_deadline(5):
            try:
                user_repo.get_user(database.session(), user_id)
            finally:
                database.remove()

    def reading() -> None:
        with statement_deadline(5), database.reading() as session:
            user_repo.get_user(session, user_id)

    def read_connection() -> None:
        with statement_deadline(5), database.read_connection() as connection:
            connection.execute(user_repo._RECORD_BY_ID, {"user_id": user_id}).first()

    def read_rows() -> None:
        with statement_deadline(5):
            user_repo.read_user(database, user_id)

    paths = {
        "transaction": in_transaction,
        "reading": reading,
        "read_connection": read_connection,
        "read_rows": read_rows,
    }
    spent = {name: [0.0, 0.0] for name in paths}
    for _ in range(3):
        for name, read in paths.items():
            read()
            own, pg = time.process_time(), _backend_cpu_s(database)
            for _ in range(AB_CALLS):
                read()
            spent[name][0] += time.process_time() - own
            spent[name][1] += _backend_cpu_s(database) - pg
    calls = 3 * AB_CALLS
    return {
        name: {"service_us": own / calls * 1e6, "postgres_us": pg / calls * 1e6}
        for name, (own, pg) in spent.items()
    }


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
        ab = read_path_ab(container.deps.database, user_id)
    finally:
        channel.close()
        server.stop(0)
        container.close()
    print(json.dumps({"round_trips": found, "read_path": ab}))


if __name__ == "__main__":
    main()
