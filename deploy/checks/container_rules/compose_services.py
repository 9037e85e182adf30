"""Each service of docker-compose.yml, as Compose normalises it (``compose_config.render_compose``).

Every image is pinned (services built here name a non-``latest`` tag) and every build Dockerfile
exists; long-running services have a healthcheck and a restart policy, one-shot ones (waited for
with ``service_completed_successfully``) do not restart; ``depends_on`` waits for
``service_healthy`` (long-running) or ``service_completed_successfully`` (one-shot);
``APP_ENV`` is not production; bind addresses are not loopback; ``stop_grace_period`` covers the
processes' own shutdown grace; PostgreSQL keeps its data in a named volume; every service is
hardened (``hardening``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .compose_config import COMPOSE_FILE, render_compose
from .hardening import check_hardening
from .images import image_pin_problem, split_image

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


def check_compose(
    binary: Path, root: Path, files: Sequence[str] = (COMPOSE_FILE,)
) -> tuple[list[str], dict[str, Any]]:
    """The broken rules of ``root``'s compose file, merged with the variants among ``files`` (and
    Compose's model, for the nginx check)."""
    rendered = render_compose(binary, root, files)
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
    problems += check_hardening(services)
    return problems, rendered.config
