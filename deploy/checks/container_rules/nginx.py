"""deploy/compose/nginx.conf: what the gateway needs in front of it, and ``nginx -t``.

It proxies ``/graphql``, ``/healthz``, ``/readyz`` and GraphiQL's assets (the gateway's
``ASSETS_PATH``, read from its source; ``/static/`` without it); sets ``client_max_body_size``,
forwards ``X-Request-ID``, turns gzip on; its upstream servers are compose services.
``nginx_syntax`` runs ``nginx -t`` on a copy whose upstream hosts are replaced by 127.0.0.1.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

NGINX_CONF = "deploy/compose/nginx.conf"
NGINX_PATHS = ("/graphql", "/healthz", "/readyz")
# Where the gateway serves GraphiQL's assets: read from its source so that nginx follows a move.
GRAPHIQL_MODULE = "services/gateway-graphql/src/gateway_graphql/api/graphiql.py"
DEFAULT_ASSETS_PATH = "/static"

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
