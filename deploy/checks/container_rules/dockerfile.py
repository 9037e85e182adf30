"""One Dockerfile's rules, read with a service's build arguments.

Base images tagged with a version; every ``COPY`` source in the build context (the repository
root); in the final stage: a USER without the root group, a ``STOPSIGNAL``, an ``ENTRYPOINT`` or
``CMD``, no ``HEALTHCHECK NONE``, ``PYTHONUNBUFFERED``, no compilers or ``-dev`` packages, no
``test``/``dev`` extras and no pip cache (any pip, a venv's included). What hadolint and checkov
already check (untagged or :latest bases, a missing or root USER, shell-form commands, ADD, a
bare ``pip`` keeping its cache) is theirs.

One Dockerfile builds every service: ``expand_args`` puts a service's build arguments (and the
file's ``ARG`` defaults) into the text before the rules read it, so that ``COPY
services/${SERVICE}/`` is looked up for that service.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser

from .images import image_pin_problem, split_image

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
ARG_LINE = re.compile(r"^\s*ARG\s+(\w+)(?:=(.*?))?\s*$", re.MULTILINE | re.IGNORECASE)


def expand_args(text: str, args: Mapping[str, str] | None = None) -> str:
    """``text`` with ``${NAME}`` and ``$NAME`` of its ARGs replaced: the value in ``args``, else the
    ARG's default (which may use the ARGs before it), else empty, as Docker does. Other variables
    (ENV, the shell's) stay."""
    given = dict(args or {})
    values: dict[str, str] = {}
    for name, default in ARG_LINE.findall(text):
        if name in given:
            values[name] = given[name]
        elif name not in values:
            values[name] = _substitute(default.strip("\"'"), values)
    return _substitute(text, values)


def _substitute(text: str, values: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values[name] if name in values else match.group(0)

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, text)


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


def check_dockerfile(
    text: str, root: Path | None = None, args: Mapping[str, str] | None = None
) -> list[str]:
    """The broken rules of one Dockerfile (empty: it is fine), read with the build arguments
    ``args``. COPY sources are looked up under ``root`` (the build context) when given."""
    stages = parse_stages(expand_args(text, args))
    if not stages:
        return ["no FROM: not a Dockerfile"]
    return (
        _check_bases(stages, root)
        + _check_final_metadata(stages[-1])
        + _check_final_installs(stages[-1])
    )
