"""Through HTTP: Strict-Transport-Security where the gateway is deployed, and what it believes of
the proxies in front (the client's address and scheme, never the host)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from conftest import make_settings, serve_app
from flask import Flask, request, url_for
from support.user_service_process import UserServiceProcess

from gateway_graphql.app.settings import Settings

HSTS = "Strict-Transport-Security"
A_YEAR = "max-age=31536000; includeSubDomains"


@pytest.fixture
def serve(
    app_factory: Callable[[Settings], Flask], user_service: UserServiceProcess
) -> Callable[..., Any]:
    """Serve a gateway built from settings overrides over real HTTP (a context manager)."""

    def start(**overrides: Any) -> Any:
        return serve_app(app_factory(make_settings(user_service.target, **overrides)))

    return start


def _responses(base: str) -> Iterator[requests.Response]:
    yield requests.get(f"{base}/healthz", timeout=10)
    yield requests.post(f"{base}/graphql", json={"query": "{ __typename }"}, timeout=10)
    yield requests.get(f"{base}/nowhere", timeout=10)  # errors too


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"app_env": "production"}, A_YEAR),
        ({"app_env": "staging"}, A_YEAR),
        (
            {"app_env": "production", "hsts_max_age_s": 600, "hsts_include_subdomains": False},
            "max-age=600",
        ),
        ({"app_env": "production", "hsts_max_age_s": 0}, None),  # 0: turned off
        ({"app_env": "development"}, None),  # local http
        ({"app_env": "test"}, None),
    ],
)
def test_strict_transport_security_where_deployed(
    serve: Callable[..., Any], overrides: dict[str, Any], expected: str | None
) -> None:
    with serve(**overrides) as base:
        for response in _responses(base):
            assert response.headers.get(HSTS) == expected, response.url


def _with_probe(app: Flask) -> Flask:
    """``app`` with a route that answers what it sees of the request, as any code building an
    absolute URL (a redirect, a link in an email) would see it."""

    @app.get("/probe")
    def probe() -> dict[str, Any]:
        return {
            "host": request.host,
            "url": url_for("probe", _external=True),
            "remote_addr": request.remote_addr,
        }

    return app


def test_a_forged_forwarded_host_is_not_believed(
    app_factory: Callable[[Settings], Flask], user_service: UserServiceProcess
) -> None:
    # one proxy in front (nginx, a load balancer): it sets X-Forwarded-For and -Proto; whatever
    # else X-Forwarded-* a client sends reaches the gateway as the client wrote it
    settings = make_settings(user_service.target, app_env="development", proxy_hops=1)
    forged = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Port": "4443",
    }
    with serve_app(_with_probe(app_factory(settings))) as base:
        host = urlsplit(base).netloc
        seen = requests.get(f"{base}/probe", headers=forged, timeout=10).json()
        redirect = requests.get(f"{base}/", headers=forged, allow_redirects=False, timeout=10)
    assert seen == {
        "host": host,  # the Host header, not X-Forwarded-Host / -Port
        "url": f"https://{host}/probe",  # the proxy's scheme is believed
        "remote_addr": "203.0.113.7",  # and the client address it saw
    }
    assert redirect.status_code == 302
    assert "evil.example" not in redirect.headers["Location"]
