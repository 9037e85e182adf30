"""The architecture test of a package: its import-linter contracts, checked by ``lint-imports``.

A service's ``tests/test_architecture.py``::

    from pathlib import Path

    from alvin_python_lib.testing import assert_import_contracts_kept


    def test_import_contracts_hold() -> None:
        assert_import_contracts_kept(Path(__file__).parents[1] / "pyproject.toml", expected=3)

import-linter comes with the ``testing`` extra; its command runs in a child process (no cache), in
the folder of the ``pyproject.toml``, so the package's own folder is importable as it is for
``lint-imports`` run by hand.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["assert_import_contracts_kept"]

_SUMMARY = re.compile(r"^Contracts: (?P<kept>\d+) kept, (?P<broken>\d+) broken\.", re.MULTILINE)


def _lint_imports() -> str:
    beside = Path(sys.executable).parent / "lint-imports"
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    if found is None:
        raise AssertionError(
            "lint-imports not found: install import-linter (alvin-python-lib[testing] has it)"
        )
    return found


def assert_import_contracts_kept(
    pyproject: Path | str, expected: int | None = None, *, timeout: float = 120
) -> None:
    """Fail unless every import-linter contract of ``pyproject`` is kept.

    ``expected`` is the number of contracts the file declares: a contract deleted or renamed out
    of the configuration fails the test instead of passing silently. The message carries the
    linter's report.
    """
    path = Path(pyproject).resolve()
    done = subprocess.run(  # noqa: S603 - the linter's own executable, arguments are paths
        [_lint_imports(), str(path), "--no-cache"],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    report = done.stdout + done.stderr
    if done.returncode != 0:
        raise AssertionError(f"import contracts of {path} are broken:\n{report}")
    summary = _SUMMARY.search(done.stdout)
    if summary is None:
        raise AssertionError(f"no contract summary in the lint-imports output:\n{report}")
    kept = int(summary["kept"])
    if expected is not None and kept != expected:
        raise AssertionError(f"{kept} import contracts kept in {path}, expected {expected}")
