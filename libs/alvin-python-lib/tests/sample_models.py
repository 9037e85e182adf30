"""A small model set for the library's own tests (built by tests/alembic_project)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from alvin_python_lib.db import SnowflakePrimaryKey, Timestamps, make_metadata


class Base(DeclarativeBase):
    metadata = make_metadata()


class Widget(SnowflakePrimaryKey, Timestamps, Base):
    __tablename__ = "widgets"
    __table_args__ = (UniqueConstraint("name"),)

    name: Mapped[str] = mapped_column(String(100))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("widgets.id"), default=None)
