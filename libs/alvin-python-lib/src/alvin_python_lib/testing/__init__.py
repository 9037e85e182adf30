"""Test support: the pytest plugin (loaded automatically through the ``pytest11`` entry point)
and the architecture check (:func:`assert_import_contracts_kept`)."""

from alvin_python_lib.testing.architecture import assert_import_contracts_kept
from alvin_python_lib.testing.plugin import (
    UnrequestedDatabaseWrite,
    isolated_session,
    real_databases,
)

__all__ = [
    "UnrequestedDatabaseWrite",
    "assert_import_contracts_kept",
    "isolated_session",
    "real_databases",
]
