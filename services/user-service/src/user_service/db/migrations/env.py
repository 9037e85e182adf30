"""Alembic environment: the shared body from the core library, with this service's metadata."""

from alvin_python_lib.migrations import run_env
from user_service.db.models import Base

run_env(Base.metadata)
