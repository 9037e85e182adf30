"""Bare gRPC baselines: a grpcio server with the standard health service and
``UserService.GetUser``, nothing else (no interceptors, no SQLAlchemy, no logging per call).

- ``--echo``: answers a fixed user (the bare gateway's backend: what a gRPC hop costs);
- ``--database-url URL``: runs the user-service's read SELECT (compiled once from its model and
  ``UserRecord``, so the same columns and the same WHERE) through psycopg in autocommit, one connection
  per handler thread, and builds the same message (what the user-service's work costs).

    python bare_grpc.py --port 50100 --workers 10 --echo
"""

from __future__ import annotations

import argparse
import signal
import threading
from concurrent import futures
from datetime import datetime, timezone
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as pb_grpc


def _stamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _the_repository_select() -> str:
    """The read RPCs' statement for one user (user_repo.read_user: the columns of UserRecord),
    as the user-service sends it (psycopg's %(name)s style)."""
    from dataclasses import fields

    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql

    from user_service.db.models import User
    from user_service.db.repository.user import UserRecord

    columns = [User.__table__.c[f.name] for f in fields(UserRecord)]
    stmt = select(*columns).where(User.id == 0, User.deleted_at.is_(None))
    compiled = stmt.compile(dialect=postgresql.psycopg.dialect())  # type: ignore[attr-defined]
    return str(compiled).replace("%(id_1)s", "%(id)s")


class EchoServicer(pb_grpc.UserServiceServicer):
    def __init__(self) -> None:
        now = datetime.now(timezone.utc)
        self.user = pb.User(
            id=1, email="bare@example.com", display_name="x", is_active=True,
            created_at=_stamp(now), updated_at=_stamp(now),
        )  # fmt: skip

    def GetUser(self, request: pb.GetUserRequest, context: Any) -> pb.GetUserResponse:
        user = pb.User()
        user.CopyFrom(self.user)  # the same fields as a real user: the gateway parses them all
        user.id = request.id
        return pb.GetUserResponse(user=user)


class DatabaseServicer(pb_grpc.UserServiceServicer):
    def __init__(self, url: str) -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://")
        self.sql = _the_repository_select()
        self.local = threading.local()

    def _connection(self) -> Any:
        import psycopg

        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = psycopg.connect(self.url, autocommit=True)
        return conn

    def GetUser(self, request: pb.GetUserRequest, context: Any) -> pb.GetUserResponse:
        with self._connection().cursor() as cursor:
            row = cursor.execute(self.sql, {"id": request.id}).fetchone()
            if row is None:
                context.abort(grpc.StatusCode.NOT_FOUND, "no such user")
            names = [d.name for d in cursor.description]
        user = dict(zip(names, row, strict=True))
        message = pb.User(
            id=user["id"], email=user["email"], display_name=user["display_name"],
            is_active=user["is_active"], admin=user["admin"],
            email_verified=user["email_verified"], created_at=_stamp(user["created_at"]),
            updated_at=_stamp(user["updated_at"]),
        )  # fmt: skip
        if user.get("invited_by_id") is not None:
            message.invited_by_id = user["invited_by_id"]
        if user.get("last_login_at") is not None:
            message.last_login_at.CopyFrom(_stamp(user["last_login_at"]))
        return pb.GetUserResponse(user=message)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=10)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--echo", action="store_true")
    what.add_argument("--database-url")
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    servicer = EchoServicer() if args.echo else DatabaseServicer(args.database_url)
    pb_grpc.add_UserServiceServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    server.stop(grace=1).wait()


if __name__ == "__main__":
    main()
