"""The dependency rules of the service's layers, enforced with import-linter."""

from pathlib import Path

from alvin_python_lib.testing import assert_import_contracts_kept


def test_import_contracts_hold() -> None:
    assert_import_contracts_kept(Path(__file__).parents[1] / "pyproject.toml", expected=4)
