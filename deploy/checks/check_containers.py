"""Static checks of the container setup: the Dockerfiles, docker-compose.yml and nginx.conf.

Docker cannot run on the kit's machines, so ``nox -s compose`` checks the files instead: the real
Compose v2 binary validates docker-compose.yml (``config -q``), the compose-spec JSON schema
validates it again, and this script checks the rules the kit holds itself to::

    python deploy/checks/check_containers.py [--root DIR] [--nginx-syntax]

Exit status 0 when every rule holds, 1 with one line per broken rule otherwise. The rules:

Dockerfiles (``services/*/Dockerfile``)
    every base image is pinned (a version tag such as ``3.11.10-slim-bookworm`` or a digest;
    never ``latest`` or untagged); the final stage runs as a non-root ``USER``, has a
    ``HEALTHCHECK``, a ``STOPSIGNAL``, ``PYTHONUNBUFFERED`` and exec-form (JSON) ``ENTRYPOINT`` /
    ``CMD``; it installs no compilers or ``-dev`` packages, no ``test``/``dev`` extras, and no pip
    cache; every ``COPY`` source exists in the build context (the repository root).
docker-compose.yml (+ ``.env.example`` and the ``env_file`` files)
    every image is pinned (services built here name a non-``latest`` tag); every long-running
    service has a healthcheck and a restart policy; one-shot services (those waited for with
    ``service_completed_successfully``) do not restart; every ``depends_on`` uses the long form
    with ``service_healthy`` (long-running) or ``service_completed_successfully`` (one-shot);
    every ``${VAR}`` has a default or is in ``.env.example``, defaults equal ``.env.example``'s
    values and ``.env.example`` has no unused entries nor names of the services' settings
    (``APP_ENV``, ``USER_SERVICE_*``, ``GATEWAY_*``); secrets come from interpolation and their
    placeholders say ``dev-only``; ``APP_ENV`` does not default to production; bind addresses are
    not loopback; ``stop_grace_period`` covers the processes' own shutdown grace; PostgreSQL keeps
    its data in a named volume; every ``env_file`` and build Dockerfile exists.
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

import yaml
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
ROOT_USERS = {"", "0", "root"}
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
GRAPHIQL_MODULE = "services/gateway-graphql/src/gateway_graphql/lib/graphiql.py"
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


def _substitute(text: str, args: Mapping[str, str]) -> str:
    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return args.get(name, match.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, text)


def parse_stages(text: str) -> tuple[list[Stage], list[str]]:
    """The stages of a Dockerfile and the problems met while reading it."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()), env_replace=False)
    problems: list[str] = []
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in parser.structure:
        kind = instruction["instruction"]
        if kind == "COMMENT":
            continue
        if kind == "FROM":
            _, rest = _strip_flags(instruction["value"])
            words = rest.split()
            if not words:
                problems.append(f"line {instruction['startline'] + 1}: FROM without an image")
                continue
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append(Stage(_substitute(words[0], global_args), name, instruction["startline"]))
        elif not stages:
            if kind == "ARG":
                key, _, default = instruction["value"].partition("=")
                global_args[key.strip()] = default.strip().strip("\"'")
            else:
                problems.append(f"line {instruction['startline'] + 1}: {kind} before any FROM")
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        problems.append("no FROM: not a Dockerfile")
    return stages, problems


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
    """Pinned base images; COPY sources present in the build context."""
    problems: list[str] = []
    names = {s.name for s in stages if s.name}
    for stage in stages:
        if stage.base in names:
            pass
        elif "$" in stage.base:
            problems.append(f"line {stage.line + 1}: base image {stage.base!r} has an unset ARG")
        elif pin := image_pin_problem(stage.base):
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
                if "://" in source:
                    problems.append(f"line {line}: ADD from a URL")
                elif not list(root.glob(source.rstrip("/") or ".")):
                    problems.append(
                        f"line {line}: COPY source {source!r} is not in the build context "
                        "(the repository root)"
                    )
    return problems


