"""`run_stack.py --reload` (`nox -s up -- --reload`): editing a module restarts the processes
that run it, and they come back serving.

The stack runs from a temporary copy of the services' sources (first on PYTHONPATH, so the copy
wins over the editable installs), and only the copy is edited: the working tree is never touched.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import LocalStack, started_stack

from kit.stack import http_ok

pytestmark = [pytest.mark.local_stack, pytest.mark.split_topology]

ROOT = Path(__file__).resolve().parents[2]
COPIED = {
    "user_service": ROOT / "services" / "user-service" / "src" / "user_service",
    "gateway_graphql": ROOT / "services" / "gateway-graphql" / "src" / "gateway_graphql",
}
# Appended to each copied package's __init__.py: every process that imports the edited code
# leaves a file named after its pid holding its command line.
MARKER = """
import os as _os
import sys as _sys

if _os.environ.get("RELOAD_TEST_MARKS"):
    with open(_os.path.join(_os.environ["RELOAD_TEST_MARKS"], str(_os.getpid())), "w") as _mark:
        _mark.write(" ".join(_sys.argv))
"""


@dataclass
class ReloadingStack:
    stack: LocalStack
    src: Path
    marks: Path

    def ready(self) -> bool:
        return http_ok(f"{self.stack.gateway_url}/readyz")

    def marked_commands(self) -> list[str]:
        return [path.read_text() for path in self.marks.iterdir() if path.stat().st_size]


@pytest.fixture
def reloading_stack(tmp_path: Path) -> Iterator[ReloadingStack]:
    src, marks, data = tmp_path / "src", tmp_path / "marks", tmp_path / "data"
    marks.mkdir()
    data.mkdir()
    for name, folder in COPIED.items():
        shutil.copytree(folder, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    env = {
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
        "RELOAD_TEST_MARKS": str(marks),
    }
    args = ["--reload", "--reload-dir", str(src)]
    with started_stack(data, args=args, env=env, stop_timeout=60) as stack:
        yield ReloadingStack(stack, src, marks)


def test_an_edited_module_restarts_the_processes_that_run_it(
    reloading_stack: ReloadingStack,
) -> None:
    stack = reloading_stack
    assert stack.marked_commands() == []  # the marker is not in the code that started
    for package in COPIED:
        init = stack.src / package / "__init__.py"
        init.write_text(init.read_text() + MARKER)

    wanted: dict[str, Callable[[str], bool]] = {
        "grpc": lambda c: "grpcserver" in c,
        "worker": lambda c: " worker" in c,
        "scheduler": lambda c: "scheduler" in c,
        "gateway": lambda c: "gunicorn" in c or "gateway serve" in c,
    }

    def restarted() -> bool:
        commands = stack.marked_commands()
        return all(any(test(c) for c in commands) for test in wanted.values())

    stack.stack.wait_until("grpc, worker, scheduler and gateway restarted", restarted, timeout=90)
    stack.stack.wait_until("the restarted stack is ready", stack.ready, timeout=60)
    # The SMTP catcher is not restarted (it keeps the mail it caught).
    assert not [c for c in stack.marked_commands() if " smtp" in c]
