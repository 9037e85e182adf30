"""Test support: the pytest plugin (loaded automatically through the ``pytest11`` entry point)."""

from alvin_python_lib.testing.plugin import UnrequestedDatabaseWrite

__all__ = ["UnrequestedDatabaseWrite"]