def _check_final_metadata(final: Stage) -> list[str]:
    """USER, HEALTHCHECK, STOPSIGNAL, exec-form ENTRYPOINT/CMD of the final stage."""
    problems: list[str] = []
    where = f"final stage (FROM {final.base}, line {final.line + 1})"
    users = final.all("USER")
    if not users:
        problems.append(f"{where}: no USER (it would run as root)")
    else:
        user, _, group = users[-1]["value"].strip().partition(":")
        if user in ROOT_USERS or group in ("0", "root"):
            problems.append(f"{where}: USER {users[-1]['value'].strip()} is root")
    healthchecks = final.all("HEALTHCHECK")
    if not healthchecks:
        problems.append(f"{where}: no HEALTHCHECK")
    else:
        _, rest = _strip_flags(healthchecks[-1]["value"])
        if rest.upper().startswith("NONE"):
            problems.append(f"{where}: HEALTHCHECK NONE")
        elif not rest.startswith("CMD") or _exec_form(rest[3:].strip()) is None:
            problems.append(f"{where}: HEALTHCHECK is not CMD [exec form]")
    if not final.all("STOPSIGNAL"):
        problems.append(f"{where}: no STOPSIGNAL")
    entry = final.all("ENTRYPOINT") + final.all("CMD")
    if not entry:
        problems.append(f"{where}: neither ENTRYPOINT nor CMD")
    problems += [
        f"line {i['startline'] + 1}: {i['instruction']} is in shell form (use the exec form "
        '["prog", "arg"] so the process gets the stop signal)'
        for i in entry
        if _exec_form(i["value"].strip()) is None
    ]
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
            if "--no-cache-dir" not in pip and not cache_off and pip[0] != "uv":
                problems.append(f"line {line}: pip install keeps its cache (add --no-cache-dir)")
    return problems


def check_dockerfile(text: str, root: Path | None = None) -> list[str]:
    """The broken rules of one Dockerfile (empty: it is fine). COPY sources are looked up under
    ``root`` (the build context) when given."""
    stages, problems = parse_stages(text)
    if not stages:
        return problems
    problems += _check_bases(stages, root)
    problems += _check_final_metadata(stages[-1])
    problems += _check_final_installs(stages[-1])
    return problems


# -------------------------------------------------------------------------------------------------
# variable interpolation (compose's ${VAR}, ${VAR:-default}, ${VAR?err} ..., $$ is a literal $)
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VarUse:
    """One ``${...}`` in the compose file."""

    name: str
    operator: str  # "", ":-", "-", ":?", "?", ":+", "+"
    argument: str


def _scan(text: str) -> Iterator[tuple[int, int, VarUse]]:
    """(start, end, use) of each interpolation in ``text``, outermost only."""
    i = 0
    while i < len(text):
        if text[i] != "$":
            i += 1
            continue
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth, j = 1, i + 2
            while j < len(text) and depth:
                if text.startswith("${", j):
                    depth, j = depth + 1, j + 2
                    continue
                depth += {"{": 0, "}": -1}.get(text[j], 0)
                j += 1
            body = text[i + 2 : j - 1]
            match = re.match(r"^(\w+)(:-|-|:\?|\?|:\+|\+)?(.*)$", body, re.DOTALL)
            if match:
                yield i, j, VarUse(match.group(1), match.group(2) or "", match.group(3))
            i = j
            continue
        match = re.match(r"\$(\w+)", text[i:])
        if match:
            yield i, i + match.end(), VarUse(match.group(1), "", "")
            i += match.end()
            continue
        i += 1


def variable_uses(text: str) -> Iterator[VarUse]:
    """Every interpolation in ``text``, nested defaults included."""
    for _, _, use in _scan(text):
        yield use
        yield from variable_uses(use.argument)


def interpolate(text: str, values: Mapping[str, str]) -> str:
    """``text`` with its variables replaced as compose does (unset variables become "")."""
    out, last = [], 0
    for start, end, use in _scan(text):
        out.append(text[last:start])
        value = values.get(use.name)
        argument = interpolate(use.argument, values)
        if use.operator == ":-":
            out.append(value if value else argument)
        elif use.operator == "-":
            out.append(value if value is not None else argument)
        elif use.operator == ":+":
            out.append(argument if value else "")
        elif use.operator == "+":
            out.append(argument if value is not None else "")
        else:
            out.append(value or "")
        last = end
    out.append(text[last:])
    return "".join(out).replace("$$", "$")


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines (``export``, comments and surrounding quotes as compose reads them)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


