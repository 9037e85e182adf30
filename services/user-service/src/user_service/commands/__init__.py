"""The ``user-service`` command (``manage`` in the image): processes, migrations, admin tasks.

Each command imports what it needs when it runs (settings, SQLAlchemy, grpc, Celery): ``--help``
then costs little more than click itself, and a process pays only for its own imports.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from alvin_python_lib.cli import create_manage_cli
from user_service import __version__
from user_service.commands.emails import emails as emails_command

if TYPE_CHECKING:
    from user_service.app.bootstrap import Container

MIGRATIONS_INI = Path(__file__).resolve().parent.parent / "db" / "migrations" / "alembic.ini"


def start_process(process: str) -> Container:
    """Logging, tracing and the composition root's objects for ``process`` (imported on use)."""
    from user_service.app.bootstrap import start_process as start  # noqa: PLC0415

    return start(process)


def _database_url() -> str:
    from user_service.app.settings import get_settings  # noqa: PLC0415

    return get_settings().database_url


def _shell_context() -> dict[str, Any]:
    from user_service.db import models  # noqa: PLC0415
    from user_service.service import auth, users  # noqa: PLC0415

    container = start_process("shell")
    return {
        "container": container,
        "deps": container.deps,
        "database": container.deps.database,
        "models": models,
        "users": users,
        "auth": auth,
    }


cli = create_manage_cli(
    "user-service",
    alembic_ini=MIGRATIONS_INI,
    database_url=_database_url,
    shell_context=_shell_context,
    version=__version__,
)


cli.add_command(emails_command)

_db_group = cast("click.Group", cli.commands["db"])
_migrate = _db_group.commands["upgrade"]


@_db_group.command("upgrade")
@click.argument("revision", default="head")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it (no role changes).")
@click.option(
    "--app-database-url",
    envvar="USER_SERVICE_APP_DATABASE_URL",
    show_envvar=True,
    default=None,
    metavar="URL",
    help="The services' role (user, password) to create or update after the migrations: data "
    "privileges, no DDL. Give it in the environment: a command line is visible to other users.",
)
@click.pass_context
def upgrade(ctx: click.Context, revision: str, sql: bool, app_database_url: str | None) -> None:
    """Upgrade the schema to REVISION (default: head), then grant the application role."""
    ctx.invoke(_migrate, revision=revision, sql=sql)
    if app_database_url and not sql:
        from user_service.db.app_role import AppRoleError, ensure_app_role  # noqa: PLC0415

        try:
            role = ensure_app_role(_database_url(), app_database_url)
        except AppRoleError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"application role {role}: data privileges granted", err=True)


@cli.command()
def grpcserver() -> None:
    """Run the gRPC server until SIGTERM/SIGINT (graceful: NOT_SERVING, drain, exit 0)."""
    from user_service.app.server import serve  # noqa: PLC0415

    serve(start_process("grpc"))


@cli.command()
@click.option("--pool", default="threads", show_default=True, help="Celery pool implementation.")
@click.option("--concurrency", default=4, show_default=True, help="Tasks run at once.")
@click.option("--loglevel", default="INFO", show_default=True)
def worker(pool: str, concurrency: int, loglevel: str) -> None:
    """Run the Celery worker (tasks: welcome emails)."""
    from user_service.app.worker import create_worker_app  # noqa: PLC0415

    app = create_worker_app(start_process("worker"))
    app.worker_main(
        ["worker", f"--pool={pool}", f"--concurrency={concurrency}", f"--loglevel={loglevel}"]
    )


@cli.command()
def scheduler() -> None:
    """Run the periodic jobs (outbox relay, session purge); safe to run several replicas."""
    from alvin_python_lib.scheduler import run_forever  # noqa: PLC0415
    from user_service.app.scheduler import create_scheduler  # noqa: PLC0415
    from user_service.app.worker import create_worker_app  # noqa: PLC0415

    container = start_process("scheduler")
    create_worker_app(container)  # the relay publishes through this app
    run_forever(create_scheduler(container))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=1025, show_default=True)
