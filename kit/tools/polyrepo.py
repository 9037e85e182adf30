"""The services installed as separate repositories would install them: from a package index.

    python tools/polyrepo.py [--service user-service] [--no-tests] [-- PYTEST_ARGS]

1. Start pypiserver on a free loopback port with an empty temporary packages folder (no auth).
2. Publish the libraries there with tools/publish.py's logic, plus every service that another
   service declares (the gateway's ``test`` dependency group needs ``user-service``: in a polyrepo
   it would come from the index too).
3. For each service: copy ONLY its folder to a temporary directory, make a fresh venv and
   ``pip install --group test .`` there (the test requirements come from the copy's own
   pyproject.toml) with pip's configuration ignored (``PIP_CONFIG_FILE=/dev/null``,
   no ``PIP_*`` index variables), ``--index-url`` the private index and ``--extra-index-url``
   https://pypi.org/simple for third-party packages. pip's installation report must show every
   local package coming from the private index (a public project with the same name must never
   win), then the service's own test suite runs in that folder.
4. With more than one version of a library on the index, the tests run again with the lowest
   versions the service's ranges allow; with one version each, this says so and skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import venv
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.publish import existing_files, project_info, publish

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_INDEX = "https://pypi.org/simple"
COPY_IGNORE = shutil.ignore_patterns(
    ".nox", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "artifacts"
)


def log(message: str) -> None:
    print(f"polyrepo: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_index(packages_dir: Path, log_file: Path) -> tuple[subprocess.Popen[bytes], str]:
    server = shutil.which("pypi-server", path=str(Path(sys.executable).parent)) or "pypi-server"
    for _attempt in range(3):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log_file.open("ab") as out:
            process = subprocess.Popen(
                [
                    server,
                    "run",
                    "-i",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-a",
                    ".",
                    "-P",
                    ".",
                    str(packages_dir),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"{url}/simple/", timeout=2):  # noqa: S310
                    return process, url
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        process.terminate()
        process.wait(10)
    raise SystemExit(f"polyrepo: pypiserver did not start; see {log_file}")


def isolated_pip_env(venv_dir: Path) -> dict[str, str]:
    """The environment without pip's machine configuration (indexes, find-links, constraints)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_DEFAULT_TIMEOUT=os.environ.get("PIP_DEFAULT_TIMEOUT", "60"),
        VIRTUAL_ENV=str(venv_dir),
        PATH=f"{venv_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    if os.environ.get("PIP_CERT"):
        env["PIP_CERT"] = os.environ["PIP_CERT"]
    return env


def local_names() -> set[str]:
    return {
        canonicalize_name(project_info(p.parent)[0])
        for kind in ("libs", "services")
        for p in (ROOT / kind).glob("*/pyproject.toml")
    }


def group_requirements(pyproject: dict[str, Any], group: str) -> list[str]:
    """The requirement strings of a PEP 735 dependency group, included groups expanded."""
    groups = {
        canonicalize_name(name): items for name, items in pyproject["dependency-groups"].items()
    }
    texts: list[str] = []
    for item in groups[canonicalize_name(group)]:
        if isinstance(item, str):
            texts.append(item)
        else:
            texts += group_requirements(pyproject, item["include-group"])
    return texts


def service_requirements(folder: Path, group: str = "test") -> list[Requirement]:
    """What ``pip install --group test .`` asks for: dependencies and the ``group``."""
    with (folder / "pyproject.toml").open("rb") as file:
        pyproject = tomllib.load(file)
    texts = [*pyproject["project"].get("dependencies", []), *group_requirements(pyproject, group)]
    return [Requirement(t) for t in texts]


def depended_services(services: list[Path]) -> list[Path]:
    """Services that another service declares (dependencies, extras or dependency groups)."""
    by_name = {project_info(s)[0]: s for s in services}
    needed = set()
    for service in services:
        with (service / "pyproject.toml").open("rb") as file:
            pyproject = tomllib.load(file)
        project = pyproject["project"]
        texts = [*project.get("dependencies", [])]
        for group in project.get("optional-dependencies", {}).values():
            texts += group
        for name in pyproject.get("dependency-groups", {}):
            texts += group_requirements(pyproject, name)
        for text in texts:
            name = canonicalize_name(Requirement(text).name)
            if name in by_name and by_name[name] != service:
                needed.add(by_name[name])
    return sorted(needed)


def index_versions(index_url: str, name: str) -> list[Version]:
    versions = set()
    for filename in existing_files(index_url, name):
        try:
            if filename.endswith(".whl"):
                versions.add(parse_wheel_filename(filename)[1])
            elif filename.endswith(".tar.gz"):
                versions.add(parse_sdist_filename(filename)[1])
        except ValueError:
            continue
    return sorted(versions)