# -------------------------------------------------------------------------------------------------
# docker-compose.yml
# -------------------------------------------------------------------------------------------------


def parse_duration(text: str | int | float) -> float | None:
    """Seconds in a compose duration (``1m30s``, ``15s``, ``500ms``), None when unparsable."""
    if isinstance(text, int | float):
        return float(text)
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(n) * units[u] for n, u in parts)


def _env_entries(node: Any) -> dict[str, str]:
    if isinstance(node, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in node.items()}
    if isinstance(node, list):
        return dict(str(item).split("=", 1) if "=" in str(item) else (item, "") for item in node)
    return {}


def _env_file_paths(node: Any) -> list[tuple[str, bool]]:
    if node is None:
        return []
    items = node if isinstance(node, list) else [node]
    paths = []
    for item in items:
        if isinstance(item, Mapping):
            paths.append((str(item.get("path", "")), bool(item.get("required", True))))
        else:
            paths.append((str(item), True))
    return paths


def _command_words(node: Any) -> list[str]:
    if isinstance(node, list):
        return [str(w) for w in node]
    if isinstance(node, str):
        return shlex.split(node)
    return []


def _check_variables(doc: Mapping[str, Any], example: Mapping[str, str]) -> list[str]:
    """Every ${VAR} has a default or an .env.example entry; both agree; no stale entries."""
    problems: list[str] = []
    uses = [use for text in _strings(doc) for use in variable_uses(text)]
    for use in uses:
        has_default = use.operator in (":-", "-", ":+", "+")
        if not has_default and use.name not in example:
            problems.append(
                f"${{{use.name}}} has no default and is not in {ENV_EXAMPLE} "
                f"(write ${{{use.name}:-value}} or add it there)"
            )
        if use.operator in (":-", "-") and use.name in example:
            default = interpolate(use.argument, example)
            if default != example[use.name]:
                problems.append(
                    f"${{{use.name}}} defaults to {default!r} in {COMPOSE_FILE} but "
                    f"{ENV_EXAMPLE} says {example[use.name]!r}"
                )
    used = {use.name for use in uses}
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
    return problems


@dataclass
class ComposeProject:
    """A parsed compose file with what the per-service checks need to know."""

    services: Mapping[str, Any]
    example: Mapping[str, str]
    root: Path
    named_volumes: set[str]
    depends: dict[str, dict[str, Any]] = field(default_factory=dict)
    one_shot: set[str] = field(default_factory=set)

    def resolve(self, value: Any) -> Any:
        return interpolate(value, self.example) if isinstance(value, str) else value


def _dependencies(project: ComposeProject) -> list[str]:
    """Fill ``depends`` and ``one_shot``; short-form depends_on is a problem."""
    problems: list[str] = []
    for name, service in project.services.items():
        raw = (service or {}).get("depends_on") or {}
        if isinstance(raw, list):
            problems.append(
                f"service {name}: depends_on {raw} has no conditions (use the long form with "
                "condition: service_healthy / service_completed_successfully)"
            )
            raw = dict.fromkeys(raw)
        project.depends[name] = dict(raw)
    project.one_shot = {
        target
        for deps in project.depends.values()
        for target, spec in deps.items()
        if (spec or {}).get("condition") == "service_completed_successfully"
    }
    project.one_shot |= {
        n for n, s in project.services.items() if str((s or {}).get("restart", "")) == "no"
    }
    return problems


def _check_image(where: str, service: Mapping[str, Any], project: ComposeProject) -> list[str]:
    image = project.resolve(service.get("image"))
    build = service.get("build")
    if build is None:
        if not image:
            return [f"{where}: neither image nor build"]
        pin = image_pin_problem(image)
        return [f"{where}: image {pin}"] if pin else []
    problems: list[str] = []
    context = project.root / str(build if isinstance(build, str) else build.get("context", "."))
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile")
    if not (context / (dockerfile or "Dockerfile")).is_file():
        problems.append(f"{where}: build Dockerfile {dockerfile!r} does not exist")
    if not image:
        problems.append(f"{where}: builds an image without naming it (set image: name:tag)")
    elif pin := image_pin_problem(image, version_tag=False):
        problems.append(f"{where}: image {pin}")
    return problems


