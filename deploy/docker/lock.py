"""Each service's hashed lock, ``services/<name>/requirements.lock``, which its image installs.

    python deploy/docker/lock.py                 # (re)write every service's lock (needs uv, PyPI)
    python deploy/docker/lock.py user-service    # one service
    python deploy/docker/lock.py --check         # offline: every lock covers its pyproject files

The lock holds every third-party distribution of the service and of the shared libraries it
needs (``libs/``, followed through their dependencies), each pinned with ``==`` and the sha256 of
every file PyPI has for that version; the kit's own packages are left out (the image builds them
as wheels and installs them with ``--no-deps`` after the lock). ``uv pip compile`` keeps the pins
already in the lock when they still satisfy the pyproject files, so rewriting it changes only
what must change; Renovate's lockFileMaintenance refreshes it on a schedule (renovate.json).

``--check`` needs no network: each lock exists, every entry has a hash, and every dependency the
pyproject files declare (the service's and its libraries', with the extras it asks for) is
satisfied by a locked version. The image's ``pip check`` proves the rest (nothing missing).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK_NAME = "requirements.lock"
PYTHON_VERSION = "3.11"  # the base image's (service.Dockerfile)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+)")


def _project(path: Path) -> dict[str, object]:
    data = tomllib.loads((path / "pyproject.toml").read_text())
    return dict(data["project"])


def local_packages(root: Path) -> dict[str, Path]:
    """Canonical name -> folder of every package of the kit (libs/ and services/)."""
    found: dict[str, Path] = {}
    for folder in sorted([*root.glob("libs/*"), *root.glob("services/*")]):
        if (folder / "pyproject.toml").is_file():
            found[canonicalize_name(str(_project(folder)["name"]))] = folder
    return found


def requirements(root: Path, service: Path) -> tuple[list[Requirement], set[Path]]:
    """The third-party requirements of ``service`` and the kit's packages it needs (folders)."""
    local = local_packages(root)
    found: list[Requirement] = []
    todo: list[tuple[Path, frozenset[str]]] = [(service, frozenset())]
    seen: set[tuple[Path, frozenset[str]]] = set()
    while todo:
        folder, extras = todo.pop()
        if (folder, extras) in seen:
            continue
        seen.add((folder, extras))
        project = _project(folder)
        optional = dict(project.get("optional-dependencies") or {})  # type: ignore[call-overload]
        texts = list(project.get("dependencies") or [])  # type: ignore[call-overload]
        for extra in extras:
            texts += optional.get(extra, [])
        for text in texts:
            requirement = Requirement(str(text))
            if requirement.marker is not None and not requirement.marker.evaluate(
                {"python_version": PYTHON_VERSION, "extra": ""}
            ):
                continue
            name = canonicalize_name(requirement.name)
            if name in local:
                todo.append((local[name], frozenset(requirement.extras)))
            else:
                found.append(requirement)
    return found, {folder for folder, _ in seen}


def locked(lock: Path) -> tuple[dict[str, str], list[str]]:
    """(canonical name -> version, entries without a hash) of a lock file."""
    pins: dict[str, str] = {}
    unhashed: list[str] = []
    entries = re.split(r"\n(?=\S)", lock.read_text())
    for entry in entries:
        match = PIN.match(entry)
        if match is None:
            continue
        pins[canonicalize_name(match.group(1))] = match.group(2)
        if "--hash=sha256:" not in entry:
            unhashed.append(match.group(1))
    return pins, unhashed


def check(root: Path, service: Path) -> list[str]:
    """Why ``service``'s lock does not cover its pyproject files (empty: it does)."""
    lock = service / LOCK_NAME
    where = lock.relative_to(root)
    if not lock.is_file():
        return [f"{where} is missing (python deploy/docker/lock.py {service.name})"]
    pins, unhashed = locked(lock)
    problems = [f"{where}: {name} has no hash" for name in unhashed]
    for requirement in requirements(root, service)[0]:
        version = pins.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{where}: {requirement.name} is not locked (regenerate the lock)")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(
                f"{where}: {requirement.name}=={version} does not satisfy {requirement} "
                "(regenerate the lock)"
            )
    local = local_packages(root)
    problems += [
        f"{where}: {name} is the kit's own package (built from source, never from the lock)"
        for name in pins
        if name in local
    ]
    return problems


def write(root: Path, service: Path) -> None:
    """(Re)write ``service``'s lock with ``uv pip compile --generate-hashes``."""
    local = local_packages(root)
    needed = requirements(root, service)[1]
    inputs = [f"./{f.relative_to(root).as_posix()}" for f in sorted(needed)]
    omit = [arg for name in local for arg in ("--no-emit-package", name)]
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is not installed (pip install uv)")
    subprocess.run(  # noqa: S603 - uv, with our own arguments
        [
            uv, "pip", "compile", "-", "--generate-hashes", "--universal",
            "--python-version", PYTHON_VERSION, "--no-header", "--quiet",
            "--output-file", str(service / LOCK_NAME), *omit,
        ],
        input="\n".join(inputs),
        text=True, check=True, cwd=root,
    )  # fmt: skip


def services(root: Path, names: list[str]) -> list[Path]:
    """The service folders named (all of services/ when none)."""
    every = [f for f in sorted(root.glob("services/*")) if (f / "pyproject.toml").is_file()]
    return [f for f in every if not names or f.name in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="service folders (default: all)")
    parser.add_argument("--check", action="store_true", help="offline: the locks cover pyproject")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.check:
        problems = [p for s in services(root, args.names) for p in check(root, s)]
        for problem in problems:
            print(f"FAIL: {problem}", file=sys.stderr)
        if not problems:
            print("locks: every service's lock covers its pyproject files")
        return 1 if problems else 0
    for service in services(root, args.names):
        write(root, service)
        print(f"wrote {(service / LOCK_NAME).relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
