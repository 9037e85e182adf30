"""alvin_python_lib.testing.assert_import_contracts_kept on a small package made for each test."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from alvin_python_lib.testing import assert_import_contracts_kept

CONTRACT = """
[tool.importlinter]
root_package = "{name}"

[[tool.importlinter.contracts]]
name = "the core does not import the api"
type = "forbidden"
source_modules = ["{name}.core"]
forbidden_modules = ["{name}.api"]
"""


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    """(pyproject.toml, the core module) of a package whose api imports its core."""
    name = f"arch_{secrets.token_hex(4)}"
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "core.py").write_text("VALUE = 1\n")
    (package / "api.py").write_text(f"from {name} import core\n")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(CONTRACT.format(name=name))
    return pyproject, package / "core.py"


def test_kept_contracts_pass(project: tuple[Path, Path]) -> None:
    pyproject, _ = project
    assert_import_contracts_kept(pyproject)
    assert_import_contracts_kept(str(pyproject), expected=1)


def test_a_missing_contract_fails(project: tuple[Path, Path]) -> None:
    pyproject, _ = project
    with pytest.raises(AssertionError, match=r"1 import contracts kept .*, expected 2"):
        assert_import_contracts_kept(pyproject, expected=2)


def test_a_broken_contract_fails_with_the_report(project: tuple[Path, Path]) -> None:
    pyproject, core = project
    core.write_text(f"from {core.parent.name} import api\n")
    with pytest.raises(AssertionError, match=r"(?s)are broken:.*BROKEN"):
        assert_import_contracts_kept(pyproject, expected=1)
