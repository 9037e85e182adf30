"""Test support: the pytest plugin (loaded automatically through the ``pytest11`` entry point)."""

from alvin_python_lib.testing.plugin import (
    UnrequestedDatabaseWrite,
    isolated_session,
    real_databases,
)

__all__ = ["UnrequestedDatabaseWrite", "isolated_session", "real_databases"]
