"""Programs a session needs from Debian (Chromium, wrk), installed when running as root."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

CHROMIUM = Path("/usr/bin/chromium")
_APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


def _can_apt() -> bool:
    return shutil.which("apt-get") is not None and os.geteuid() == 0


def ensure_chromium(session: nox.Session) -> None:
    """Debian's Chromium at /usr/bin/chromium (Playwright cannot download browsers here).

    Missing and not root: skipped with the install command, except under CI, where it fails.
    """
    if CHROMIUM.exists():
        session.log(f"{CHROMIUM} already installed: apt-get step skipped")
        return
    if not _can_apt():
        message = (
            f"{CHROMIUM} is missing; install it as root: "
            "apt-get update && apt-get install -y --no-install-recommends chromium"
        )
        if os.environ.get("CI"):
            session.error(message)
        session.skip(message)
    session.run("apt-get", "update", "-qq", external=True, env=_APT_ENV)
    session.run(
        "apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium",
        external=True, env=_APT_ENV,
    )  # fmt: skip


def ensure_wrk(session: nox.Session) -> None:
    """wrk (Debian) is the HTTP load generator; without it the benchmarks skip the load figures."""
    if shutil.which("wrk"):
        return
    if not _can_apt():
        session.warn("wrk is missing (apt-get install -y wrk as root): gateway load is skipped")
        return
    session.run("apt-get", "update", "-qq", external=True, env=_APT_ENV, success_codes=range(256))
    session.run(
        "apt-get", "install", "-y", "-qq", "wrk",
        external=True, env=_APT_ENV, success_codes=range(256),
    )  # fmt: skip


def ensure_npm(session: nox.Session) -> None:
    """Node.js and npm (the example SPA's build).

    Missing: skipped with what to install, except under CI, where it fails. Present but too old:
    the SPA's ``engines`` with ``engine-strict`` (its ``.npmrc``) make ``npm ci`` refuse it.
    """
    if shutil.which("npm") and shutil.which("node"):
        return
    message = "Node.js 20.19+ with npm is missing: install it (https://nodejs.org or your OS's)"
    if os.environ.get("CI"):
        session.error(message)
    session.skip(message)
