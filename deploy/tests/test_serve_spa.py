"""deploy/local/serve_spa.py: the built app's files, index.html for the app's own paths, nothing
outside the folder, and the gateway's paths passed through with their bodies and every cookie."""

from __future__ import annotations

import http.client
import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from echo_gateway import echo_gateway

SERVE_SPA = Path(__file__).resolve().parents[1] / "local" / "serve_spa.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("serve_spa", SERVE_SPA)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _serve(server: ThreadingHTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def spa_port(tmp_path: Path) -> Iterator[int]:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>app</title>")
    (dist / "assets" / "app-1234.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("outside the app")
    with echo_gateway(forwarded_for="X-Forwarded-For") as upstream_port:
        handler = _module().make_handler(dist, f"http://127.0.0.1:{upstream_port}")
        yield from _serve(ThreadingHTTPServer(("127.0.0.1", 0), handler))


def _request(port: int, method: str, path: str, **kwargs: Any) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, **kwargs)
    return connection.getresponse()


def test_files_and_the_apps_own_paths(spa_port: int) -> None:
    asset = _request(spa_port, "GET", "/assets/app-1234.js")
    assert asset.status == 200
    assert asset.read() == b"console.log(1)"
    assert "immutable" in asset.headers["Cache-Control"]
    for path in (
        "/",
        "/login",
        "/reset-password?token=abc",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
    ):
        page = _request(spa_port, "GET", path)
        assert page.status == 200, path
        assert page.read() == b"<!doctype html><title>app</title>", path
        assert page.headers["Cache-Control"] == "no-cache"


def test_graphql_goes_to_the_gateway_with_body_and_cookies(spa_port: int) -> None:
    answer = _request(
        spa_port,
        "POST",
        "/graphql",
        body=b'{"query": "{ me { id } }"}',
        headers={"Content-Type": "application/json", "Cookie": "gateway_session=t"},
    )
    assert answer.status == 200
    assert answer.headers.get_all("Set-Cookie") == ["a=1; Path=/; HttpOnly", "b=2; Path=/"]
    seen = json.loads(answer.read())
    assert seen == {
        "path": "/graphql",
        "body": '{"query": "{ me { id } }"}',
        "forwarded_for": "127.0.0.1",
        "cookie": "gateway_session=t",
    }


def test_other_methods_off_the_gateway_paths_are_refused(spa_port: int) -> None:
    assert _request(spa_port, "POST", "/login", body=b"x").status == 405