def install(service_copy: Path, venv_dir: Path, index: str, constraints: list[str]) -> None:
    """A fresh venv with the service and its ``test`` group; local packages from ``index``."""
    venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    python = venv_dir / "bin" / "python"
    env = isolated_pip_env(venv_dir)
    report = venv_dir / "install-report.json"
    extra: list[str] = []
    if constraints:
        constraints_file = venv_dir / "lowest-constraints.txt"
        constraints_file.write_text("\n".join(constraints) + "\n")
        extra = ["--constraint", str(constraints_file)]
    started = time.monotonic()
    # A new venv has the pip bundled with this Python (23.2 here), whose resolver gives up on the
    # OpenTelemetry instrumentations (each pins opentelemetry-instrumentation exactly) and which
    # knows no dependency groups (`--group`: pip 25.1): start from a current pip, as anyone
    # setting up a service would.
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--upgrade",
            "--index-url",
            PUBLIC_INDEX,
            "pip>=25.1",
        ],
        env=env,
        check=True,
    )
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--index-url",
            f"{index}/simple/",
            "--extra-index-url",
            PUBLIC_INDEX,
            "--report",
            str(report),
            *extra,
            # a self-reference in the group (`user-service[dev]`) is satisfied by `.` itself
            "--group",
            "test",
            ".",
        ],
        cwd=service_copy,
        env=env,
        check=True,
    )
    log(f"  installed in {time.monotonic() - started:.0f}s")
    wrong = []
    ours = local_names()
    itself = project_info(service_copy)[0]
    for item in json.loads(report.read_text())["install"]:
        name = canonicalize_name(item["metadata"]["name"])
        url = item["download_info"]["url"]
        expected = "file:" if name == itself else f"{index}/"
        if name in ours and not url.startswith(expected):
            wrong.append(f"{name} from {url}")
        if name in ours:
            log(f"  {name} {item['metadata']['version']} <- {url.split('/')[-1]}")
    if wrong:
        raise SystemExit(f"polyrepo: local packages NOT from the private index: {wrong}")


def run_tests(service_copy: Path, venv_dir: Path, pytest_args: list[str]) -> None:
    started = time.monotonic()
    subprocess.run(
        [str(venv_dir / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", *pytest_args],
        cwd=service_copy,
        env=isolated_pip_env(venv_dir),
        check=True,
    )
    log(f"  tests passed in {time.monotonic() - started:.0f}s")


def lowest_constraints(service: Path, index: str, libs: list[str]) -> tuple[list[str], list[str]]:
    """(pins of the lowest allowed versions, libraries with several allowed versions)."""
    pins, several = [], []
    requirements = service_requirements(service)
    for name in libs:
        specs = [r.specifier for r in requirements if canonicalize_name(r.name) == name]
        if not specs:
            continue
        allowed = [
            v for v in index_versions(f"{index}/simple/", name) if all(v in s for s in specs)
        ]
        if allowed:
            pins.append(f"{name}=={allowed[0]}")
        if len(allowed) > 1:
            several.append(name)
    return pins, several


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", action="append", help="only this service (repeatable)")
    parser.add_argument("--no-tests", action="store_true", help="publish and install only")
    parser.add_argument("pytest_args", nargs="*", help="after --: arguments for pytest")
    args = parser.parse_args(argv)

    libs = sorted(p.parent for p in (ROOT / "libs").glob("*/pyproject.toml"))
    services = sorted(p.parent for p in (ROOT / "services").glob("*/pyproject.toml"))
    chosen = [s for s in services if not args.service or s.name in args.service]
    if not chosen:
        raise SystemExit(f"polyrepo: no service named {args.service}")
    lib_names = [project_info(lib)[0] for lib in libs]
    total = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="polyrepo-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "packages").mkdir()
        server, index = start_index(tmp / "packages", tmp / "pypiserver.log")
        try:
            log(f"private index {index}/simple/ (packages in {tmp / 'packages'})")
            # the local index accepts any credentials (-a . -P .); twine needs some when
            # non-interactive. Never real ones: they stay in the caller's environment only.
            os.environ["TWINE_USERNAME"] = "polyrepo"
            os.environ["TWINE_PASSWORD"] = "local-index-without-auth"  # noqa: S105
            publish([*libs, *depended_services(services)], f"{index}/")
            for service in chosen:
                log(f"== {service.name}: only its folder, a fresh venv, packages from the index")
                copy = tmp / "repos" / service.name
                shutil.copytree(service, copy, ignore=COPY_IGNORE)
                venv_dir = tmp / "venvs" / service.name
                install(copy, venv_dir, index, [])
                if not args.no_tests:
                    run_tests(copy, venv_dir, args.pytest_args)
                pins, several = lowest_constraints(service, index, lib_names)
                if not several:
                    log(
                        f"  lowest versions: SKIPPED, one version of each library on the index "
                        f"({', '.join(pins)}): the run above already used the lowest"
                    )
                    continue
                log(f"  lowest versions allowed: {', '.join(pins)}")
                low_venv = tmp / "venvs" / f"{service.name}-lowest"
                install(copy, low_venv, index, pins)
                if not args.no_tests:
                    run_tests(copy, low_venv, args.pytest_args)
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
    log(f"done in {time.monotonic() - total:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
