"""The composition root: settings in, the gateway's long-lived objects out, built once.

Each entry point (a gunicorn worker, ``runserver``, ``shell``) calls :func:`start_process` first:
logging and tracing for the process. The app factory (``app.factory.create_app``) then builds the
objects with :func:`bootstrap` and hands them on: the user-service client to the use cases
(:class:`~gateway_graphql.service.accounts.Accounts`), the use cases to the GraphQL view and,
through it, to each request's context. Nothing is kept in module globals, so a test builds a
gateway around a client of its choosing (``create_app(settings, user_service=client)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alvin_python_lib.logging import get_logger
from alvin_python_lib.process import start_process as start_logging_and_tracing
from gateway_graphql import __version__
from gateway_graphql.app.settings import Settings, get_settings
from gateway_graphql.remote.user_service import UserServiceClient
from gateway_graphql.service.accounts import Accounts

__all__ = ["Gateway", "bootstrap", "connect_user_service", "start_process"]


@dataclass(frozen=True)
class Gateway:
    """What one gateway process is made of (also ``app.extensions["gateway_graphql"]``)."""

    settings: Settings
    user_service: UserServiceClient
    accounts: Accounts


def connect_user_service(
    settings: Settings, *, interceptors: Sequence[Any] = ()
) -> UserServiceClient:
    """A user-service client configured from ``settings`` (deadline, retries, token, TLS).

    ``interceptors`` are extra gRPC client interceptors (tests count or fail calls with them).
    """
    ca_file = settings.user_service_ca_file
    return UserServiceClient.connect(
        settings.user_service_target,
        token=settings.user_service_token,
        timeout_s=settings.user_service_timeout_s,
        max_attempts=settings.user_service_max_attempts,
        load_balancing_policy=settings.user_service_load_balancing,
        max_reconnect_backoff_s=settings.user_service_max_reconnect_backoff_s,
        tls=settings.user_service_tls,
        root_certificates=ca_file.read_bytes() if ca_file is not None else None,
        interceptors=interceptors,
    )


def bootstrap(settings: Settings, *, user_service: UserServiceClient | None = None) -> Gateway:
    """The gateway's objects; ``user_service`` replaces the client built from ``settings``.

    The channel is opened here, so call this in the process that serves (a gunicorn worker after
    the fork): gRPC channels do not survive a fork.
    """
    client = user_service if user_service is not None else connect_user_service(settings)
    accounts = Accounts(
        client,
        default_page_size=settings.default_page_size,
        max_page_size=settings.max_page_size,
        session_sliding=settings.session_sliding,
    )
    return Gateway(settings=settings, user_service=client, accounts=accounts)


def start_process(process: str, settings: Settings | None = None) -> Settings:
    """Configure logging and tracing for ``process`` and return the settings (loaded from the
    environment unless given).

    ``runserver`` (one process) also serves ``/metrics`` on ``metrics_port`` when it is set; under
    gunicorn the master does that for every worker (``app.gunicorn_config``).
    """
    settings = settings or get_settings()
    start_logging_and_tracing(settings, process=process, service_version=__version__)
    if process == "runserver" and settings.metrics_port is not None:
        from alvin_python_lib.metrics import start_metrics_server  # noqa: PLC0415

        try:
            start_metrics_server(settings.metrics_port)
        except OSError as error:  # `runserver --reload`: the watching parent holds the port
            get_logger(__name__).warning(
                "metrics.port_busy", port=settings.metrics_port, error=str(error)
            )
    return settings
