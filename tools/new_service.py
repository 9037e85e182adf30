"""Add a gRPC (default) or GraphQL microservice to the kit: ``nox -s new-service -- billing``.

    python tools/new_service.py NAME [--grpc | --graphql] [--no-generate] [--no-fix]

NAME is the service's short name (``billing``; ``billing-service`` is accepted too): lowercase
letters and digits, words joined by ``_`` or ``-``. It becomes the distribution
``billing-service``, the import name ``billing_service``, the proto package
``alvin.billing.v1`` with the service ``BillingService``, the settings prefix
``BILLING_SERVICE_`` and the compose services ``billing-postgres``, ``billing-migrate``,
``billing-grpc``.

Written from the plain-text templates in ``tools/templates/grpc-service/`` (``{{placeholders}}`` in
contents, ``__dist__``/``__pkg__``/``__svc__``/``__date__`` in paths; no template engine):

- ``services/billing-service/``: the user-service's shape (api, app, commands, db, remote,
  service, tasks; one composition root ``app/bootstrap.py`` whose objects ``app/server.py`` hands
  to the servicer), settings, the ``items`` table with its first migration, a servicer with the
  CreateItem RPC, tests (gRPC on loopback, migrations, import-linter), a README, a CHANGELOG and
  the import-linter contracts in its pyproject.toml (no Dockerfile: every image comes from
  ``deploy/docker/service.Dockerfile`` with the service's build args);
- ``proto/alvin/billing/v1/billing_service.proto`` (one RPC; buf lint clean) and the regenerated
  stubs in ``libs/alvin-protos`` (``--no-generate`` leaves that to ``nox -s proto``);
- ``services/billing-service/requirements.lock``, the hashed lock its image installs
  (``deploy/docker/lock.py``; ``--no-generate`` leaves it out too);
- ``deploy/compose/billing-service.env``; the gateway's client
  ``gateway_graphql/remote/billing_service.py`` and its contract test against the real service;
- ``deploy/terraform-ecs/billing-service.tf``: its ECR repository, ECS gRPC service (Service
  Connect ``billing-grpc:50051``, called by the gateway), migration task definition, security
  group rules, task role and the variable ``billing_database_url_secret_arn``.

And it edits, in place: ``docker-compose.yml`` (services built by the shared Dockerfile with
``SERVICE`` and ``LIBS``, a volume), ``.env.example`` (the image
name), the root ``pyproject.toml`` (isort first-party), the gateway's ``pyproject.toml`` (the service
in its ``test`` dependency group; the import-linter contract that forbids importing services) and
the list of ECS services in ``deploy/terraform-ecs/tests/test_terraform.py``. noxfile.py needs
no edit: it discovers ``services/*``. Nothing is overwritten: an existing file is an error.

``--graphql`` (``nox -s new-service -- reports --graphql``) makes a GraphQL service with its own
database instead, from ``tools/templates/graphql-service/`` plus the transport-free files of the
gRPC template (db, service, the other layers, the composition root app/bootstrap.py, the test
fixtures, the migrations and import-linter tests:
``SHARED_FROM_GRPC``): Flask + Graphene 3 on graphql-server's view (``item``, ``items``,
``createItem``), ``/healthz`` and ``/readyz``, the ``reports-service`` command (``serve`` with
gunicorn, ``runserver``, ``db``, ``shell``), GraphQL tests through HTTP, the compose
services ``reports-postgres``, ``reports-migrate``, ``reports-web`` (port 8000) and
``deploy/terraform-ecs/reports-service.tf`` (ECS service ``reports_web``, migration task). No proto
and no gateway client: the service is its own public API (or sits behind nginx / the ALB); the
gateway is not edited.
"""

from __future__ import annotations

import argparse
import datetime as dt
import keyword
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "templates"
KIT = "alvin"  # the kit's own name (tools/rename.py rewrites it with everything else)
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*$")


class NewServiceError(Exception):
    """A refused name or a step that failed."""


@dataclass(frozen=True)
class ServiceNames:
    """Every form of the new service's name."""

    svc: str  # billing (proto package component, snake case)

    @property
    def short(self) -> str:
        return self.svc.replace("_", "-")

    @property
    def dist(self) -> str:
        return f"{self.short}-service"

    @property
    def pkg(self) -> str:
        return f"{self.svc}_service"

    @property
    def camel(self) -> str:
        return "".join(part.capitalize() for part in self.svc.split("_"))

    @property
    def env(self) -> str:
        return self.pkg.upper()

    def placeholders(self) -> dict[str, str]:
        return {
            "{{svc}}": self.svc,
            "{{Svc}}": self.camel,
            "{{short}}": self.short,
            "{{dist}}": self.dist,
            "{{pkg}}": self.pkg,
            "{{ENV}}": self.env,
        }

    def path_placeholders(self) -> dict[str, str]:
        return {
            "__dist__": self.dist,
            "__pkg__": self.pkg,
            "__svc__": self.svc,
            "__date__": dt.date.today().strftime("%Y%m%d"),
        }


