"""The stack started one process at a time, for the suites that break it (``kit/faults``).

Each process is started from the product's own process table (``product.command``) with the
environment run_stack.py would give it, on free ports, and returned once its health check passes:
the gRPC server SERVING, the gateway's ``/readyz`` 200, the SMTP catcher listening, the worker
``ready``, the scheduler logging ``scheduler.starting``. Any process can then be killed, stopped
and started again; PostgreSQL and Redis can be stopped and started on their data folders.
"""

from __future__ import annotations

import contextlib
import email
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from typing import Any

from kit.stack import product
from kit.stack.poll import free_port, grpc_health, http_ok, wait_for
from kit.stack.proc import Proc
from kit.stack.servers import Servers

READY_TIMEOUT_S = 60.0
# The caller's own settings of the services would leak into every process: the stack sets them.
OWN_PREFIXES = ("USER_SERVICE_", "GATEWAY_", "DATABASE_URL", "REDIS_URL")


@dataclass
class Stack:
    """The processes of one test in ``folder``, each started on demand.

    ``defaults`` go over run_stack.py's local defaults, ``extra_env`` over those, and the keyword
    arguments of each start over everything.
    """

    folder: Path
    defaults: Mapping[str, str] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    postgres_template: Path | None = None
    procs: list[Proc] = field(default_factory=list)
    smtp_port: int = 0
    servers: Servers = field(init=False)

    def __post_init__(self) -> None:
        self.servers = Servers(self.folder, self.postgres_template)

    # ----------------------------------------------------------------- embedded servers

    def start_postgres(self, *, migrate: bool = True) -> None:
        """Start PostgreSQL (same data folder every time); migrate it the first time."""
        self.servers.start_postgres(self._migrate if migrate else None)

    def _migrate(self) -> None:
        subprocess.run(
            product.migrate_command(), env=self.env(), check=True, capture_output=True, timeout=120
        )

    def stop_postgres(self) -> None:
        self.servers.stop_postgres()

    def start_redis(self) -> None:
        """Start Redis on a TCP port (the same port after a restart)."""
        self.servers.start_redis()

    def stop_redis(self) -> None:
        self.servers.stop_redis()

    @property
    def redis_port(self) -> int:
        return self.servers.redis_port

    @property
    def database_url(self) -> str:
        return self.servers.database_url

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Rows of one statement on a fresh connection."""
        return self.servers.sql(statement, **params)

    # ----------------------------------------------------------------------- processes

    def env(self, **overrides: str) -> dict[str, str]:
        """The processes' environment: run_stack.py's local defaults, ``defaults``,
        ``extra_env``, then ``overrides``."""
        placed = {
            **self.servers.urls(),
            "GATEWAY_PORT": "0",
            "USER_SERVICE_GRPC_PORT": "0",
            "STACK_SMTP_PORT": str(self.smtp_port or 1),
        }
        caller = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
        env = product.service_env(placed, self.folder, caller)
        return {**env, **self.defaults, **self.extra_env, **overrides}

    def start(self, name: str, env: dict[str, str]) -> Proc:
        """Process ``name`` of the product's table with ``env``, returned once ready."""
        count = sum(1 for p in self.procs if p.name.split("#")[0] == name)
        label = f"{name}#{count}" if count else name
        proc = Proc(label, product.command(name, env), env, self.folder / f"{label}.log")
        self.procs.append(proc)
        proc.start()
        self.wait_ready(proc)
        return proc

    def wait_ready(self, proc: Proc, timeout: float = READY_TIMEOUT_S) -> None:
        """Poll the process's own health check until it passes (after a start or restart)."""
        kind = proc.name.split("#")[0]
        checks: dict[str, Callable[[], bool]] = {
            "grpc": lambda: grpc_health(self.grpc_target(proc)) == "SERVING",
            "gateway": lambda: http_ok(f"{self.url(proc)}/readyz"),
            "smtp": lambda: product.port_in_use(self.smtp_port),
            "worker": lambda: " ready." in proc.since_last_start(),
            "scheduler": lambda: "scheduler.starting" in proc.since_last_start(),
        }
        check = checks[kind]

        def ready() -> bool:
            proc.check_alive()
            return check()

        wait_for(f"{proc.name} ready", ready, timeout)

    def grpc(self, port: int | None = None, **env: str) -> Proc:
        """A user-service gRPC server, returned once its health check answers SERVING."""
        port = port or free_port()
        return self.start("grpc", self.env(USER_SERVICE_GRPC_PORT=str(port), **env))

    @staticmethod
    def grpc_target(proc: Proc) -> str:
        return f"127.0.0.1:{proc.env['USER_SERVICE_GRPC_PORT']}"

    def wait_serving(self, proc: Proc, timeout: float = READY_TIMEOUT_S) -> None:
        """Wait until a (re)started gRPC server answers SERVING."""
        self.wait_ready(proc, timeout)

    def gateway(self, target: str, **env: str) -> Proc:
        """The GraphQL gateway calling ``target``, returned once ``/readyz`` answers 200."""
        port = str(free_port())
        return self.start(
            "gateway", self.env(GATEWAY_PORT=port, GATEWAY_USER_SERVICE_TARGET=target, **env)
        )

    @staticmethod
    def url(gateway: Proc) -> str:
        return f"http://127.0.0.1:{gateway.env['GATEWAY_PORT']}"

    def smtp(self) -> Proc:
        """The SMTP catcher, saving each message as an .eml file in :attr:`mail_dir`."""
        self.smtp_port = self.smtp_port or free_port()
        return self.start("smtp", self.env())

    @property
    def mail_dir(self) -> Path:
        return Path(self.env()["STACK_MAIL_DIR"])

    def mail_recipients(self) -> list[str]:
        """The To: address of every message the catcher saved (one entry per message)."""
        found = []
        for path in sorted(self.mail_dir.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            found.append(str(message["To"]))
        return found

    def mail_subjects(self, recipient: str) -> list[str]:
        """The Subject of every message the catcher saved for ``recipient``, in saved order."""
        found = []
        for path in sorted(self.mail_dir.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            if str(message["To"]) == recipient:
                found.append(str(message["Subject"]))
        return found

    def worker(self, **env: str) -> Proc:
        """A Celery worker, returned once it reports ready."""
        return self.start("worker", self.env(**env))

    def scheduler(self, **env: str) -> Proc:
        """A scheduler replica, returned once it logged that it is starting."""
        return self.start("scheduler", self.env(**env))

    def close(self) -> None:
        """Kill every process, then stop the embedded servers."""
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.kill()
        self.servers.close()

    def logs(self) -> str:
        """The tail of every log (for assertion messages)."""
        return "\n".join(f"== {p.name}\n{p.text()[-2000:]}" for p in self.procs)


@contextlib.contextmanager
def stack_in(
    folder: Path,
    postgres_template: Path | None = None,
    defaults: Mapping[str, str] | None = None,
) -> Iterator[Stack]:
    """A :class:`Stack` in ``folder``, everything killed and stopped on exit."""
    stack = Stack(folder, defaults=dict(defaults or {}), postgres_template=postgres_template)
    try:
        yield stack
    finally:
        stack.close()
