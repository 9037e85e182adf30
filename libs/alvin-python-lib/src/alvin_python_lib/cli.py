"""A click group factory for each service's management command.

::

    cli = create_manage_cli(
        "user-service",
        alembic_ini=Path(__file__).parent.parent / "alembic.ini",
        database_url=lambda: get_settings().database_url,
        shell_context=lambda: {"db": database, "User": User},
    )

    @cli.command()
    def seed() -> None: ...

gives ``user-service shell``, ``user-service db upgrade|downgrade|revision|current|history`` plus the
service's own commands. Configuration errors print one line and exit with status 2.

Only click is imported up front: settings, Alembic and SQLAlchemy load when a command runs, so
``--help`` and shell completion answer in a fraction of the time a full import takes. Services'
command modules should do the same (import what a command needs inside it).
"""

from __future__ import annotations

import code
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from alvin_python_lib import __version__

__all__ = ["create_manage_cli"]


def create_manage_cli(
    name: str,
    *,
    alembic_ini: Path | None = None,
    database_url: Callable[[], str] | None = None,
    shell_context: Callable[[], Mapping[str, Any]] | None = None,
    init: Callable[[], None] | None = None,
    version: str | None = None,
) -> click.Group:
    """Build the ``manage`` group; ``init`` runs before every command (logging, settings ...)."""

    @click.group(name=name, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(version or __version__, prog_name=name)
    def cli() -> None:
        """Management commands."""
        if init is not None:
            _guarded(init)

    @cli.command()
    def shell() -> None:
        """An interactive Python shell with the application initialised."""
        namespace: dict[str, Any] = dict(shell_context() if shell_context else {})
        banner = f"{name} shell; names: {', '.join(sorted(namespace)) or '(none)'}"
        try:
            from IPython import start_ipython  # type: ignore[import-not-found]  # noqa: PLC0415
        except ImportError:
            code.interact(banner=banner, local=namespace)
        else:
            click.echo(banner)
            start_ipython(argv=[], user_ns=namespace)

    if alembic_ini is not None:
        cli.add_command(_db_group(alembic_ini, database_url))
    return cli


def _guarded(fn: Callable[[], Any]) -> Any:
    from alvin_python_lib.config import SettingsError  # noqa: PLC0415 - see the module docstring

    try:
        return fn()
    except SettingsError as exc:
        raise click.UsageError(exc.message) from None


def _db_group(ini: Path, database_url: Callable[[], str] | None) -> click.Group:
    def config() -> Any:
        from alvin_python_lib.migrations import alembic_config  # noqa: PLC0415

        url = _guarded(database_url) if database_url is not None else None
        return alembic_config(ini, url=url)

    def alembic() -> Any:
        from alembic import command  # noqa: PLC0415

        return command

    @click.group(name="db")
    def db() -> None:
        """Database migrations (Alembic)."""

    @db.command()
    @click.argument("revision", default="head")
    @click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
    def upgrade(revision: str, sql: bool) -> None:
        """Upgrade the schema to REVISION (default: head)."""
        alembic().upgrade(config(), revision, sql=sql)

    @db.command()
    @click.argument("revision")
    @click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
    def downgrade(revision: str, sql: bool) -> None:
        """Downgrade the schema to REVISION (e.g. -1 or base)."""
        alembic().downgrade(config(), revision, sql=sql)

    @db.command()
    @click.option("-m", "--message", required=True, help="What the migration does.")
    @click.option("--autogenerate/--empty", default=True, help="Compare models with the database.")
    def revision(message: str, autogenerate: bool) -> None:
        """Create a new migration file."""
        alembic().revision(config(), message=message, autogenerate=autogenerate)

    @db.command()
    def current() -> None:
        """Show the revision the database is at."""
        alembic().current(config(), verbose=False)

    @db.command()
    def history() -> None:
        """List the migrations."""
        alembic().history(config())

    return db
