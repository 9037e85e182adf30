"""A Docker engine to build and run on: the one already answering, or a private one started here.

The private engine is Debian's dockerd with its own data root under the cache folder, so its
images (the stand-ins and the layer cache) survive between runs on the same machine. It runs
without the default bridge or iptables: compose projects get their own networks, and builds use
the host's network (containers/compose.offline.yml). Storage is overlay2 where the kernel allows
it, else vfs (``CONTAINERS_STORAGE_DRIVER`` chooses).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 60
POLL_S = 0.5


class Unavailable(Exception):
    """No engine to use, with one line that says what to do."""


@dataclass
class Engine:
    """Where the engine listens and which client talks to it."""

    host: str  # a DOCKER_HOST value
    docker: str  # the docker client
    private: bool  # True when this run's stand-ins may be loaded into it
    process: subprocess.Popen[bytes] | None = None  # the daemon, when started by this run
    driver: str = ""  # its storage driver, when started by this run

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host}

    def run(self, *args: str, timeout: float = 600) -> str:
        """One docker command; its output, or an error with what it printed."""
        result = subprocess.run(
            [self.docker, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.strip()[-2000:]}")
        return result.stdout

    def stop(self) -> None:
        """Stop the daemon if this run started it (its data root, the cache, stays)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _client() -> str:
    # Debian's client (20.10) builds with BuildKit through the daemon; a newer client without the
    # buildx plugin cannot, so prefer it when both are installed.
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and Path(candidate).exists():
            return candidate
    return ""


def answers(docker: str, host: str) -> bool:
    """True when an engine answers at ``host``."""
    if not docker:
        return False
    try:
        result = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"],
            env={**os.environ, "DOCKER_HOST": host},
            capture_output=True,
            timeout=15,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def apt_install(*packages: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise Unavailable(
                f"`{' '.join(command)}` failed: {result.stderr.strip().splitlines()[-1:]}"
            )


def ensure(cache: Path) -> Engine:
    """An engine that answers: DOCKER_HOST's, this cache's private one, or a new private one."""
    docker = _client()
    if os.environ.get("DOCKER_HOST"):
        host = os.environ["DOCKER_HOST"]
        if not answers(docker, host):
            raise Unavailable(
                f"DOCKER_HOST={host} does not answer: start that engine, or unset DOCKER_HOST "
                "to let this session start a private one (as root)"
            )
        return Engine(host, docker, private=False)
    socket = cache / "docker.sock"
    private = f"unix://{socket}"
    if answers(docker, private):
        return Engine(private, docker, private=True)
    if answers(docker, "unix:///var/run/docker.sock"):
        return Engine("unix:///var/run/docker.sock", docker, private=False)
    if os.geteuid() != 0:
        raise Unavailable(
            "no Docker engine answers (DOCKER_HOST is unset, /var/run/docker.sock is silent) and "
            "only root can start a private one: run as root, or start Docker and set DOCKER_HOST"
        )
    if not shutil.which("dockerd") or not Path("/usr/bin/docker").exists():
        apt_install("docker.io")
    return _start(cache, socket)


def _start(cache: Path, socket: Path) -> Engine:
    """dockerd on overlay2 where the kernel allows it, else vfs (slower, a full copy per layer)."""
    chosen = os.environ.get("CONTAINERS_STORAGE_DRIVER")
    failures = []
    for driver in [chosen] if chosen else ["overlay2", "vfs"]:
        try:
            return _start_with(cache, socket, driver)
        except Unavailable as reason:
            failures.append(str(reason))
    raise Unavailable("; ".join(failures))


def _start_with(cache: Path, socket: Path, driver: str) -> Engine:
    cache.mkdir(parents=True, exist_ok=True)
    socket.unlink(missing_ok=True)
    log_path = cache / "dockerd.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                "dockerd",
                "--data-root", str(cache / "docker"),
                "--exec-root", str(cache / "exec"),
                "--pidfile", str(cache / "dockerd.pid"),
                "--storage-driver", driver,
                "--iptables=false",
                "--ip-masq=false",
                "--bridge=none",
                "-H", f"unix://{socket}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    engine = Engine(f"unix://{socket}", _client(), private=True, process=process, driver=driver)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
            raise Unavailable(f"dockerd ({driver}) exited at start ({log_path}): {tail}")
        if answers(engine.docker, engine.host):
            return engine
        time.sleep(POLL_S)
    engine.stop()
    raise Unavailable(f"dockerd ({driver}) did not answer within {START_TIMEOUT_S}s ({log_path})")
