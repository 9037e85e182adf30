from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import inspect, text
from sqlalchemy.pool import NullPool

from alvin_python_lib.cli import create_manage_cli
from alvin_python_lib.config import SettingsError
from alvin_python_lib.db import normalize_url

INI = Path(__file__).parent / "alembic_project" / "alembic.ini"


def test_db_upgrade_current_downgrade(empty_database_url: str) -> None:
    empty_database = empty_database_url
    cli = create_manage_cli("demo", alembic_ini=INI, database_url=lambda: empty_database)
    runner = CliRunner()
    result = runner.invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    engine = sa_create_engine(normalize_url(empty_database), poolclass=NullPool)
    assert "widgets" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT next_id() > 0")).scalar() is True
    result = runner.invoke(cli, ["db", "current"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["db", "downgrade", "base"])
    assert result.exit_code == 0, result.output
    assert "widgets" not in inspect(engine).get_table_names()
    engine.dispose()


def test_db_upgrade_sql_prints_the_migration_offline() -> None:
    cli = create_manage_cli("demo", alembic_ini=INI, database_url=lambda: "postgresql://x@h/db")
    result = CliRunner().invoke(cli, ["db", "upgrade", "--sql"])
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE widgets" in result.output
    assert "CREATE OR REPLACE FUNCTION" in result.output


def test_configuration_errors_are_one_line_usage_errors() -> None:
    def broken() -> None:
        raise SettingsError("missing required setting DEMO_DATABASE_URL")

    cli = create_manage_cli("demo", init=broken)

    @cli.command()
    def hello() -> None:
        """Say hello."""

    result = CliRunner().invoke(cli, ["hello"])
    assert result.exit_code == 2
    assert "missing required setting DEMO_DATABASE_URL" in result.output
    assert "Traceback" not in result.output


def test_services_extend_the_group_and_shell_gets_the_context() -> None:
    cli = create_manage_cli("demo", shell_context=lambda: {"answer": 42})

    @cli.command()
    def seed() -> None:
        """Seed demo data."""

    runner = CliRunner()
    assert "seed" in runner.invoke(cli, ["--help"]).output
    result = runner.invoke(cli, ["shell"], input="print('answer is', answer)\n")
    assert result.exit_code == 0, result.output
    assert "answer is 42" in result.output
