"""deploy/compose/nginx.conf serves the example SPA's build on the API's origin, run by a real
nginx: the files, index.html for the app's own paths (the emailed links among them), /graphql
passed to the gateway with its body and every cookie; without a build, / leads to GraphiQL.

The configuration is the compose file's, with only what names the compose network and the
container's folders changed (upstream host, listen address, log, pid and temporary paths, root).
Skipped when nginx is not installed (``apt-get install nginx-light``).
"""

from __future__ import annotations

import getpass
import http.client
import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from container_rules.nginx import NGINX_CONF
from echo_gateway import echo_gateway

ROOT = Path(__file__).resolve().parents[2]
CONF = (ROOT / NGINX_CONF).read_text()
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if Path(p).exists()), None
)
INDEX = "<!doctype html><title>the app</title>"

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")


def spa_root(conf: str) -> str:
    (root,) = re.findall(r"^\s*root\s+([^;]+);", conf, re.MULTILINE)
    return root


def test_compose_mounts_the_build_where_nginx_serves_it() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    volumes = compose["services"]["nginx"]["volumes"]
    assert f"./examples/spa/dist:{spa_root(CONF)}:ro" in volumes


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _local_copy(conf: str, tmp: Path, port: int, gateway_port: int, root: Path) -> str:
    """The compose configuration, runnable here: what names the container's world replaced."""
    copy = re.sub(r"(\n\s*server\s+)gateway:\d+;", rf"\g<1>127.0.0.1:{gateway_port};", conf)
    copy = copy.replace("listen 80 default_server;", f"listen 127.0.0.1:{port} default_server;")
    copy = copy.replace("/var/log/nginx/", f"{tmp}/")
    copy = re.sub(r"^pid\s+[^;]+;", f"pid {tmp}/nginx.pid;", copy, flags=re.MULTILINE)
    copy = copy.replace(f"root {spa_root(conf)};", f"root {root};")
    temp_paths = f"client_body_temp_path {tmp}/body;\n    proxy_temp_path {tmp}/proxy;\n"
    copy = copy.replace("http {\n", "http {\n    " + temp_paths, 1)
    # the workers read the test's folders: run them as the user who made them
    return f"user {getpass.getuser()};\n" + copy


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """nginx with the compose configuration on a free port; the SPA folder it serves (empty)."""
    assert NGINX is not None
    root = tmp_path / "spa"
    root.mkdir()
    with echo_gateway(host="Host") as gateway:
        port = _free_port()
        conf = tmp_path / "nginx.conf"
        conf.write_text(_local_copy(CONF, tmp_path, port, gateway, root))
        argv = [NGINX, "-c", str(conf), "-e", f"{tmp_path}/error.log", "-g", "daemon off;"]
        process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 10
            while True:
                if process.poll() is not None:
                    stderr = process.stderr.read() if process.stderr else ""
                    pytest.fail(f"nginx exited: {stderr}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)  # polling for the port, not waiting a fixed time
            yield port, root
        finally:
            process.terminate()
            process.wait(timeout=10)


def _get(port: int, path: str, **kwargs: Any) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, **kwargs)
    return connection.getresponse()


def _build(root: Path) -> None:
    (root / "assets").mkdir()
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-1234.js").write_text("console.log(1)")


def test_the_build_and_the_apps_own_paths(nginx: tuple[int, Path]) -> None:
    port, root = nginx
    _build(root)
    for path in ("/", "/login", "/verify-email?token=abc", "/reset-password?token=x", "/admin"):
        response = _get(port, path)
        assert (response.status, response.read().decode()) == (200, INDEX), path
    script = _get(port, "/assets/index-1234.js")
    assert script.status == 200
    assert "javascript" in script.headers["Content-Type"]
    assert script.read() == b"console.log(1)"


def test_graphql_reaches_the_gateway_with_body_host_and_cookies(nginx: tuple[int, Path]) -> None:
    port, root = nginx
    _build(root)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps({"query": "{ me { id } }"})
    headers = {"Content-Type": "application/json", "Cookie": "session=s1", "Host": "app:8080"}
    connection.request("POST", "/graphql", body=body, headers=headers)
    response = connection.getresponse()
    assert response.status == 200
    seen = json.loads(response.read())
    assert seen == {"path": "/graphql", "body": body, "host": "app:8080", "cookie": "session=s1"}
    assert response.headers.get_all("Set-Cookie") == ["a=1; Path=/; HttpOnly", "b=2; Path=/"]


def test_without_a_build_the_root_leads_to_graphiql(nginx: tuple[int, Path]) -> None:
    port, _ = nginx
    root = _get(port, "/")
    assert (root.status, root.headers["Location"]) == (302, "/graphql")
    assert _get(port, "/login").status == 404