def _check_lifecycle(name: str, service: Mapping[str, Any], project: ComposeProject) -> list[str]:
    """Healthcheck and restart policy by kind; depends_on conditions."""
    problems: list[str] = []
    where = f"service {name}"
    restart = str(service.get("restart", "no"))
    if name in project.one_shot:
        if restart in ("always", "unless-stopped"):
            problems.append(f"{where}: one-shot service with restart: {restart}")
    else:
        healthcheck = service.get("healthcheck") or {}
        test = healthcheck.get("test")
        if healthcheck.get("disable") or not test or (isinstance(test, list) and test[0] == "NONE"):
            problems.append(f"{where}: long-running service without a healthcheck")
        elif isinstance(test, list) and test[0] not in ("CMD", "CMD-SHELL"):
            problems.append(f"{where}: healthcheck test must start with CMD or CMD-SHELL")
        if restart == "no":
            problems.append(f"{where}: long-running service without a restart policy")
    for target, spec in project.depends.get(name, {}).items():
        if target not in project.services:
            problems.append(f"{where}: depends on unknown service {target}")
            continue
        wanted = (
            "service_completed_successfully" if target in project.one_shot else "service_healthy"
        )
        if (spec or {}).get("condition") != wanted:
            problems.append(f"{where}: depends_on {target} needs condition: {wanted}")
    return problems


def _service_env(
    where: str, service: Mapping[str, Any], project: ComposeProject
) -> tuple[dict[str, str], list[str]]:
    """The container's environment (env_file, then environment) and the problems met."""
    problems: list[str] = []
    env: dict[str, str] = {}
    for path, required in _env_file_paths(service.get("env_file")):
        file = project.root / project.resolve(path)
        if file.is_file():
            env.update(parse_env_file(file.read_text()))
        elif required:
            problems.append(f"{where}: env_file {path} does not exist")
    raw_env = _env_entries(service.get("environment"))
    problems += [
        f"{where}: {key} is written into {COMPOSE_FILE}; take it from .env "
        "(${VAR:-dev-only-placeholder})"
        for key, value in raw_env.items()
        if SECRET_NAME.search(key) and value and not list(variable_uses(value))
    ]
    env.update({k: project.resolve(v) for k, v in raw_env.items()})
    if env.get("APP_ENV") == "production":
        problems.append(
            f"{where}: APP_ENV defaults to production, which refuses the placeholder secrets"
        )
    problems += [
        f"{where}: {key}={env[key]} is unreachable from other containers"
        for key in BIND_SETTINGS
        if env.get(key, "").strip() in LOOPBACK
    ]
    return env, problems


def _check_grace(
    name: str, service: Mapping[str, Any], env: Mapping[str, str], project: ComposeProject
) -> list[str]:
    """stop_grace_period covers the process's own shutdown grace."""
    where = f"service {name}"
    grace_text = service.get("stop_grace_period")
    if grace_text is None and service.get("build") is not None and name not in project.one_shot:
        return [f"{where}: no stop_grace_period (say how long its shutdown takes)"]
    grace = parse_duration(grace_text) if grace_text is not None else COMPOSE_DEFAULT_GRACE_S
    if grace is None:
        return [f"{where}: stop_grace_period {grace_text!r} is not a duration"]
    command = _command_words(service.get("command"))
    if not command or command[0] not in GRACE_SETTINGS:
        return []
    settings = GRACE_SETTINGS[command[0]]
    try:
        needed = sum(float(env.get(k, d)) for k, d in settings.items()) + SHUTDOWN_MARGIN_S
    except ValueError:
        return [f"{where}: {', '.join(settings)} must be numbers"]
    if grace < needed:
        return [
            f"{where}: stop_grace_period {grace:g}s < {' + '.join(settings)} + "
            f"{SHUTDOWN_MARGIN_S:g}s = {needed:g}s (the container would be killed mid-shutdown)"
        ]
    return []


