"""The example SPA (examples/spa) in headless Chromium against the real stack.

The stack is started by the kit's launcher the way ``nox -s up -- --spa`` starts it: the built app
served with the gateway's paths on one origin (``same-origin``). Vite's dev server on its own
origin, calling the gateway across origins with CORS and credentials, is the other way
(``cross-origin``). The emailed links point at the same-origin app (``USER_SERVICE_PUBLIC_URL``);
the cross-origin run opens the same path and query on the dev server.

``nox -s spa`` builds the app (``npm ci``, ``npm run build``) and runs this folder; screenshots go
to ``SPA_ARTIFACTS`` (default ``kit/spa/artifacts/``).
"""

from __future__ import annotations

import email
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # kit.stack: the launcher every suite shares
from kit.stack import LaunchedStack, Proc, free_port, http_ok, started_stack, wait_for  # noqa: E402

SPA = ROOT / "examples" / "spa"
CHROMIUM = Path("/usr/bin/chromium")
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
ARTIFACTS = Path(os.environ.get("SPA_ARTIFACTS", ROOT / "kit" / "spa" / "artifacts"))
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)  # an email, a password hash: above the 5 s default


@dataclass
class SpaStack:
    """The running stack, the app's two origins, and the emails the stack caught."""

    stack: LaunchedStack
    same_origin: str  # the built app and /graphql on one origin (serve_spa.py)
    dev_origin: str  # Vite's dev server, calling the gateway across origins

    def link(self, recipient: str, path: str, seen: set[str], timeout: float = 30) -> str:
        """The first link to ``path`` emailed to ``recipient`` that is not in ``seen`` (added)."""
        pattern = re.compile(rf"https?://[^\s\"'<>]+{re.escape(path)}\?token=[^\s\"'<>&]+")
        found: list[str] = []

        def arrived() -> bool:
            for message_file in sorted(self.stack.mail_dir.glob("*.eml")):
                message = email.message_from_bytes(message_file.read_bytes(), policy=policy.default)
                if message["To"] != recipient:
                    continue
                for part in message.walk():
                    if part.get_content_type() in ("text/plain", "text/html"):
                        found.extend(
                            url for url in pattern.findall(part.get_content()) if url not in seen
                        )
                        if found:
                            return True
            return False

        self.stack.wait_until(f"an email to {recipient} linking to {path}", arrived, timeout)
        seen.add(found[0])
        return found[0]


@pytest.fixture(scope="session")
def spa_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpaStack]:
    if not (SPA / "dist" / "index.html").is_file():
        pytest.fail("examples/spa/dist is missing: `nox -s spa` builds it (npm ci, npm run build)")
    spa_port, dev_port = free_port(), free_port()
    dev_origin = f"http://127.0.0.1:{dev_port}"
    env = {
        "STACK_SPA_PORT": str(spa_port),
        # Vite's dev server is another origin of the same site (127.0.0.1): the gateway lets
        # it call with credentials, and the SameSite=Lax cookie goes along.
        "GATEWAY_CORS_ORIGINS": dev_origin,
        # Two cores shared with other suites: a signup's password hash can outlast the default
        # 2 s deadline there, and these tests are about the pages, not the latency.
        "GATEWAY_USER_SERVICE_TIMEOUT_S": "10",
        # every flow signs up from 127.0.0.1, twice (both origins): above the production limit
        "USER_SERVICE_SIGNUP_MAX_PER_IP": "10000",
    }
    data_dir = tmp_path_factory.mktemp("spa-stack")
    with started_stack(data_dir, args=["--spa"], env=env, metrics=False) as stack:
        same_origin = f"http://127.0.0.1:{spa_port}"
        stack.wait_until("the SPA served", lambda: http_ok(f"{same_origin}/login"), 30)
        with vite_dev_server(dev_port, f"{stack.gateway_url}/graphql", data_dir) as started:
            yield SpaStack(stack, same_origin, started)


@contextmanager
def vite_dev_server(port: int, graphql_url: str, data_dir: Path) -> Iterator[str]:
    """Vite's dev server (``npm run dev``) on ``port``, the app calling ``graphql_url``."""
    vite = SPA / "node_modules" / ".bin" / "vite"
    if not vite.exists():
        pytest.fail("examples/spa/node_modules is missing: `nox -s spa` runs npm ci")
    argv = [str(vite), str(SPA), "--port", str(port), "--strictPort", "--host", "127.0.0.1"]
    env = {**os.environ, "VITE_GRAPHQL_URL": graphql_url}
    proc = Proc("vite", argv, env, data_dir / "vite.log").start()
    origin = f"http://127.0.0.1:{port}"
    try:
        wait_for("Vite's dev server", lambda: proc.check_alive() or http_ok(origin), 60)
        yield origin
    finally:
        proc.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `nox -s spa` installs it (apt, as root)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(params=["same-origin", "cross-origin"])
def origin(request: pytest.FixtureRequest, spa_stack: SpaStack) -> str:
    """Where the app is opened: on the API's origin, or Vite's dev server on its own."""
    return spa_stack.same_origin if request.param == "same-origin" else spa_stack.dev_origin


class Device:
    """One browser profile (its own cookies): a phone, a laptop."""

    def __init__(self, browser: Browser, origin: str, name: str, shots: Path) -> None:
        self.context = browser.new_context(
            user_agent=f"SPA test ({name})", viewport={"width": 960, "height": 640}
        )
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page: Page = self.context.new_page()
        self.origin = origin
        self.shots = shots
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open(self, path_or_link: str) -> Page:
        """Open a path of the app, or an emailed link's path and query on this origin."""
        parts = urlsplit(path_or_link)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.page.goto(self.origin + path)
        return self.page

    def shot(self, name: str) -> Path:
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def devices(
    browser: Browser, origin: str, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], Device]]:
    """A new device (browser profile) per call, each closed at the end of the test."""
    opened: list[Device] = []
    shots = ARTIFACTS / request.node.name.replace("[", "-").rstrip("]")

    def device(name: str) -> Device:
        opened.append(Device(browser, origin, name, shots))
        return opened[-1]

    yield device
    for device_ in opened:
        device_.context.close()
    errors = [error for device_ in opened for error in device_.errors]
    assert not errors, f"uncaught errors in the page: {errors}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ARTIFACTS.is_dir():
        terminalreporter.write_line(f"spa: screenshots in {ARTIFACTS}")
