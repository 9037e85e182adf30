"""The declarative base: naming conventions and the ``next_id()`` DDL from the core library."""

from sqlalchemy.orm import DeclarativeBase

from alvin_python_lib.db import make_metadata


class Base(DeclarativeBase):
    """Base class of the service's models."""

    metadata = make_metadata()
