"""Container hardening of docker-compose.yml's services, as Compose normalises them.

Every service runs with a read-only root file system (``read_only: true``; writes go to the
``tmpfs`` mounts and volumes it names), drops every Linux capability (``cap_drop: [ALL]``) and
cannot gain privileges through setuid binaries (``security_opt: [no-new-privileges:true]``).
Capabilities given back (``cap_add``) come from a short list, and only to images not built here:
the kit's own processes run as uid 10001 and need none. Networks are named, never Compose's
``default``, and a service that publishes ports (the edge: nginx) shares no network with the data
tier (PostgreSQL, Redis, the mail catcher): the data tier cannot be reached from the edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .images import split_image

# What the official images' entrypoints need to start as root and switch to their own user
# (PostgreSQL, Redis, nginx's master process on port 80).
ALLOWED_CAP_ADD = frozenset(
    {"CHOWN", "DAC_OVERRIDE", "FOWNER", "NET_BIND_SERVICE", "SETGID", "SETUID"}
)
NO_NEW_PRIVILEGES = {"no-new-privileges:true", "no-new-privileges=true", "no-new-privileges"}
# Images of the data tier, by their last path component.
DATA_TIER_IMAGES = frozenset({"postgres", "redis", "mailpit", "valkey", "mysql", "mongo"})


def _image_name(service: Mapping[str, Any]) -> str:
    return split_image(str(service.get("image") or ""))[0].split("/")[-1]


def _check_one(where: str, service: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if service.get("read_only") is not True:
        problems.append(f"{where}: no read_only: true (a writable root file system)")
    if "ALL" not in {str(c).upper() for c in service.get("cap_drop") or []}:
        problems.append(f"{where}: no cap_drop: [ALL]")
    if not NO_NEW_PRIVILEGES & {str(o) for o in service.get("security_opt") or []}:
        problems.append(f"{where}: no security_opt: [no-new-privileges:true]")
    if service.get("privileged"):
        problems.append(f"{where}: privileged")
    added = {str(c).upper().removeprefix("CAP_") for c in service.get("cap_add") or []}
    if added and service.get("build") is not None:
        problems.append(
            f"{where}: cap_add {sorted(added)} on an image built here (its processes run as "
            "uid 10001 and need no capability)"
        )
    elif extra := added - ALLOWED_CAP_ADD:
        problems.append(f"{where}: cap_add {sorted(extra)} is not in {sorted(ALLOWED_CAP_ADD)}")
    networks = set(service.get("networks") or {"default": None})
    if service.get("network_mode"):
        problems.append(f"{where}: network_mode {service['network_mode']!r} (use named networks)")
    elif "default" in networks:
        problems.append(f"{where}: on Compose's default network (name its networks)")
    return problems


def check_hardening(services: Mapping[str, Any]) -> list[str]:
    """The broken hardening rules of Compose's normalised ``services``."""
    problems: list[str] = []
    for name, service in services.items():
        problems += _check_one(f"service {name}", service)
    data = {n for n, s in services.items() if _image_name(s) in DATA_TIER_IMAGES}
    edge = {n for n, s in services.items() if s.get("ports") and n not in data}
    for name in sorted(edge):
        reachable = sorted(
            target
            for target in data
            if set(services[name].get("networks") or {"default": None})
            & set(services[target].get("networks") or {"default": None})
        )
        if reachable:
            problems.append(
                f"service {name}: publishes ports and shares a network with the data tier "
                f"({', '.join(reachable)}): give them separate networks"
            )
    return problems
