"""Every check of the kit, one nox session each.

Per package (discovered from ``libs/*`` and ``services/*``, so a new folder needs no edit here):
``tests-<package>``. Whole kit: ``lint`` (ruff check + format check), ``typecheck`` (mypy per
package) and ``proto`` (buf lint, format and breaking checks; generated stubs up to date). Plain
``nox`` runs what CI needs; ``nox -l`` lists everything.

Local libraries are installed from their folders in editable mode before the package under test,
so the requirements a package declares (``alvin-python-lib>=0.1,<0.2``) stay as they are and are
satisfied by the working copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
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
# The protobuf generators, pinned: the committed stubs in libs/alvin-protos must come out byte for
# byte the same on every machine. Raising grpcio-tools or the protoc it bundles raises the runtime
# lower bounds of alvin-protos (grpcio, protobuf): change its pyproject.toml in the same commit.
PROTO_TOOLS = (
    "buf-bin==1.75.0",
    "grpcio-tools==1.85.1",
    "mypy-protobuf==5.1.0",
    "protobuf==7.36.2",
)


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


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def _breaking_baseline(session: nox.Session) -> str | None:
    """The buf input for ``buf breaking``: ``main`` (local branch, else ``origin/main``), or None.

    None when there is no main to compare with, or main has no protos yet (the commit that adds
    proto/ has nothing to break; once it is on main, main is the baseline).
    """
    for ref, buf_input in (
        ("refs/heads/main", ".git#branch=main"),
        ("refs/remotes/origin/main", ".git#ref=origin/main"),
    ):
        if _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
            continue
        listed = _git("ls-tree", "-r", "--name-only", ref, "--", "proto")
        if not any(name.endswith(".proto") for name in listed.stdout.splitlines()):
            session.warn(
                f"buf breaking SKIPPED: {ref} has no proto/ files yet (nothing to compare)"
            )
            return None
        return buf_input
    session.warn(
        "buf breaking SKIPPED: no main branch (neither main nor origin/main) to compare with"
    )
    return None


@nox.session(python=PYTHON, tags=["checks"])
def proto(session: nox.Session) -> None:
    """buf lint, buf format check, buf breaking against main, generated stubs up to date."""
    session.install(*PROTO_TOOLS)
    session.run("buf", "lint")
    session.run("buf", "format", "--exit-code", "-d")
    against = _breaking_baseline(session)
    if against:
        session.run("buf", "breaking", "--against", against)
    # Regenerates libs/alvin-protos/src/alvin_protos/*/ and fails if that changed anything (in a
    # fresh clone: if the committed stubs are stale, edited, or a generated file is not committed).
    session.run("python", "libs/alvin-protos/tools/generate.py", "--check")


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
