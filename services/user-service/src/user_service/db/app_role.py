"""The application role: what the gRPC server, the worker and the scheduler connect as.

The migration connects as the schema's owner and, given the application role's URL
(``USER_SERVICE_APP_DATABASE_URL``), creates that role or sets its password, and grants it the
data but not the schema: ``CONNECT``, ``USAGE`` on the schema, ``SELECT, INSERT, UPDATE,
DELETE`` on its tables, ``USAGE, SELECT`` on its sequences, and the same on the tables and
sequences that later migrations create (default privileges of the owner). No ``CREATE``, no
ownership: a process that is taken over can read and change rows, not drop or alter tables.

Every statement is idempotent and all run in one transaction; identifiers and the password are
quoted by ``psycopg.sql``.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from alvin_python_lib.db import create_engine

# pg_advisory_xact_lock key: two migrations granting at once wait for each other instead of
# racing on CREATE ROLE.
_LOCK_KEY = 0x616C76696E5F726F  # "alvin_ro"

TABLE_PRIVILEGES = sql.SQL("SELECT, INSERT, UPDATE, DELETE")
SEQUENCE_PRIVILEGES = sql.SQL("USAGE, SELECT")


class AppRoleError(ValueError):
    """The application role's URL cannot be used (no user or password, or the owner itself)."""


def ensure_app_role(owner_url: str, app_url: str) -> str:
    """Create or update the role of ``app_url`` with the data privileges; returns its name.

    Connects with ``owner_url`` (the role that runs the migrations and owns the tables).
    """
    app = make_url(app_url)
    if not app.username or not app.password:
        raise AppRoleError("the application database URL needs a user name and a password")
    engine = create_engine(owner_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            driver: Any = conn.connection.driver_connection
            with driver.cursor() as cursor:
                _grant(cursor, app.username, app.password, app.database)
    finally:
        engine.dispose()
    return app.username


def _grant(cursor: Any, role_name: str, password: str, database: str | None) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    cursor.execute("SELECT current_user, current_database(), current_schema()")
    owner, current_database, schema_name = cursor.fetchone()
    if role_name == owner:
        raise AppRoleError(
            f"the application database URL names the migration's own role {owner!r}: "
            "give the services a role of their own"
        )
    if database and database != current_database:
        raise AppRoleError(
            f"the application database URL names database {database!r}, "
            f"the migration runs on {current_database!r}"
        )
    role, schema = sql.Identifier(role_name), sql.Identifier(schema_name)
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role_name,))
    # CREATE/ALTER ROLE take no bind parameters: the password is quoted as a literal. Attributes
    # that need a superuser to change (SUPERUSER, REPLICATION, BYPASSRLS) are left at their
    # defaults (off), which RDS's master user could not set anyway.
    verb = sql.SQL("ALTER") if cursor.fetchone() else sql.SQL("CREATE")
    statements = [
        sql.SQL("{} ROLE {} LOGIN NOCREATEDB NOCREATEROLE PASSWORD {}").format(
            verb, role, sql.Literal(password)
        ),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(current_database), role
        ),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role),
        # PostgreSQL before 15 lets every role create tables in the public schema.
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC, {}").format(schema, role),
        sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA {} TO {}").format(TABLE_PRIVILEGES, schema, role),
        sql.SQL("GRANT {} ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
            SEQUENCE_PRIVILEGES, schema, role
        ),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT {} ON TABLES TO {}").format(
            schema, TABLE_PRIVILEGES, role
        ),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT {} ON SEQUENCES TO {}").format(
            schema, SEQUENCE_PRIVILEGES, role
        ),
    ]
    for statement in statements:
        cursor.execute(statement)
