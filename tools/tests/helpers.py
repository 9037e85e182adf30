"""A throw-away kit layout (libs/ and services/ packages) for the tools' tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

CHANGELOG = """# Changelog

All notable changes.

## [Unreleased]

## [0.1.0] - 2026-01-01

### Added
- First release.
"""


def make_package(
    root: Path,
    kind: str,
    name: str,
    *,
    dependencies: tuple[str, ...] = (),
    version: str = "0.1.0",
    changelog: str = CHANGELOG,
) -> Path:
    import_name = name.replace("-", "_")
    folder = root / kind / name
    src = folder / "src" / import_name
    src.mkdir(parents=True)
    deps = ", ".join(f'"{d}"' for d in dependencies)
    (folder / "pyproject.toml").write_text(
        f"""[project]
name = "{name}"
dynamic = ["version"]
dependencies = [{deps}]

[tool.hatch.version]
path = "src/{import_name}/__init__.py"

[tool.hatch.build.targets.wheel]
packages = ["src/{import_name}"]
"""
    )
    (src / "__init__.py").write_text(f'"""{name}."""\n\n__version__ = "{version}"\n')
    (folder / "CHANGELOG.md").write_text(changelog)
    return folder


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout
