"""Test support: the pytest plugin (loaded automatically through the ``pytest11`` entry point),
the architecture check (:func:`assert_import_contracts_kept`) and the database round-trip counter
(:func:`round_trips`)."""

from alvin_python_lib.testing.architecture import assert_import_contracts_kept
from alvin_python_lib.testing.plugin import (
    UnrequestedDatabaseWrite,
    isolated_session,
    real_databases,
)
from alvin_python_lib.testing.round_trips import RoundTrips, round_trips

__all__ = [
    "RoundTrips",
    "UnrequestedDatabaseWrite",
    "assert_import_contracts_kept",
    "isolated_session",
    "real_databases",
    "round_trips",
]