def service_names(name: str, root: Path = ROOT) -> ServiceNames:
    """The new service's names, or NewServiceError when the name is refused or taken."""
    base = re.sub(r"[-_]service$", "", name.strip())
    if not NAME_RE.match(base):
        raise NewServiceError(
            f"{name!r} is not a valid service name: lowercase letters and digits, starting with a"
            " letter, words joined by - or _ (e.g. billing or payment-methods)"
        )
    names = ServiceNames(base.replace("-", "_"))
    if keyword.iskeyword(names.svc) or names.svc in (KIT, "gateway"):
        raise NewServiceError(f"{name!r} is reserved")
    for taken in (
        root / "services" / names.dist,
        root / "proto" / KIT / names.svc,
    ):
        if taken.exists():
            raise NewServiceError(f"{taken.relative_to(root)} already exists")
    return names


def render(text: str, names: ServiceNames) -> str:
    """A template's text with the placeholders filled in."""
    for key, value in names.placeholders().items():
        text = text.replace(key, value)
    left = re.findall(r"\{\{\w+\}\}", text)
    if left:
        raise NewServiceError(f"unknown template placeholders: {sorted(set(left))}")
    return text


GRPC = "grpc-service"
GRAPHQL = "graphql-service"
# Files of the gRPC template that a GraphQL service uses as they are (no transport in them).
SHARED_FROM_GRPC = tuple(
    f"services/__dist__/{rel}"
    for rel in (
        "src/__pkg__/db/",
        "src/__pkg__/service/",
        "src/__pkg__/remote/",
        "src/__pkg__/tasks/",
        "src/__pkg__/py.typed",
        "src/__pkg__/app/bootstrap.py",
        "tests/conftest.py",
        "tests/test_migrations.py",
        "tests/test_architecture.py",
    )
)


def _templates(kind: str) -> list[tuple[Path, str]]:
    """(template, relative target with path placeholders) of every file of ``kind``."""

    def rels(source: Path) -> list[tuple[Path, str]]:
        found = sorted(source.rglob("*.tmpl"))
        return [(t, t.relative_to(source).as_posix().removesuffix(".tmpl")) for t in found]

    own = rels(TEMPLATES / kind)
    if kind != GRAPHQL:
        return own
    shared = [(t, rel) for t, rel in rels(TEMPLATES / GRPC) if rel.startswith(SHARED_FROM_GRPC)]
    return sorted([*own, *shared], key=lambda pair: pair[1])


def write_templates(names: ServiceNames, root: Path, kind: str = GRPC) -> list[Path]:
    """Render ``tools/templates/<kind>/`` (for GraphQL, also ``SHARED_FROM_GRPC``) into ``root``;
    returns the files written."""
    plan: list[tuple[Path, Path]] = []
    for template, pattern in _templates(kind):
        rel = pattern
        for key, value in names.path_placeholders().items():
            rel = rel.replace(key, value)
        target = root / rel
        if target.exists():
            raise NewServiceError(f"{rel} already exists: nothing was written")
        plan.append((template, target))
    for template, target in plan:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(template.read_text(encoding="utf-8"), names), encoding="utf-8")
    return [target for _, target in plan]


def _edit(path: Path, change: str, edit: Callable[[str], str]) -> None:
    """Apply ``edit(text) -> text`` to ``path``; NewServiceError naming ``change`` if it fails."""
    text = path.read_text(encoding="utf-8")
    new = edit(text)
    if new == text:
        raise NewServiceError(f"{path.name}: could not {change} (layout not recognised)")
    path.write_text(new, encoding="utf-8")


def _snippet(name: str, names: ServiceNames) -> str:
    return render((TEMPLATES / "snippets" / f"{name}.tmpl").read_text(encoding="utf-8"), names)


def edit_compose(root: Path, names: ServiceNames, kind: str = GRPC) -> None:
    """Add the service's containers before the top-level ``volumes:`` and its data volume."""
    snippet = (
        "docker-compose.graphql-services.yml" if kind == GRAPHQL else "docker-compose.services.yml"
    )
    block = _snippet(snippet, names)

    def edit(text: str) -> str:
        match = re.search(r"^volumes:[ \t]*\n", text, re.M)
        if match is None:
            return text
        body = text[: match.start()].rstrip("\n") + "\n" + block + "\n"
        volume = f"  {names.short}-postgres-data:\n"
        return body + match.group(0) + volume + text[match.end() :]

    _edit(root / "docker-compose.yml", "add the compose services", edit)

    def edit_env(text: str) -> str:
        lines = text.splitlines(keepends=True)
        last = max((i for i, line in enumerate(lines) if line.startswith("IMAGE_")), default=None)
        if last is None:
            return text
        lines.insert(last + 1, f"IMAGE_{names.env}={KIT}/{names.dist}:dev\n")
        return "".join(lines)

    _edit(root / ".env.example", "add the image name", edit_env)


def _append_item(text: str, opening: str, closing: str, item: str) -> str:
    """Add ``"item"`` at the end of the one-line list that starts with ``opening`` on a line."""
    return re.sub(
        rf"^({opening})(.*?)({closing})",
        lambda m: f'{m[1]}{m[2]}, "{item}"{m[3]}',
        text,
        count=1,
        flags=re.M,
    )


