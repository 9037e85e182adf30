"""What docker-compose.yml builds: every service, each image with the build arguments it needs.

One Dockerfile builds every service (deploy/docker/service.Dockerfile), so the arguments carry
what differs: ``SERVICE`` names a folder of ``services/`` (and every such folder is built);
``SCRIPT`` (default: ``SERVICE``) is one of that service's console scripts; ``LIBS`` names
folders of ``libs/``, exactly the shared libraries the service needs, directly, through another
library or through an extra it asks for (one left out would be looked up on the public index,
one too many makes the image bigger); ``BUNDLES`` names exactly the other folders of
``services/`` it depends on (a composition such as ``one-process`` runs them in its process), and
``LIBS`` then covers theirs too. A service may be built by a compose variant instead
(``docker-compose.one-process.yml``). Each Dockerfile is then checked with the arguments of every
image built from it (``dockerfile.check_dockerfile``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .compose_config import COMPOSE_FILE
from .dockerfile import check_dockerfile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")


@dataclass(frozen=True)
class Build:
    """One image that the compose file builds: its Dockerfile (relative to the build context,
    the repository root), its build arguments and the compose services that use it."""

    dockerfile: str
    args: tuple[tuple[str, str], ...]
    services: tuple[str, ...]

    @property
    def arg(self) -> dict[str, str]:
        return dict(self.args)


def builds(config: Mapping[str, Any], root: Path) -> list[Build]:
    """The images of Compose's model, one per Dockerfile and set of arguments."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
    for name, service in (config.get("services") or {}).items():
        build = service.get("build")
        if not build:
            continue
        path = (
            Path(build.get("context", root)) / (build.get("dockerfile") or "Dockerfile")
        ).resolve()
        dockerfile = path.relative_to(root) if path.is_relative_to(root) else path
        args = tuple(sorted((k, str(v or "")) for k, v in (build.get("args") or {}).items()))
        found.setdefault((str(dockerfile), args), []).append(name)
    return [Build(d, a, tuple(s)) for (d, a), s in found.items()]


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _project(folder: Path) -> dict[str, Any]:
    data = tomllib.loads((folder / "pyproject.toml").read_text())
    return dict(data.get("project") or {})


def needed_services(root: Path, service: Path) -> set[str]:
    """The other folders of ``services/`` that ``service`` depends on (its BUNDLES)."""
    others = {
        _name(str(_project(p.parent).get("name", ""))): p.parent.name
        for p in sorted(root.glob("services/*/pyproject.toml"))
        if p.parent != service
    }
    found = set()
    for requirement in _project(service).get("dependencies") or []:
        match = REQUIREMENT.match(requirement)
        if match is not None and _name(match.group(1)) in others:
            found.add(others[_name(match.group(1))])
    return found


def needed_libs(root: Path, service: Path) -> set[str]:
    """The folders of ``libs/`` that ``service`` installs: its dependencies among the shared
    libraries, theirs, and those of the extras asked for on the way (through the services it
    bundles too)."""
    libs = {
        _name(str(_project(p.parent).get("name", ""))): p.parent
        for p in sorted(root.glob("libs/*/pyproject.toml"))
    }
    bundled = {
        _name(str(_project(p.parent).get("name", ""))): p.parent
        for p in sorted(root.glob("services/*/pyproject.toml"))
        if p.parent != service
    }
    needed: set[str] = set()
    seen: set[tuple[str, str]] = set()
    todo: list[tuple[dict[str, Any], set[str]]] = [(_project(service), set())]
    while todo:
        project, extras = todo.pop()
        requirements = list(project.get("dependencies") or [])
        for extra in extras:
            requirements += (project.get("optional-dependencies") or {}).get(extra) or []
        for requirement in requirements:
            match = REQUIREMENT.match(requirement)
            if match is not None and (name := _name(match.group(1))) in bundled:
                if ("service", name) not in seen:
                    seen.add(("service", name))
                    todo.append((_project(bundled[name]), set()))
                continue
            if match is None or (name := _name(match.group(1))) not in libs:
                continue
            asked = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()} | {""}
            fresh = {e for e in asked if (name, e) not in seen}
            seen |= {(name, e) for e in fresh}
            needed.add(libs[name].name)
            if fresh:
                todo.append((_project(libs[name]), fresh - {""}))
    return needed


def _check_service_args(root: Path, build: Build) -> list[str]:
    """SERVICE names a service folder, SCRIPT its console script, LIBS what it needs."""
    where = f"{COMPOSE_FILE}: {', '.join(build.services)} ({build.dockerfile})"
    args = build.arg
    folder = root / "services" / args["SERVICE"]
    if not (folder / "pyproject.toml").is_file():
        return [f"{where}: build arg SERVICE={args['SERVICE']} is not a folder of services/"]
    problems: list[str] = []
    script = args.get("SCRIPT") or args["SERVICE"]
    scripts = sorted(_project(folder).get("scripts") or {})
    if script not in scripts:
        problems.append(
            f"{where}: {script!r} is not a console script of services/{args['SERVICE']} "
            f"(set build arg SCRIPT to one of {scripts})"
        )
    given = set((args.get("LIBS") or "").split())
    needed = needed_libs(root, folder)
    if missing := sorted(needed - given):
        problems.append(
            f"{where}: build arg LIBS lacks {', '.join(missing)}, which services/"
            f"{args['SERVICE']} needs (it would come from the public index)"
        )
    if extra := sorted(given - needed):
        problems.append(
            f"{where}: build arg LIBS names {', '.join(extra)}, which services/"
            f"{args['SERVICE']} does not need"
        )
    bundles = set((args.get("BUNDLES") or "").split())
    if bundles != (wanted := needed_services(root, folder)):
        problems.append(
            f"{where}: build arg BUNDLES is {' '.join(sorted(bundles)) or '(empty)'}; services/"
            f"{args['SERVICE']} depends on {' '.join(sorted(wanted)) or 'no other service'}"
        )
    return problems


def check_builds(
    root: Path, config: Mapping[str, Any], variants: Sequence[Mapping[str, Any]] = ()
) -> tuple[list[str], list[str]]:
    """(problems, notes) of the images that Compose's model ``config`` builds, and those of the
    compose variants' models (``variants``: the file merged with each variant)."""
    problems: list[str] = []
    images = builds(config, root)
    for variant in variants:
        known = {(b.dockerfile, b.args) for b in images}
        images += [b for b in builds(variant, root) if (b.dockerfile, b.args) not in known]
    built = {b.arg["SERVICE"] for b in images if b.arg.get("SERVICE")}
    problems += [
        f"{package.relative_to(root)} is not built by {COMPOSE_FILE} or a variant (a build with "
        f"the arg SERVICE: {package.name})"
        for package in sorted(p.parent for p in root.glob("services/*/pyproject.toml"))
        if package.name not in built
    ]
    notes: list[str] = []
    for dockerfile in sorted({b.dockerfile for b in images}):
        path = root / dockerfile
        if not path.is_file():
            continue  # compose_services reports it
        text = path.read_text()
        users = [b for b in images if b.dockerfile == dockerfile]
        for build in users:
            problems += [
                f"{dockerfile} with the args of {', '.join(build.services)}: {problem}"
                for problem in check_dockerfile(text, root, build.arg)
            ]
            if "SERVICE" in build.arg:
                problems += _check_service_args(root, build)
        names = [b.arg.get("SERVICE") or b.services[0] for b in users]
        notes.append(f"Dockerfiles: {dockerfile} with the args of {', '.join(names)}")
    return problems, notes
