"""The composition root of the one-process deployment: both services' roots, one channel.

:func:`build` takes each service's own settings (``USER_SERVICE_*`` and ``GATEWAY_*``, as in the
split deployment) and builds:

1. the user-service's objects with its own root (:func:`user_service.app.bootstrap.bootstrap`,
   process ``grpc``: the same database pool, mailer and id generator as its gRPC server);
2. an :class:`~alvin_grpc.inprocess.InProcessServer` with the user-service's registration
   (:func:`user_service.app.server.registration`) and the default interceptor chain from the
   user-service's settings: service token, request id, access log, metrics, error mapping,
   database session cleanup;
3. the gateway with its own root (:func:`gateway_graphql.app.factory.create_app`), its
   user-service client built from its settings with the target ``inprocess:user-service``: the
   client's deadline, token, request id and error mapping apply unchanged.

The rest of the user-service (Celery worker, scheduler, migrations) runs as in the split
deployment: ``user-service worker``, ``user-service scheduler``, ``user-service db upgrade``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from sqlalchemy import text

from alvin_grpc.health import HealthChecks
from alvin_grpc.inprocess import InProcessServer
from alvin_python_lib import telemetry
from alvin_python_lib.db import Database
from gateway_graphql.app.bootstrap import start_process as start_gateway_process
from gateway_graphql.app.factory import create_app
from gateway_graphql.app.settings import Settings as GatewaySettings
from gateway_graphql.app.settings import get_settings as gateway_settings_from_env
from user_service.app.bootstrap import Container, bootstrap
from user_service.app.server import registration
from user_service.app.settings import Settings as UserServiceSettings
from user_service.app.settings import get_settings as user_service_settings_from_env

__all__ = ["IN_PROCESS_NAME", "OneProcess", "build", "create_wsgi_app"]

#: The in-process server's name: the gateway's target is ``inprocess:user-service``.
IN_PROCESS_NAME = "user-service"


@dataclass(frozen=True)
class OneProcess:
    """What one process runs: the gateway's app, the user-service's objects and the server
    between them."""

    app: Flask
    container: Container
    server: InProcessServer

    def close(self) -> None:
        """Stop the in-process server (NOT_SERVING, calls refused), free the user-service's
        worker id and database connections, close the gateway's channel."""
        self.server.stop()
        from gateway_graphql.app.factory import gateway_of  # noqa: PLC0415

        gateway_of(self.app).user_service.close()
        self.container.close()


def _database_answers(database: Database) -> bool:
    with database.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return True


def build(
    gateway_settings: GatewaySettings,
    user_service_settings: UserServiceSettings,
    *,
    container: Container | None = None,
    name: str = IN_PROCESS_NAME,
) -> OneProcess:
    """The gateway's app calling the user-service in this process.

    ``container`` replaces the user-service's objects built from its settings (tests pass their
    own database); ``name`` the in-process server's name (one per process unless changed).
    """
    container = container or bootstrap(user_service_settings, process="grpc")
    database = container.deps.database
    checks = HealthChecks(interval=user_service_settings.health_check_interval_s, timeout=2.0)
    checks.add("database", lambda: _database_answers(database))
    server = InProcessServer(
        [registration(container.deps)],
        user_service_settings,
        name=name,
        database=database,
        health_checks=checks,
    ).start()
    try:
        # The transport is this deployment's choice, not a setting: TLS has no meaning here.
        settings = gateway_settings.model_copy(
            update={"user_service_target": server.target, "user_service_tls": False}
        )
        app = create_app(settings)
    except BaseException:
        server.stop()
        raise
    return OneProcess(app=app, container=container, server=server)


def create_wsgi_app() -> Flask:
    """The app of one gunicorn worker (``one-process serve``), built after the fork: logging and
    tracing as the gateway's web process, then both services from the environment."""
    gateway_settings = start_gateway_process("web", gateway_settings_from_env())
    user_service_settings = user_service_settings_from_env()
    one = build(gateway_settings, user_service_settings)
    telemetry.instrument_sqlalchemy(one.container.deps.database.engine)
    import atexit  # noqa: PLC0415

    atexit.register(one.close)
    return one.app
