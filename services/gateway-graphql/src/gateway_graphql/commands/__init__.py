"""The ``gateway`` command (``manage`` in the image): the server processes and helpers.

Each command imports what it needs when it runs, so ``--help`` costs little more than click.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from alvin_python_lib.cli import create_manage_cli
from gateway_graphql import __version__

GUNICORN_CONFIG = "python:gateway_graphql.app.gunicorn_config"
WSGI_APP = "gateway_graphql.app.wsgi:create_wsgi_app()"


def _shell_context() -> dict[str, Any]:
    from gateway_graphql.app.bootstrap import start_process  # noqa: PLC0415
    from gateway_graphql.app.factory import create_app, gateway_of  # noqa: PLC0415

    app = create_app(start_process("shell"))
    gateway = gateway_of(app)
    return {"app": app, "accounts": gateway.accounts, "user_service": gateway.user_service}


cli = create_manage_cli("gateway", shell_context=_shell_context, version=__version__)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Default: GATEWAY_PORT (8000).")
@click.option("--reload/--no-reload", default=False, help="Restart when the code changes.")
def runserver(host: str, port: int | None, reload: bool) -> None:
    """Run the development server (werkzeug, threaded). Not for production: use `serve`."""
    from gateway_graphql.app.bootstrap import start_process  # noqa: PLC0415
    from gateway_graphql.app.factory import create_app  # noqa: PLC0415

    settings = start_process("runserver")
    app = create_app(settings)
    app.run(host=host, port=port or settings.port, threaded=True, use_reloader=reload)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve(gunicorn_args: tuple[str, ...]) -> None:
    """Run the production server: gunicorn with the gateway's configuration, in this process.

    Extra arguments go to gunicorn (e.g. `gateway serve --workers 4`). SIGTERM: gunicorn stops
    accepting, lets requests finish (GATEWAY_GRACEFUL_TIMEOUT_S) and exits.
    """
    from gateway_graphql.app.settings import get_settings  # noqa: PLC0415

    get_settings()  # a configuration error stops here, in one line, before gunicorn starts
    # why: exec'ing `python -m gunicorn` started a second interpreter that imported them again
    from gunicorn.app.wsgiapp import WSGIApplication  # type: ignore[import-untyped]  # noqa: PLC0415

    class _Gunicorn(WSGIApplication):  # type: ignore[misc]
        """gunicorn reading ``gunicorn_args``, not ``sys.argv`` (which stays `gateway serve ...`
        for gunicorn's re-exec on USR2). The master imports the app's modules before the first
        fork, after gunicorn_config has pointed prometheus_client at its multiprocess folder; each
        worker still builds the app (gRPC channels do not survive a fork). New code therefore
        needs a new master (a restart, or USR2), not HUP; gunicorn's ``--reload`` keeps the
        import in the workers."""

        def load_config(self) -> None:
            argv = sys.argv
            sys.argv = [argv[0], "--config", GUNICORN_CONFIG, *gunicorn_args, WSGI_APP]
            try:
                super().load_config()
            finally:
                sys.argv = argv
            if self.cfg.reload:
                return
            hook = self.cfg.pre_fork

            def pre_fork(server: Any, worker: Any) -> None:
                # why: once here instead of in every worker after the fork (Flask, GraphQL, grpc)
                import gateway_graphql.app.wsgi  # noqa: F401, PLC0415

                hook(server, worker)

            self.cfg.set("pre_fork", pre_fork)

    _Gunicorn("%(prog)s [OPTIONS] [APP_MODULE]", prog="gateway serve").run()


@cli.command("print-schema")
def print_schema() -> None:
    """Print the GraphQL schema (SDL); `schema.graphql` in the package folder is this output."""
    from gateway_graphql.api.graphql.schema import schema  # noqa: PLC0415

    click.echo(str(schema).rstrip("\n"))


def main() -> None:
    """Console entry point."""
    cli()