@click.option(
    "--save-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write each message there as an .eml file.",
)
def smtp(host: str, port: int, save_dir: Path | None) -> None:
    """A local SMTP server for development that prints every message it receives."""
    from user_service.commands.smtp_catcher import SmtpCatcher  # noqa: PLC0415

    with SmtpCatcher(host, port, save_dir=save_dir) as catcher:
        where = f", saving to {save_dir}" if save_dir else ""
        click.echo(f"SMTP catcher on {host}:{port}{where}; Ctrl-C stops it", err=False)
        shown = 0
        try:
            while True:
                for message in catcher.wait_for(shown + 1, timeout=1.0)[shown:]:
                    shown += 1
                    click.echo(f"--- mail #{shown} to {message['To']}: {message['Subject']}")
                    # the plain-text part of a multipart (text + HTML) message
                    body = message.get_body(preferencelist=("plain",)) or message
                    click.echo(body.get_content())
        except KeyboardInterrupt:
            pass


@cli.command("create-user")
@click.argument("email")
@click.option("--display-name", default=None, help="Defaults to the part before the @.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts); "
    "otherwise it is prompted for twice, not echoed.",
)
@click.option("--admin", is_flag=True, help="Make the new user an administrator.")
def create_user(email: str, display_name: str | None, password_stdin: bool, admin: bool) -> None:
    """Create a user; the password is prompted for (hidden, confirmed) or read from stdin."""
    from alvin_python_lib.errors import DomainError  # noqa: PLC0415
    from user_service.service import users  # noqa: PLC0415

    if password_stdin:
        # Only the line ending goes: spaces may be part of the password.
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("--password-stdin: standard input has no password line")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    container = start_process("manage")
    try:
        user = users.signup(
            container.deps,
            email=email,
            password=password,
            display_name=display_name or email.split("@", maxsplit=1)[0],
        )
        if admin:
            from user_service.service import admin as admin_service  # noqa: PLC0415

            user = admin_service.grant_admin(container.deps, email)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        container.close()
    click.echo(f"created {'administrator' if admin else 'user'} {user.id} <{user.email}>")


@cli.command("grant-admin")
@click.argument("email")
@click.option("--revoke", is_flag=True, help="Take the administrator role away instead.")
def grant_admin(email: str, revoke: bool) -> None:
    """Make the user with EMAIL an administrator (or not, with --revoke)."""
    from alvin_python_lib.errors import DomainError  # noqa: PLC0415
    from user_service.service import admin  # noqa: PLC0415

    container = start_process("manage")
    try:
        user = admin.grant_admin(container.deps, email, admin=not revoke)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        container.close()
    click.echo(f"{user.id} <{user.email}> is {'no longer ' if revoke else ''}an administrator")


@cli.command()
@click.option("--users", "count", default=100, show_default=True, help="How many users.")
@click.option("--password", default="demo password 123", show_default=True)
@click.option("--batch", default=1000, show_default=True, help="Rows per INSERT.")
def seed(count: int, password: str, batch: int) -> None:
    """Insert demo users fast (one password hash shared by all, bulk INSERTs)."""
    from sqlalchemy import insert  # noqa: PLC0415

    from alvin_python_lib.db import transaction  # noqa: PLC0415
    from user_service.db.models import User  # noqa: PLC0415

    container = start_process("manage")
    deps = container.deps
    password_hash = deps.config.hasher.hash(password)
    stamp = int(time.time())
    started = time.perf_counter()
    inviter: int | None = None
    with click.progressbar(length=count, label="seeding users") as bar:
        done = 0
        while done < count:
            size = min(batch, count - done)
            rows = []
            for n in range(done, done + size):
                user_id = deps.ids.next_id()
                rows.append(
                    {
                        "id": user_id,
                        "email": f"demo{stamp}-{n}@example.com",
                        "display_name": f"Demo User {n}",
                        "password_hash": password_hash,
                        "invited_by_id": inviter,
                    }
                )
                inviter = user_id if n % 10 == 0 else inviter
            with transaction(deps.database.session) as session:
                session.execute(insert(User), rows)
            done += size
            bar.update(size)
    elapsed = time.perf_counter() - started
    container.close()
    click.echo(f"seeded {count} users in {elapsed:.1f}s (password: {password!r})")


def main() -> None:
    """Console entry point."""
    cli()
