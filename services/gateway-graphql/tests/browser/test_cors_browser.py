"""CORS in a real browser (headless Chromium): a page on another origin calls the gateway with
credentials and the headers browser tracing adds.

Run with `nox -s browser`; the plain test run skips this module (marker `browser`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import PASSWORD, make_settings, serve_gateway
from playwright.sync_api import Page, sync_playwright
from support.user_service_process import UserServiceProcess
from test_graphiql_browser import CHROMIUM, CHROMIUM_ARGS

from gateway_graphql.remote.user_service import User

pytestmark = pytest.mark.browser

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

# Runs in the page: log in, then ask who is logged in with the tracing headers, all cross-origin
# with credentials; then a header the gateway does not allow, which must fail the preflight.
CALLS = """
async ({ url, email, password, traceparent }) => {
  const post = (query, variables, headers) => fetch(url, {
    method: "POST",
    credentials: "include",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const login = await post(
    "mutation ($i: LoginInput!) { login(input: $i) { errors { code } } }",
    { i: { email, password } },
    {},
  );
  const me = await post("{ me { displayName } }", {}, {
    traceparent,
    tracestate: "vendor=1",
    baggage: "tenant=t1",
    "apollographql-client-name": "web",
    "apollographql-client-version": "1.0",
  });
  let refused = null;
  try {
    await post("{ __typename }", {}, { "X-Not-Allowed": "1" });
  } catch (error) {
    refused = String(error);
  }
  return {
    login: await login.json(),
    me: await me.json(),
    requestId: me.headers.get("X-Request-ID"),
    refused,
  };
}
"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>another origin</title><p>app</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def app_origin() -> Iterator[str]:
    """A web app's origin: another port of 127.0.0.1 (same site, other origin)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def gateway(user_service: UserServiceProcess, app_origin: str) -> Iterator[str]:
    """The gateway (development: the cookie is not Secure over http), CORS open to the app."""
    settings = make_settings(user_service.target, app_env="development", cors_origins=app_origin)
    with serve_gateway(settings) as url:
        yield url


@pytest.fixture
def page() -> Iterator[Page]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `nox -s browser`, which installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


def test_a_page_on_another_origin_calls_with_credentials_and_trace_headers(
    page: Page, gateway: str, app_origin: str, make_user: Callable[..., User]
) -> None:
    user = make_user("Cross Origin")
    sent: list[tuple[str, dict[str, str]]] = []
    page.on("request", lambda request: sent.append((request.url, request.headers)))
    page.goto(app_origin)
    answer = page.evaluate(
        CALLS,
        {
            "url": f"{gateway}/graphql",
            "email": user.email,
            "password": PASSWORD,
            "traceparent": TRACEPARENT,
        },
    )
    assert answer["login"] == {"data": {"login": {"errors": []}}}
    # The cookie set by the cross-origin login came back with the next call.
    assert answer["me"] == {"data": {"me": {"displayName": "Cross Origin"}}}
    assert answer["requestId"]  # exposed to the page
    assert answer["refused"] is not None  # a header off the list: the browser refused
    assert "Failed to fetch" in answer["refused"]
    # The browser sent the tracing headers themselves, to the gateway.
    ((url, headers),) = [(u, h) for u, h in sent if h.get("traceparent") == TRACEPARENT]
    assert url == f"{gateway}/graphql"
    assert headers["apollographql-client-name"] == "web"
