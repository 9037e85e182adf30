"""The ``one-process`` command (``manage`` in its image): the gateway and the user-service's API
in one server process.

``serve`` runs gunicorn with the gateway's configuration (``GATEWAY_HOST``, ``GATEWAY_PORT``,
``GATEWAY_WORKERS`` ...), each worker building both services after the fork; ``runserver`` is the
development server. The user-service's other processes keep their own command:
``user-service worker``, ``user-service scheduler``, ``user-service db upgrade``.
"""

from __future__ import annotations

import os
import sys

import click

from one_process import __version__

GUNICORN_CONFIG = "python:one_process.gunicorn_config"
WSGI_APP = "one_process.app:create_wsgi_app()"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="one-process")
def cli() -> None:
    """The gateway calling the user-service in the same process (no gRPC socket between them)."""


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve(gunicorn_args: tuple[str, ...]) -> None:
    """Run the production server: exec gunicorn (extra arguments go to it)."""
    from gateway_graphql.app.settings import get_settings as gateway  # noqa: PLC0415
    from user_service.app.settings import get_settings as user_service  # noqa: PLC0415

    # a configuration error stops here, in one line, before gunicorn starts
    user_service().check_service_auth()
    gateway()
    argv = [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG, *gunicorn_args]
    os.execv(sys.executable, [*argv, WSGI_APP])  # noqa: S606


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Default: GATEWAY_PORT (8000).")
def runserver(host: str, port: int | None) -> None:
    """Run the development server (werkzeug, threaded). Not for production: use `serve`."""
    from one_process.app import create_wsgi_app  # noqa: PLC0415

    app = create_wsgi_app()
    app.run(host=host, port=port or app.extensions["gateway_graphql"].settings.port, threaded=True)


def main() -> None:
    """Console script entry point."""
    cli()