def edit_root_pyproject(root: Path, names: ServiceNames) -> None:
    """The new import name is first-party for ruff's isort."""
    _edit(
        root / "pyproject.toml",
        "add the first-party import name",
        lambda text: _append_item(text, r"known-first-party\s*=\s*\[", r"\]", names.pkg),
    )


def edit_gateway(root: Path, names: ServiceNames) -> None:
    """The gateway's test group installs the service; its contract forbids importing it."""
    path = root / "services" / "gateway-graphql" / "pyproject.toml"

    def edit(text: str) -> str:
        text = re.sub(
            r"^(\[dependency-groups\]\n(?:#.*\n)*test = \[\n)",
            rf"\1  # the real {names.dist}, run as a subprocess by its client\'s contract test\n"
            rf'  "{names.dist}>=0.1,<0.2",\n',
            text,
            count=1,
            flags=re.M,
        )
        return re.sub(
            r'^(forbidden_modules = \["user_service")',
            rf'\1, "{names.pkg}"',
            text,
            count=1,
            flags=re.M,
        )

    _edit(path, "add the service to the gateway", edit)


def edit_terraform_tests(root: Path, names: ServiceNames, kind: str = GRPC) -> None:
    """The Terraform tests list every ECS service that uses the module: add the new one."""
    path = root / "deploy" / "terraform-ecs" / "tests" / "test_terraform.py"
    if not path.exists():
        return
    module = f"{names.svc}_web" if kind == GRAPHQL else f"{names.svc}_grpc"
    _edit(
        path,
        "add the ECS service to the Terraform tests",
        lambda text: _append_item(text, r"SERVICES = \{", r"\}", module),
    )


def regenerate_stubs(root: Path) -> None:
    """Regenerate the stubs package from proto/ (buf and the plugins next to this Python)."""
    script = root / "libs" / f"{KIT.replace('_', '-')}-protos" / "tools" / "generate.py"
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if subprocess.run([sys.executable, str(script)], cwd=root, env=env, check=False).returncode:
        raise NewServiceError(
            "regenerating the stubs failed (run through `nox -s new-service`, or pass"
            " --no-generate and run `nox -s proto`)"
        )


def write_lock(root: Path, names: ServiceNames) -> None:
    """The service's hashed requirements.lock, which its image installs (deploy/docker/lock.py)."""
    script = root / "deploy" / "docker" / "lock.py"
    command = [sys.executable, str(script), names.dist, "--root", str(root)]
    if subprocess.run(command, cwd=root, check=False).returncode:
        raise NewServiceError(
            f"writing services/{names.dist}/requirements.lock failed (needs uv and the package"
            f" index; or pass --no-generate and run `python deploy/docker/lock.py {names.dist}`)"
        )


def fix_style(root: Path, files: list[Path]) -> None:
    """ruff: sort imports and format the generated Python files (long names may need it)."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    python = [str(f) for f in files if f.suffix == ".py" and f.exists()]
    if ruff is None or not python:
        return
    subprocess.run(
        [ruff, "check", "--select", "I,RUF022", "--fix", "-q", *python], cwd=root, check=False
    )
    subprocess.run([ruff, "format", "-q", *python], cwd=root, check=False)


def new_service(
    name: str, *, root: Path = ROOT, generate: bool = True, fix: bool = True, kind: str = GRPC
) -> list[Path]:
    """Create the service ``name`` (``kind``: GRPC or GRAPHQL) in the kit at ``root``; returns
    the files written."""
    names = service_names(name, root)
    files = write_templates(names, root, kind)
    edit_compose(root, names, kind)
    edit_root_pyproject(root, names)
    if kind == GRPC:
        edit_gateway(root, names)
    edit_terraform_tests(root, names, kind)
    if generate and kind == GRPC:
        regenerate_stubs(root)
    if generate:
        write_lock(root, names)
    if fix:
        fix_style(root, [*files, root / "deploy" / "terraform-ecs" / "tests" / "test_terraform.py"])
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="the service's short name, e.g. billing")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--grpc", action="store_true", help="a gRPC service (the default)")
    kind.add_argument(
        "--graphql", action="store_true", help="a GraphQL service (Flask + Graphene), own database"
    )
    parser.add_argument(
        "--no-generate", action="store_true", help="do not regenerate the stubs nor write the lock"
    )
    parser.add_argument("--no-fix", action="store_true", help="do not run ruff on the new files")
    args = parser.parse_args(argv)
    service_kind = GRAPHQL if args.graphql else GRPC
    try:
        dist = service_names(args.name).dist
        files = new_service(
            args.name, generate=not args.no_generate, fix=not args.no_fix, kind=service_kind
        )
    except NewServiceError as error:
        print(f"new-service: {error}", file=sys.stderr)
        return 2
    print(f"new-service: {len(files)} files written:")
    for path in files:
        print(f"  {path.relative_to(ROOT)}")
    first = "" if service_kind == GRAPHQL else "proto "
    print(f"new-service: next: nox -s {first}tests-{dist} compose, then git add the new files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
