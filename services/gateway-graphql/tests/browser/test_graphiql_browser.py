"""GraphiQL in a real browser (headless Chromium): offline assets, a query, a cookie login.

Run with `nox -s browser` (it installs Chromium from Debian when /usr/bin/chromium is missing);
the plain test run skips this module (marker `browser`). A screenshot of each step lands in
`artifacts/` (git-ignored).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import PASSWORD, make_settings, serve_gateway, unique_email
from playwright.sync_api import Page, expect, sync_playwright
from support.user_service_process import UserServiceProcess

from gateway_graphql.api.graphql.ids import user_global_id
from gateway_graphql.remote.user_service import User

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--metrics-recording-only",
    "--no-first-run",
    "--no-default-browser-check",
]


# (APP_ENV, the session cookie's name): development over http keeps the plain name; elsewhere the
# cookie is Secure and named __Host- (Chromium counts http://127.0.0.1 as a secure context)
COOKIE_NAMES = [("development", "gateway_session"), ("test", "__Host-gateway_session")]


@pytest.fixture(params=COOKIE_NAMES, ids=[env for env, _ in COOKIE_NAMES])
def cookie_name(request: pytest.FixtureRequest) -> tuple[str, str]:
    env, name = request.param
    return env, name


@pytest.fixture
def live_gateway(user_service: UserServiceProcess, cookie_name: tuple[str, str]) -> Iterator[str]:
    """The gateway with GraphiQL on, on werkzeug, in a thread."""
    settings = make_settings(user_service.target, app_env=cookie_name[0], graphiql=True)
    with serve_gateway(settings) as url:
        yield url


@pytest.fixture
def page(live_gateway: str) -> Iterator[Page]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `nox -s browser`, which installs it")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


def _run(page: Page, base: str, query: str) -> None:
    """Open GraphiQL with ``query`` in the editor and press the run button."""
    page.goto(f"{base}/graphql?query={quote(query)}")
    page.locator(".graphiql-execute-button").click()


def test_graphiql_runs_queries_and_logs_in_with_the_cookie(
    page: Page, live_gateway: str, make_user: Callable[..., User], cookie_name: tuple[str, str]
) -> None:
    requests: list[str] = []
    page_errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: page_errors.append(str(error)))

    name = f"Browser {uuid.uuid4().hex[:8]}"
    email = unique_email("browser")
    user = make_user(name, email=email)

    _run(page, live_gateway, f'{{ user(id: "{user_global_id(user.id)}") {{ displayName email }} }}')
    response = page.locator(".graphiql-response")
    expect(response).to_contain_text(name)
    expect(response).to_contain_text('"email": null')  # not logged in: hidden
    page.screenshot(path=str(ARTIFACTS / "graphiql-query.png"))

    login = (
        f'mutation {{ login(input: {{email: "{email}", password: "{PASSWORD}"}}) '
        "{ user { displayName } errors { code } } }"
    )
    _run(page, live_gateway, login)
    expect(response).to_contain_text('"errors": []')  # a JSON POST: no CSRF header needed
    env, name = cookie_name
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert set(cookies) == {name}  # the browser kept it (a __Host- cookie: only when Secure)
    assert cookies[name]["httpOnly"] is True
    assert cookies[name]["sameSite"] == "Lax"
    assert cookies[name]["secure"] is (env != "development")

    _run(page, live_gateway, "{ me { displayName email } }")
    expect(response).to_contain_text(email)  # the cookie authenticated the request
    page.screenshot(path=str(ARTIFACTS / "graphiql-me.png"))

    outside = [url for url in requests if not url.startswith(live_gateway)]
    assert outside == [], "GraphiQL must not load anything from elsewhere"
    assert page_errors == []
    assert (ARTIFACTS / "graphiql-me.png").stat().st_size > 10_000
