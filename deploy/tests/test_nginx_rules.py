"""container_rules.nginx: each rule catches a broken nginx.conf; ``nginx -t`` when installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from container_rules.nginx import (
    GRAPHIQL_MODULE,
    NGINX_CONF,
    check_nginx,
    gateway_assets_path,
    nginx_syntax,
)

ROOT = Path(__file__).resolve().parents[2]

GOOD_NGINX = (ROOT / NGINX_CONF).read_text()
COMPOSE_WITH_GATEWAY = {"services": {"gateway": {}}}


ASSETS = gateway_assets_path(ROOT)


def test_good_nginx_passes() -> None:
    assert check_nginx(GOOD_NGINX, COMPOSE_WITH_GATEWAY, ASSETS) == []


def test_assets_path_comes_from_the_gateway(tmp_path: Path) -> None:
    assert gateway_assets_path(tmp_path) == "/static/"
    module = tmp_path / GRAPHIQL_MODULE
    module.parent.mkdir(parents=True)
    module.write_text('X = 1\nASSETS_PATH = "/moved/here"\n')
    assert gateway_assets_path(tmp_path) == "/moved/here/"
    problems = check_nginx(GOOD_NGINX, COMPOSE_WITH_GATEWAY, "/moved/here/")
    assert any("no location for /moved/here/" in p for p in problems), problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("client_max_body_size 1m;", "", "client_max_body_size"),
        ("gzip on;", "gzip off;", "gzip on"),
        ("proxy_set_header X-Request-ID $req_id;", "", "X-Request-ID"),
        (
            "location /graphiql/assets/ {",
            "location /assets/ {",
            "no location for /graphiql/assets/",
        ),
        ("location = /readyz {", "location = /ready {", "no location for /readyz"),
        (
            "server gateway:8000;",
            "server api:8000;",
            "upstream server api is not a compose service",
        ),
    ],
)
def test_broken_nginx_is_caught(old: str, new: str, expected: str) -> None:
    assert old in GOOD_NGINX
    problems = check_nginx(GOOD_NGINX.replace(old, new), COMPOSE_WITH_GATEWAY, ASSETS)
    assert any(expected in p for p in problems), problems


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_syntax_check_fails_on_a_broken_file() -> None:
    nginx = shutil.which("nginx")
    assert nginx is not None
    assert nginx_syntax(GOOD_NGINX, nginx) == []
    assert nginx_syntax(GOOD_NGINX.replace("gzip on;", "gzip on"), nginx) != []
