"""The product's definition of the local stack, read from ``deploy/local/run_stack.py``.

run_stack.py is a script (``nox -s up``), not a package: it is loaded here once by path, and every
suite takes from it the process table (name -> command), the migrate command, the launcher and the
processes' environment, so none of them spells a command of its own.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
RUN_STACK = ROOT / "deploy" / "local" / "run_stack.py"


@cache
def run_stack() -> ModuleType:
    """deploy/local/run_stack.py as a module."""
    spec = importlib.util.spec_from_file_location("run_stack", RUN_STACK)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {RUN_STACK}")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("run_stack", module)
    spec.loader.exec_module(module)
    return module


def launcher_command(data_dir: Path, *args: str) -> list[str]:
    """The command line of ``nox -s up`` on ``data_dir`` (with this interpreter)."""
    return [sys.executable, str(RUN_STACK), "--data-dir", str(data_dir), *args]


def service_env(
    ports: Mapping[str, str], data_dir: Path, caller: Mapping[str, str]
) -> dict[str, str]:
    """The processes' environment as run_stack.py builds it: its local defaults under ``caller``.

    ``ports`` holds what run_stack.py reads to place the stack (``DATABASE_URL``, ``REDIS_URL``,
    ``GATEWAY_PORT``, ``USER_SERVICE_GRPC_PORT``, ``STACK_SMTP_PORT``).
    """
    return dict(run_stack().service_env(ports, data_dir, caller))


def command(name: str, env: Mapping[str, str]) -> list[str]:
    """The argv of process ``name`` ("grpc", "worker", "scheduler", "smtp", "gateway")."""
    processes: dict[str, str] = run_stack().procfile(env)
    if name not in processes:
        raise KeyError(f"run_stack.py has no process {name!r} (it has {sorted(processes)})")
    return shlex.split(processes[name])


def process_for(role: str, env: Mapping[str, str]) -> str:
    """The process of the table that plays ``role`` ("gateway", "grpc" ...): in one-process
    topology (``STACK_TOPOLOGY=one-process``) the gateway and the gRPC server are one ``app``."""
    return str(run_stack().process_for(role, env))


def one_process(env: Mapping[str, str]) -> bool:
    """Whether ``env`` asks for the one-process topology."""
    return bool(run_stack().topology(env) == run_stack().ONE_PROCESS)


def migrate_command() -> list[str]:
    """The command that brings the database schema up to date."""
    return list(run_stack().MIGRATE)


def port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port``."""
    return bool(run_stack().port_in_use(port))
