"""Run the whole stack on this machine: `nox -s up` calls this (so do the end-to-end tests).

1. Checks that every port it needs is free (one line naming the port and its setting if not).
2. Starts the embedded PostgreSQL and Redis in ``--data-dir`` (kept between runs; delete the folder,
   or run ``nox -s clean``, to reset) unless ``DATABASE_URL`` / ``REDIS_URL`` point elsewhere.
3. Runs the user-service migrations, and ``--seed N`` demo users if asked.
4. Runs every process in the foreground with honcho (prefixed, coloured output): the user-service
   gRPC server, its Celery worker, its scheduler, a local SMTP catcher and the GraphQL gateway.
5. Ctrl-C or SIGTERM stops every process, then the embedded servers.

With ``--spa`` a ``spa`` process serves the example single-page app's build
(``examples/spa/dist``) on its own port with the gateway's paths passed through (serve_spa.py, as
nginx does in compose), so the app and the API share an origin.

With ``--one-process`` (or ``STACK_TOPOLOGY=one-process``) the gateway and the user-service's gRPC
API run as ONE process, ``app`` (``one-process serve``: the gateway calling the user-service
through an in-process channel, no gRPC port); the worker, scheduler and SMTP catcher are the
same. The default, ``split``, runs them as separate processes over gRPC, as deployed services.

With ``--reload`` the gRPC server, the worker, the scheduler and the gateway each run under
watchfiles, which restarts the process (SIGINT, then SIGKILL after 10 s) when a ``.py`` file under
the watched folders changes: every ``libs/*/src`` and ``services/*/src`` by default, or the
``--reload-dir`` folders.

Everything is configured through the same environment variables as in production (see each
service's README); this script only fills in local defaults.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_TOKEN = "dev-service-token"  # noqa: S105 - the services' development default, refused in production


@dataclass(frozen=True)
class Port:
    """A TCP port the stack listens on, and the setting that moves it."""

    name: str
    setting: str
    default: int

    def value(self, env: Mapping[str, str]) -> int:
        return int(env.get(self.setting, self.default))


PORTS = (
    Port("gateway (GraphQL)", "GATEWAY_PORT", 8000),
    Port("user-service gRPC", "USER_SERVICE_GRPC_PORT", 50051),
    Port("SMTP catcher", "STACK_SMTP_PORT", 1025),
)
SPA_PORT = Port("example SPA", "STACK_SPA_PORT", 8080)  # checked with --spa only
SPA_DIST = ROOT / "examples" / "spa" / "dist"

# The stack's topology (STACK_TOPOLOGY): the services as separate processes over gRPC, or the
# gateway and the user-service's API in one process. Code, contract and tests are the same.
SPLIT, ONE_PROCESS = "split", "one-process"
TOPOLOGIES = (SPLIT, ONE_PROCESS)
# In one process, the processes that play the gateway's and the gRPC server's roles.
ONE_PROCESS_ROLES = {"gateway": "app", "grpc": "app"}


def topology(env: Mapping[str, str]) -> str:
    """``split`` (default) or ``one-process``, from STACK_TOPOLOGY."""
    value = env.get("STACK_TOPOLOGY") or SPLIT
    if value not in TOPOLOGIES:
        raise ValueError(f"STACK_TOPOLOGY={value!r}: one of {', '.join(TOPOLOGIES)}")
    return value


def process_for(role: str, env: Mapping[str, str]) -> str:
    """The process that plays ``role`` ("gateway", "grpc", "worker" ...) in this topology."""
    return ONE_PROCESS_ROLES.get(role, role) if topology(env) == ONE_PROCESS else role


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something already listens on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def check_ports(env: Mapping[str, str], spa: bool = False) -> str | None:
    """The one-line complaint about the first busy port, or None when all are free."""
    ports = [p for p in PORTS if not (topology(env) == ONE_PROCESS and p is PORTS[1])]
    for port in (*ports, SPA_PORT) if spa else ports:
        number = port.value(env)
        if port_in_use(number):
            return (
                f"port {number} ({port.name}) is already in use: "
                f"set {port.setting} to a free port, or stop what is using it"
            )
    return None


@contextmanager
def backing_services(data_dir: Path, env: dict[str, str]) -> Iterator[None]:
    """Fill DATABASE_URL / REDIS_URL, starting the embedded servers for the missing ones."""
    if env.get("DATABASE_URL") and env.get("REDIS_URL"):
        yield
        return
    from alvin_python_lib.embedded import start_postgres, start_redis

    with ExitStack() as stack:
        if not env.get("DATABASE_URL"):
            postgres = start_postgres(data_dir / "postgres")
            stack.callback(postgres.stop)
            env["DATABASE_URL"] = postgres.url
        if not env.get("REDIS_URL"):
            redis = start_redis(data_dir / "redis")
            stack.callback(redis.stop)
            env["REDIS_URL"] = redis.url
        yield


def service_env(
    env: Mapping[str, str], data_dir: Path, caller: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Environment of the stack's processes: local defaults under what the caller set
    (``caller``, this process's environment by default)."""
    smtp_port = str(PORTS[2].value(env))
    grpc_port = str(PORTS[1].value(env))
    defaults = {
        "APP_ENV": "development",
        "PYTHONUNBUFFERED": "1",
        "USER_SERVICE_DATABASE_URL": env["DATABASE_URL"],
        "USER_SERVICE_REDIS_URL": env["REDIS_URL"],
        "USER_SERVICE_GRPC_HOST": "127.0.0.1",
        "USER_SERVICE_GRPC_PORT": grpc_port,
        "USER_SERVICE_GRPC_GRACE_PERIOD_S": "3",
        "USER_SERVICE_SMTP_HOST": "127.0.0.1",
        "USER_SERVICE_SMTP_PORT": smtp_port,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(PORTS[0].value(env)),
        "GATEWAY_USER_SERVICE_TARGET": f"127.0.0.1:{grpc_port}",
        "GATEWAY_USER_SERVICE_TOKEN": env.get("USER_SERVICE_GRPC_SERVICE_TOKEN", DEV_TOKEN),
        "STACK_MAIL_DIR": str(data_dir / "mail"),
    }
    chosen = os.environ if caller is None else caller
    merged = {**defaults, **chosen, "PYTHONUNBUFFERED": "1"}  # what the caller set wins
    # the console scripts of the environment running this script come first
    merged["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), merged.get("PATH", "")])
    return merged


# Run once before the processes start: the database schema, and optional demo users.
MIGRATE = ("user-service", "db", "upgrade")


def seed_command(users: int) -> list[str]:
    """The command that adds ``users`` demo users."""
    return ["user-service", "seed", "--users", str(users)]


# The processes that run the kit's code and restart on a change with --reload (the SMTP catcher
# keeps the mail it caught).
RELOADED = ("grpc", "worker", "scheduler", "gateway", "app")
# Above the processes' own shutdown grace (USER_SERVICE_GRPC_GRACE_PERIOD_S is 3 here).
RELOAD_SIGINT_TIMEOUT_S = 10


def default_reload_dirs(root: Path = ROOT) -> list[Path]:
    """The source folders of every library and service."""
    return sorted(p for kind in ("libs", "services") for p in root.glob(f"{kind}/*/src"))


def with_reload(command: str, dirs: list[Path]) -> str:
    """``command`` run by watchfiles, restarted when a .py file under ``dirs`` changes."""
    return shlex.join(
        [
            "watchfiles",
            "--filter",
            "python",
            "--sigint-timeout",
            str(RELOAD_SIGINT_TIMEOUT_S),
            command,
            *map(str, dirs),
        ]
    )


def procfile(env: Mapping[str, str], reload_dirs: list[Path] | None = None) -> dict[str, str]:
    """Process name -> command line (the same commands the container images run); with
    ``reload_dirs``, the processes of RELOADED restart when their code changes."""
    processes = {
        "grpc": "user-service grpcserver",
        "worker": "user-service worker --pool threads --concurrency 2",
        "scheduler": "user-service scheduler",
        "smtp": (
            f"user-service smtp --port {env['USER_SERVICE_SMTP_PORT']} "
            f"--save-dir {env['STACK_MAIL_DIR']}"
        ),
    }
    if topology(env) == ONE_PROCESS:
        # the gateway's settings (GATEWAY_PORT ...), the user-service in the same process
        processes = {"app": "one-process serve", **processes}
        del processes["grpc"]
    elif shutil.which("gateway", path=env.get("PATH")):
        processes["gateway"] = "gateway serve"
    if ("app" in processes or "gateway" in processes) and env.get("STACK_SPA_DIR"):
        processes["spa"] = shlex.join(
            [
                "python",
                str(ROOT / "deploy" / "local" / "serve_spa.py"),
                "--dist",
                env["STACK_SPA_DIR"],
                "--port",
                str(SPA_PORT.value(env)),
                "--gateway",
                f"http://127.0.0.1:{env['GATEWAY_PORT']}",
            ]
        )
    if reload_dirs:
        processes = {
            name: with_reload(command, reload_dirs) if name in RELOADED else command
            for name, command in processes.items()
        }
    return processes


# Each user-service process reads USER_SERVICE_METRICS_PORT; on one machine they need one port each.
METRICS_PORT_SETTINGS = {
    "grpc": "STACK_GRPC_METRICS_PORT",
    "worker": "STACK_WORKER_METRICS_PORT",
    "scheduler": "STACK_SCHEDULER_METRICS_PORT",
}


def process_env(env: Mapping[str, str], name: str) -> dict[str, str]:
    """The environment of process ``name``: its own metrics port when STACK_<NAME>_METRICS_PORT is
    set (the gateway reads GATEWAY_METRICS_PORT directly)."""
    own = dict(env)
    setting = METRICS_PORT_SETTINGS.get(name)
    if setting and env.get(setting):
        own["USER_SERVICE_METRICS_PORT"] = env[setting]
    return own


def banner(env: Mapping[str, str], processes: Mapping[str, str]) -> str:
    """Where to go, printed once everything is starting."""
    lines = ["", "The stack is starting (Ctrl-C stops everything):"]
    if "gateway" in processes or "app" in processes:
        base = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
        lines.append(f"  GraphiQL         {base}/graphql")
        lines.append(f"  readiness        {base}/readyz")
    if "spa" in processes:
        lines.append(f"  example SPA      http://127.0.0.1:{SPA_PORT.value(env)}/")
    if "grpc" in processes:
        lines.append(f"  user-service     grpc://127.0.0.1:{env['USER_SERVICE_GRPC_PORT']}")
    else:
        lines.append("  user-service     in the `app` process with the gateway (no gRPC port)")
    lines.append(
        f"  caught emails    printed by the `smtp` process below and saved in "
        f"{env['STACK_MAIL_DIR']}/ (SMTP on 127.0.0.1:{env['USER_SERVICE_SMTP_PORT']})"
    )
    lines.append(f"  PostgreSQL       {env['USER_SERVICE_DATABASE_URL']}")
    lines.append("")
    return "\n".join(lines)


def run(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="add N demo users")
    parser.add_argument(
        "--reload",
        action="store_true",
        help="restart the gRPC server, worker, scheduler and gateway when their code changes",
    )
    parser.add_argument(
        "--reload-dir",
        type=Path,
        action="append",
        metavar="DIR",
        help="watch DIR for --reload (repeatable; default: every libs/*/src and services/*/src)",
    )
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="the gateway and the user-service's API as one process (STACK_TOPOLOGY=one-process)",
    )
    parser.add_argument(
        "--spa",
        action="store_true",
        help="serve the example SPA's build (examples/spa/dist) with the API on one origin",
    )
    args = parser.parse_args(argv)
    if args.spa and not (SPA_DIST / "index.html").is_file():
        print(
            f"--spa: {SPA_DIST}/index.html is missing: run `npm ci && npm run build` in "
            "examples/spa (`nox -s up -- --spa` does)",
            file=sys.stderr,
        )
        return 1
    reload_dirs = (args.reload_dir or default_reload_dirs()) if args.reload else None
    here = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    if reload_dirs and shutil.which("watchfiles", path=here) is None:
        print("--reload needs watchfiles (pip install watchfiles)", file=sys.stderr)
        return 1

    env = dict(os.environ)
    if args.one_process:
        env["STACK_TOPOLOGY"] = ONE_PROCESS
    try:
        topology(env)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    problem = check_ports(env, spa=args.spa)
    if problem:
        print(problem, file=sys.stderr)
        return 1

    from honcho.manager import Manager

    with backing_services(args.data_dir, env):
        proc_env = service_env(env, args.data_dir)
        proc_env["STACK_TOPOLOGY"] = topology(env)
        if args.spa:
            proc_env["STACK_SPA_DIR"] = str(SPA_DIST)
            # the emailed links (/verify-email, /reset-password) open the app served here
            spa_url = f"http://127.0.0.1:{SPA_PORT.value(proc_env)}"
            proc_env.setdefault("USER_SERVICE_PUBLIC_URL", spa_url)
        migrate = subprocess.run(MIGRATE, env=proc_env, check=False)
        if migrate.returncode != 0:
            print("migrations failed; see the output above", file=sys.stderr)
            return migrate.returncode
        if args.seed:
            subprocess.run(seed_command(args.seed), env=proc_env, check=True)
        processes = procfile(proc_env, reload_dirs)
        manager = Manager()
        for name, command in processes.items():
            manager.add_process(name, command, env=process_env(proc_env, name), cwd=str(ROOT))
        print(banner(proc_env, processes), flush=True)
        manager.loop()  # returns when a process exits or on SIGINT/SIGTERM (all are stopped)
        print("stopping the embedded servers", flush=True)
    return 0 if manager.returncode in (None, 0, 130, 143) else int(manager.returncode)


if __name__ == "__main__":
    raise SystemExit(run())
