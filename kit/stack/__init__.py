"""One launcher for the suites that prove the kit: e2e, faults and benchmarks start the stack here.

The processes and their commands come from the product's own definition in
``deploy/local/run_stack.py`` (``product.py`` loads it), so a renamed command changes in one place.

- ``launched.py``: the whole stack started the way ``nox -s up`` starts it (run_stack.py on free
  ports, a fresh data folder, ready when the gateway and the gRPC server answer their health
  checks, stopped by SIGINT). e2e and the benchmarks use it.
- ``pieces.py``: the same processes started one at a time, each killable and restartable, with
  the embedded PostgreSQL and Redis stoppable on their data folders (``servers.py``). The fault
  suite uses it.
- ``proc.py``: one process in its own process group with its own log file.
- ``poll.py``: free ports, polling with a deadline (never a sleep as synchronisation), health
  checks over HTTP and gRPC.

The product never imports this package (``kit/`` may be left out of a copy).
"""

from __future__ import annotations

from kit.stack.launched import LaunchedStack, started_stack
from kit.stack.pieces import Stack, stack_in
from kit.stack.poll import Exited, free_port, grpc_health, http_ok, wait_for
from kit.stack.proc import Proc
from kit.stack.servers import Servers

__all__ = [
    "Exited",
    "LaunchedStack",
    "Proc",
    "Servers",
    "Stack",
    "free_port",
    "grpc_health",
    "http_ok",
    "stack_in",
    "started_stack",
    "wait_for",
]
