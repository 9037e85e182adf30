"""The kit's packages, found on disk, and their installation into a session.

Local libraries are installed from their folders in editable mode before the package under test,
so the requirements a package declares (``alvin-python-lib>=0.1,<0.2``) stay as they are and are
satisfied by the working copy. So are the local services that a package declares (the gateway's
``test`` dependency group names ``user-service``): never from an index, where that name may belong
to someone else. Each package's test requirements are its ``test`` dependency group (PEP 735), not
an extra: they are not part of what the package publishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nox
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[2]


def packages(kind: str) -> list[Path]:
    """The package folders under ``libs/`` or ``services/`` (each with a pyproject.toml)."""
    return sorted(p.parent for p in (ROOT / kind).glob("*/pyproject.toml"))


LIBS = packages("libs")
SERVICES = packages("services")
PACKAGES = LIBS + SERVICES
ECS_DEPLOY = ROOT / "deploy" / "ecs-deploy"


def pyproject(package: Path) -> dict[str, Any]:
    """The parsed pyproject.toml of ``package``."""
    with (package / "pyproject.toml").open("rb") as file:
        data: dict[str, Any] = tomllib.load(file)
    return data


def project_name(package: Path) -> str:
    """The canonical distribution name of ``package``."""
    return canonicalize_name(str(pyproject(package)["project"]["name"]))


def group(package: Path, name: str) -> tuple[set[str], list[str]]:
    """The package's dependency group ``name``: (extras of the package itself, other requirements).

    A group may name its own project (``alvin-grpc-py[telemetry]``): those extras go on the
    install of the package's folder, so that name is never looked up on an index.
    """
    project = pyproject(package)
    if name not in project.get("dependency-groups", {}):
        raise ValueError(
            f"{package.relative_to(ROOT)}: no [dependency-groups] {name} in pyproject.toml"
        )
    own = project_name(package)
    extras: set[str] = set()
    others: list[str] = []
    for text in nox.project.dependency_groups(project, name):
        requirement = Requirement(text)
        if canonicalize_name(requirement.name) == own:
            extras |= requirement.extras
        else:
            others.append(text)
    return extras, others


def _declared(package: Path, *, with_group: str | None) -> list[Requirement]:
    """``dependencies`` and, with ``with_group``, every extra's and that group's requirements."""
    project = pyproject(package)["project"]
    texts = list(project.get("dependencies", []))
    if with_group:
        for extra in project.get("optional-dependencies", {}).values():
            texts += extra
        texts += group(package, with_group)[1]
    return [Requirement(text) for text in texts]


def local_services(*targets: Path, with_group: str | None = "test") -> dict[Path, set[str]]:
    """Local service packages that ``targets`` declare (dependencies, extras or the group).

    A test group may name another service (the gateway's contract tests run the real
    ``user-service``): it must come from its folder, never from an index where an unrelated
    project may own the name. The services found are searched in turn (their dependencies only).
    """
    by_name = {project_name(path): path for path in SERVICES}
    found: dict[Path, set[str]] = {}
    queue: list[tuple[Path, str | None]] = [(target, with_group) for target in targets]
    while queue:
        package, current_group = queue.pop()
        for requirement in _declared(package, with_group=current_group):
            path = by_name.get(canonicalize_name(requirement.name))
            if path is None or path == package or path in targets:
                continue
            if path not in found:
                found[path] = set()
                queue.append((path, None))
            found[path] |= set(requirement.extras)
    return found


def local_closure(package: Path) -> dict[Path, set[str]]:
    """The local packages (libraries and services) that ``package`` needs, with their extras."""
    by_name = {project_name(path): path for path in PACKAGES}
    found: dict[Path, set[str]] = {}
    queue: list[tuple[Path, set[str] | None]] = [(package, None)]  # None: every extra
    while queue:
        current, extras = queue.pop()
        project = pyproject(current)["project"]
        texts = list(project.get("dependencies", []))
        for extra, requirements in project.get("optional-dependencies", {}).items():
            if extras is None or extra in extras:
                texts += requirements
        if current == package:
            texts += group(package, "test")[1]
        for requirement in map(Requirement, texts):
            path = by_name.get(canonicalize_name(requirement.name))
            if path is None or path == package:
                continue
            new = set(requirement.extras) - found.get(path, set())
            if path not in found or new:
                found.setdefault(path, set()).update(requirement.extras)
                queue.append((path, set(requirement.extras)))
    return found


def install_local(
    session: nox.Session,
    *targets: Path,
    with_group: str | None = "test",
    also: Sequence[str] = (),
) -> None:
    """Install the local libraries editable, then the targets with their ``test`` group.

    Local services that a target declares are installed editable from their folders too;
    requirements on local packages are then satisfied by those folders, within one resolution
    (a second install could upgrade what the first one pinned).
    """
    specs: list[str] = []
    for lib in LIBS:
        if lib not in targets:
            specs += ["-e", str(lib.relative_to(ROOT))]
    for service, extras in sorted(local_services(*targets, with_group=with_group).items()):
        suffix = f"[{','.join(sorted(extras))}]" if extras else ""
        specs += ["-e", f"{service.relative_to(ROOT)}{suffix}"]
    requirements: list[str] = []
    for target in targets:
        extras, others = group(target, with_group) if with_group else (set(), [])
        suffix = f"[{','.join(sorted(extras))}]" if extras else ""
        specs += ["-e", f"{target.relative_to(ROOT)}{suffix}"]
        requirements += others
    session.install(*specs, *requirements, *also)


def editable_with_test_group(package: Path) -> list[str]:
    """``-e <folder>`` and the package's ``test`` group: for a package outside libs/ and services/."""
    return ["-e", str(package.relative_to(ROOT)), *group(package, "test")[1]]
