"""Every check of the kit, one nox session each.

Per package (discovered from ``libs/*`` and ``services/*``, so a new folder needs no edit here):
``tests-<package>``. Whole kit: ``lint`` (ruff check + format check) and ``typecheck`` (mypy per
package). Plain ``nox`` runs what CI needs; ``nox -l`` lists everything.

Local libraries are installed from their folders in editable mode before the package under test,
so the requirements a package declares (``alvin-python-lib>=0.1,<0.2``) stay as they are and are
satisfied by the working copy.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False

PYTHON = os.environ.get("NOX_PYTHON") or None  # None: the interpreter that runs nox
RUFF = "ruff>=0.6"
MYPY = "mypy>=1.10"


def _packages(kind: str) -> list[Path]:
    return sorted(p.parent for p in (ROOT / kind).glob("*/pyproject.toml"))


LIBS = _packages("libs")
SERVICES = _packages("services")
PACKAGES = LIBS + SERVICES


def _install_local(session: nox.Session, *targets: Path) -> None:
    """Install the local libraries editable, then the targets with their ``test`` extra.

    Every package declares a ``test`` extra (its test dependencies): that is the convention.
    """
    specs: list[str] = []
    for lib in LIBS:
        if lib not in targets:
            specs += ["-e", str(lib.relative_to(ROOT))]
    for target in targets:
        specs += ["-e", f"{target.relative_to(ROOT)}[test]"]
    session.install(*specs)


def _tests(package: Path) -> None:
    @nox.session(name=f"tests-{package.name}", python=PYTHON, tags=["tests"])
    def tests(session: nox.Session) -> None:
        _install_local(session, package)
        session.chdir(package)
        # Exit code 5 (no tests collected) is a failure on purpose: a package without tests is a bug.
        session.run("pytest", *session.posargs)

    tests.__doc__ = f"Run the tests of {package.relative_to(ROOT)} (posargs go to pytest)."


for _package in PACKAGES:
    _tests(_package)


@nox.session(python=PYTHON, tags=["checks"])
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole kit."""
    session.install(RUFF)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON, tags=["checks"])
def typecheck(session: nox.Session) -> None:
    """mypy --strict on each package's sources, one package at a time."""
    _install_local(session, *PACKAGES)
    session.install(MYPY)
    for package in PACKAGES:
        session.run("mypy", str((package / "src").relative_to(ROOT)))


@nox.session(python=PYTHON, tags=["bench"], default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks (they print figures; they never fail on a slow machine)."""
    _install_local(session, *LIBS)
    for lib in LIBS:
        script = lib / "benchmarks" / "run.py"
        if script.exists():
            session.run("python", str(script.relative_to(ROOT)), *session.posargs)


@nox.session(python=False, default=False)
def clean(session: nox.Session) -> None:
    """Remove caches and local data (.data/: the embedded servers' folders)."""
    for pattern in (".data", "**/.pytest_cache", "**/.mypy_cache", "**/.ruff_cache"):
        for path in ROOT.glob(pattern):
            session.log(f"removing {path.relative_to(ROOT)}")
            shutil.rmtree(path, ignore_errors=True)


@nox.session(python=PYTHON, default=False)
def up(session: nox.Session) -> None:
    """Run the stack on the embedded servers (data in .data/, reset with `nox -s clean`)."""
    session.install("-e", "libs/alvin-python-lib[embedded]")
    # Ctrl-C reaches the process; give it time to stop the servers before nox escalates.
    session.run(
        "alvin-embedded",
        "--data-dir",
        str(ROOT / ".data"),
        *session.posargs,
        interrupt_timeout=15.0,
        terminate_timeout=5.0,
    )
