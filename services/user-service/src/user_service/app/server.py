"""The gRPC server process: the UserService, health (with a database check), reflection."""

from __future__ import annotations

from sqlalchemy import text

from alvin_grpc.health import HealthChecks
from alvin_grpc.server import GrpcServer, ServiceRegistration, build_server, serve_forever
from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as pb_grpc
from alvin_python_lib.db import Database
from alvin_python_lib.process import freeze_startup_objects
from user_service.api.grpc.user_servicer import UserServicer
from user_service.app.bootstrap import Container
from user_service.service.deps import Deps

SERVICE = pb.DESCRIPTOR.services_by_name["UserService"]


def registration(deps: Deps) -> ServiceRegistration:
    """The UserService on these objects, ready for ``build_server``."""
    return ServiceRegistration.from_servicer(
        pb_grpc.add_UserServiceServicer_to_server, UserServicer(deps), SERVICE
    )


def _answers(database: Database) -> bool:
    with database.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return True


def create_server(container: Container, *, start: bool = True) -> GrpcServer:
    """The configured server (health goes NOT_SERVING while the database does not answer)."""
    settings, database = container.settings, container.deps.database
    checks = HealthChecks(interval=settings.health_check_interval_s, timeout=2.0)
    checks.add("database", lambda: _answers(database))
    return build_server(
        [registration(container.deps)],
        settings,
        database=database,
        health_checks=checks,
        start=start,
    )


def serve(container: Container) -> None:
    """Run until SIGTERM/SIGINT; exits 0 after a graceful shutdown."""
    server = create_server(container, start=False)
    freeze_startup_objects()
    raise SystemExit(serve_forever(server))
