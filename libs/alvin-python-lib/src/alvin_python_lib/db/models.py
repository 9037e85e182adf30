"""Declarative building blocks: a metadata with naming conventions, snowflake keys, timestamps.

A service declares its own Base so that its metadata holds only its own tables::

    class Base(DeclarativeBase):
        metadata = make_metadata()

    class User(SnowflakePrimaryKey, Timestamps, Base):
        __tablename__ = "users"
        email: Mapped[str] = mapped_column(unique=True)

The naming convention gives every constraint a predictable name (``uq_users_email``), which is what
lets :func:`alvin_python_lib.db.errors.unique_violation_field` tell which field collided.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.orm import Mapped, mapped_column

from alvin_python_lib import ids

__all__ = ["NAMING_CONVENTION", "SnowflakePrimaryKey", "Timestamps", "make_metadata", "utcnow"]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def make_metadata(schema: str | None = None, *, install_next_id: bool = True) -> MetaData:
    """A MetaData with the kit's naming convention; ``create_all`` also installs ``next_id()``."""
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    if install_next_id:
        ids.install_next_id(metadata)
    return metadata


class SnowflakePrimaryKey:
    """``id``: a 64-bit snowflake primary key.

    Python inserts take the id from the process's generator (known before flush, no round trip);
    plain SQL inserts get one from the database's ``next_id()`` function.
    """

    id: Mapped[int] = ids.snowflake_pk()


class Timestamps:
    """``created_at`` and ``updated_at``, timezone-aware UTC, maintained on insert and update."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        default=utcnow,
        onupdate=utcnow,
        server_default=func.now(),
        nullable=False,
    )
