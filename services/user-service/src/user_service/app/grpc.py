"""The gRPC server process: the UserService, health (with a database check), reflection."""

from __future__ import annotations

from sqlalchemy import text

from alvin_grpc.health import HealthChecks
from alvin_grpc.server import GrpcServer, ServiceRegistration, build_server, serve_forever
from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as pb_grpc
from user_service.api.grpc.user_servicer import UserServicer
from user_service.app.settings import Settings
from user_service.db import database

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["UserService"].full_name


def _database_answers() -> bool:
    with database.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return True


def create_server(settings: Settings, *, start: bool = True) -> GrpcServer:
    """The configured server (health goes NOT_SERVING while the database does not answer)."""
    checks = HealthChecks(interval=settings.health_check_interval_s, timeout=2.0)
    checks.add("database", _database_answers)
    registration = ServiceRegistration.from_servicer(
        pb_grpc.add_UserServiceServicer_to_server,
        UserServicer(),
        pb.DESCRIPTOR.services_by_name["UserService"],
    )
    return build_server(
        [registration], settings, database=database, health_checks=checks, start=start
    )


def serve(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT; exits 0 after a graceful shutdown."""
    raise SystemExit(serve_forever(create_server(settings, start=False)))
