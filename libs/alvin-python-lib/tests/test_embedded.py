from __future__ import annotations

import socket
from pathlib import Path

import psutil
import redis
from sqlalchemy import text

from alvin_python_lib.db import create_engine
from alvin_python_lib.embedded import embedded_services, start_postgres


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_postgres_keeps_its_data_across_restarts(tmp_path: Path) -> None:
    server = start_postgres(tmp_path / "pg")
    engine = create_engine(server.url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE kept (v int)"))
        conn.execute(text("INSERT INTO kept VALUES (42)"))
    engine.dispose()
    pid = server.pid
    server.stop()
    assert pid is not None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

    again = start_postgres(tmp_path / "pg")
    try:
        engine = create_engine(again.url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT v FROM kept")).scalar() == 42
        engine.dispose()
        assert again.url_for("other").endswith("/other?host=" + str(again.url.split("host=")[1]))
    finally:
        again.stop()


def test_embedded_services_start_both_and_stop_them(tmp_path: Path) -> None:
    port = _free_port()
    with embedded_services(tmp_path, redis_port=port) as services:
        client = redis.Redis.from_url(services.redis.url)
        assert client.ping()
        assert services.redis.url == f"redis://127.0.0.1:{port}/0"
        unix = redis.Redis(unix_socket_path=str(services.redis.socket_path))
        assert unix.ping()
        engine = create_engine(services.postgres.url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        engine.dispose()
        pg_pid, redis_pid = services.postgres.pid, services.redis.pid
        client.close()
        unix.close()
    for pid in (pg_pid, redis_pid):
        assert pid is not None
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
