"""Fixtures of the fault suite: a fresh :class:`faultkit.Stack` per test, the load duration, and
the suite's last line ``faults: N passed, N failed``."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultkit import Stack, stack_in

DEFAULT_LOAD_SECONDS = 15.0  # CI; the full run is `nox -s faults -- --load-seconds 60`


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--load-seconds",
        type=float,
        default=float(os.environ.get("FAULTS_LOAD_SECONDS", DEFAULT_LOAD_SECONDS)),
        help="duration of the load test (env FAULTS_LOAD_SECONDS; default %(default)s)",
    )
    parser.addoption(
        "--load-clients", type=int, default=16, help="concurrent clients of the load test"
    )


@pytest.fixture
def load_seconds(request: pytest.FixtureRequest) -> float:
    return float(request.config.getoption("--load-seconds"))


@pytest.fixture
def load_clients(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("--load-clients"))


def _folder(prefix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[Path]:
    """A migrated PostgreSQL data folder, stopped: each test starts on a copy of it."""
    folder = _folder("faults-template-")
    with stack_in(folder) as template:
        template.start_postgres()
    yield folder / "postgres"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def stack(request: pytest.FixtureRequest, postgres_template: Path) -> Iterator[Stack]:
    """An empty stack in a fresh folder: the test starts what it needs; all killed after.

    Not under pytest's basetemp (mode 0700): pgserver runs PostgreSQL as its own user when run
    as root, and that user must reach the data folder. The folder (logs included) is removed
    when the test passed, kept and named in the report otherwise.
    """
    folder = _folder("faults-")
    with stack_in(folder, postgres_template) as started:
        yield started
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.passed:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        print(f"\nlogs of {request.node.name}: {folder}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


FIGURES: dict[str, dict[str, object]] = {}


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> dict[str, object]:
    """What the test measured; printed in the summary (and written to FAULTS_FIGURES, if set)."""
    found: dict[str, object] = {}
    FIGURES[request.node.name] = found
    return found


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("figures")
    for name, values in FIGURES.items():
        shown = ", ".join(f"{key}={value}" for key, value in values.items())
        terminalreporter.write_line(f"{name}: {shown}")
    target = os.environ.get("FAULTS_FIGURES")
    if target:
        Path(target).write_text(json.dumps(FIGURES, indent=2, default=str) + "\n")


_passed: set[str] = set()
_failed: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:  # a failed setup or teardown fails the test too
        _failed.add(report.nodeid)
    elif report.when == "call" and report.passed:
        _passed.add(report.nodeid)


def pytest_unconfigure(config: pytest.Config) -> None:
    # after pytest's own summary line: this is the last line of the run
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    line = f"faults: {len(_passed - _failed)} passed, {len(_failed)} failed"
    if reporter is not None:
        reporter.write_line(line)
    else:
        print(line)