def _check_volumes(where: str, service: Mapping[str, Any], project: ComposeProject) -> list[str]:
    """Named volumes are declared; PostgreSQL keeps its data in one."""
    problems: list[str] = []
    mounts: list[tuple[str, str]] = []
    for mount in service.get("volumes") or []:
        if isinstance(mount, Mapping):
            mounts.append((str(mount.get("source", "")), str(mount.get("target", ""))))
        else:
            source, _, rest = str(mount).partition(":")
            mounts.append((source, rest.split(":")[0]))
    problems += [
        f"{where}: volume {source!r} is not declared under volumes:"
        for source, _ in mounts
        if source
        and not source.startswith((".", "/", "~", "$"))
        and source not in project.named_volumes
    ]
    image = project.resolve(service.get("image")) or ""
    if split_image(image)[0].split("/")[-1] == "postgres" and not any(
        s in project.named_volumes and t == "/var/lib/postgresql/data" for s, t in mounts
    ):
        problems.append(f"{where}: PostgreSQL data is not in a named volume")
    return problems


def check_compose(
    compose_text: str, env_example_text: str | None, root: Path
) -> tuple[list[str], dict[str, Any]]:
    """The broken rules of a compose file (and the parsed file, for the nginx check)."""
    try:
        doc = yaml.safe_load(compose_text)
    except yaml.YAMLError as exc:
        return [f"{COMPOSE_FILE}: not YAML: {exc}"], {}
    if not isinstance(doc, Mapping) or not isinstance(doc.get("services"), Mapping):
        return [f"{COMPOSE_FILE}: no services"], {}
    problems: list[str] = []
    if env_example_text is None:
        problems.append(f"{ENV_EXAMPLE} is missing")
    example = parse_env_file(env_example_text or "")
    problems += _check_variables(doc, example)
    project = ComposeProject(
        services=doc["services"],
        example=example,
        root=root,
        named_volumes=set((doc.get("volumes") or {}).keys()),
    )
    problems += _dependencies(project)
    for name, raw in project.services.items():
        service = raw or {}
        where = f"service {name}"
        problems += _check_image(where, service, project)
        problems += _check_lifecycle(name, service, project)
        env, found = _service_env(where, service, project)
        problems += found
        problems += _check_grace(name, service, env, project)
        problems += _check_volumes(where, service, project)
    return problems, dict(doc)


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


def _built_dockerfiles(compose: Mapping[str, Any], root: Path) -> set[Path]:
    built = set()
    for service in (compose.get("services") or {}).values():
        build = (service or {}).get("build")
        if isinstance(build, Mapping):
            context = root / str(build.get("context", "."))
            built.add((context / str(build.get("dockerfile", "Dockerfile"))).resolve())
        elif isinstance(build, str):
            built.add((root / build / "Dockerfile").resolve())
    return built


def check_all(root: Path, *, nginx_test: bool = False) -> tuple[list[str], list[str]]:
    """(problems, notes) for the repository at ``root``."""
    problems, dockerfiles = _check_dockerfiles(root)
    notes = [
        f"{len(dockerfiles)} Dockerfiles: "
        + ", ".join(str(p.relative_to(root)) for p in dockerfiles)
    ]

    compose_path, env_path = root / COMPOSE_FILE, root / ENV_EXAMPLE
    compose: dict[str, Any] = {}
    if not compose_path.is_file():
        problems.append(f"{COMPOSE_FILE} is missing")
    else:
        env_text = env_path.read_text() if env_path.is_file() else None
        found, compose = check_compose(compose_path.read_text(), env_text, root)
        problems += found
        built = _built_dockerfiles(compose, root)
        problems += [
            f"{path.relative_to(root)} is not built by {COMPOSE_FILE}"
            for path in dockerfiles
            if path.resolve() not in built
        ]
        notes.append(
            f"{COMPOSE_FILE}: {len(compose.get('services') or {})} services, {ENV_EXAMPLE}"
        )

    nginx_path = root / NGINX_CONF
    if not nginx_path.is_file():
        problems.append(f"{NGINX_CONF} is missing")
        return problems, notes
    conf = nginx_path.read_text()
    problems += check_nginx(conf, compose, gateway_assets_path(root))
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
        "--nginx-syntax", action="store_true", help="run `nginx -t` when nginx is installed"
    )
    args = parser.parse_args(argv)
    problems, notes = check_all(args.root.resolve(), nginx_test=args.nginx_syntax)
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
