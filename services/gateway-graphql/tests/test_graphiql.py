"""GraphiQL works offline: the page and every asset come from the gateway itself."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import make_settings
from flask import Flask
from flask.testing import FlaskClient
from support.user_service_process import UserServiceProcess

from gateway_graphql.api.graphiql import STATIC_DIR
from gateway_graphql.app.settings import Settings

VENDOR = STATIC_DIR / "graphiql"


@pytest.fixture
def dev(app_factory: Callable[[Settings], Flask], user_service: UserServiceProcess) -> FlaskClient:
    return app_factory(make_settings(user_service.target, app_env="development")).test_client()


def test_page_loads_only_local_assets(dev: FlaskClient) -> None:
    page = dev.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources
    assert all(s.startswith("/graphiql/assets/") for s in sources), sources
    assert "unpkg" not in html
    assert "cdn" not in html.lower()
    for source in sources:
        asset = dev.get(source)
        assert asset.status_code == 200, source
        assert asset.mimetype in ("text/javascript", "application/javascript", "text/css")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "<script>" not in html  # no inline script: the CSP forbids it


def test_page_is_prefilled_from_the_url_safely(dev: FlaskClient) -> None:
    query = "{ users { edges { cursor } } } # </script><script>alert(1)</script>"
    page = dev.get("/graphql", query_string={"query": query}, headers={"Accept": "text/html"})
    html = page.get_data(as_text=True)
    config = re.search(r'<script id="graphiql-config" type="application/json">(.*?)</script>', html)
    assert config is not None
    assert json.loads(config.group(1))["query"] == query
    assert html.count("</script>") == 5  # the four scripts and the config: nothing injected


def test_vendored_files_match_their_manifest() -> None:
    manifest = json.loads((VENDOR / "VERSIONS.json").read_text())
    assert manifest["packages"] == {"graphiql": "3.9.0", "react": "18.3.1", "react-dom": "18.3.1"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    total = sum(p.stat().st_size for p in VENDOR.iterdir())
    assert total < 2 * 1024 * 1024  # minified bundles only


def test_assets_cannot_escape_the_static_folder(dev: FlaskClient) -> None:
    assert dev.get("/graphiql/assets/../settings.py").status_code == 404
    assert dev.get("/graphiql/assets/%2e%2e/app/settings.py").status_code == 404
    assert Path(STATIC_DIR).is_dir()


def test_every_response_is_nosniff_and_only_graphql_answers_are_no_store(dev: FlaskClient) -> None:
    answer = dev.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Requested-With": "x"}
    )
    assert answer.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert answer.headers.getlist("Cache-Control") == ["no-store"]
    page = dev.get("/graphql", headers={"Accept": "text/html"})
    (source,) = re.findall(r'src="([^"]+\.js)"', page.get_data(as_text=True))[:1]
    asset = dev.get(source)
    assert asset.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    # the asset's own caching is kept, not replaced by no-store
    assert "max-age=3600" in asset.headers["Cache-Control"]
    assert asset.headers.getlist("Cache-Control") == [asset.headers["Cache-Control"]]
