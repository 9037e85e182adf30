"""Bump a package's version and move its CHANGELOG's Unreleased section under it.

    python tools/release.py alvin-python-lib minor [--date 2026-12-01]

The version lives in one place, ``src/<pkg>/__init__.py`` (``__version__ = "X.Y.Z"``, read by
hatch's dynamic version). The CHANGELOG's ``## [Unreleased]`` section must not be empty: its
entries move under ``## [X.Y.Z] - DATE`` and an empty Unreleased section is left on top.
Nothing is committed or tagged; review the diff and commit it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
# [ \t]*, not \s*, at the end: the line's newline (often the file's last) must stay
VERSION_RE = re.compile(r'^__version__\s*=\s*"(?P<version>\d+\.\d+\.\d+)"[ \t]*$', re.MULTILINE)
UNRELEASED_RE = re.compile(r"^## \[Unreleased\][^\n]*\n", re.MULTILINE)
NEXT_SECTION_RE = re.compile(r"^## \[", re.MULTILINE)
PARTS = ("major", "minor", "patch")


class ReleaseError(Exception):
    """A release cannot be made; the message says why."""


def find_package(name: str, root: Path = ROOT) -> Path:
    """The folder of a package under libs/ or services/, by folder or distribution name."""
    for kind in ("libs", "services"):
        for pyproject in sorted((root / kind).glob("*/pyproject.toml")):
            folder = pyproject.parent
            with pyproject.open("rb") as file:
                project_name = tomllib.load(file)["project"]["name"]
            if name in (folder.name, project_name):
                return folder
    raise ReleaseError(f"no package named {name!r} under libs/ or services/")


def version_file(package: Path) -> Path:
    """The file named by ``[tool.hatch.version] path`` in the package's pyproject.toml."""
    with (package / "pyproject.toml").open("rb") as file:
        data = tomllib.load(file)
    try:
        return package / data["tool"]["hatch"]["version"]["path"]
    except KeyError as exc:
        raise ReleaseError(f"{package.name}: no [tool.hatch.version] path") from exc


def read_version(text: str) -> str:
    match = VERSION_RE.search(text)
    if match is None:
        raise ReleaseError('no `__version__ = "X.Y.Z"` line')
    return match["version"]


def bump(version: str, part: str) -> str:
    major, minor, patch = (int(n) for n in version.split("."))
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    if part == "patch":
        return f"{major}.{minor}.{patch + 1}"
    raise ReleaseError(f"unknown part {part!r}: use one of {', '.join(PARTS)}")


def unreleased_body(changelog: str) -> str:
    """The text of the ``## [Unreleased]`` section (without its heading), stripped."""
    heading = UNRELEASED_RE.search(changelog)
    if heading is None:
        raise ReleaseError("CHANGELOG.md has no `## [Unreleased]` section")
    following = NEXT_SECTION_RE.search(changelog, heading.end())
    end = following.start() if following else len(changelog)
    return changelog[heading.end() : end].strip()


def move_unreleased(changelog: str, version: str, date: str) -> str:
    body = unreleased_body(changelog)
    if not body:
        raise ReleaseError(
            "the CHANGELOG's Unreleased section is empty: describe the changes before releasing"
        )
    if re.search(rf"^## \[{re.escape(version)}\]", changelog, re.MULTILINE):
        raise ReleaseError(f"CHANGELOG.md already has a section for {version}")
    heading = UNRELEASED_RE.search(changelog)
    assert heading is not None
    following = NEXT_SECTION_RE.search(changelog, heading.end())
    end = following.start() if following else len(changelog)
    rest = changelog[end:]
    new = f"## [Unreleased]\n\n## [{version}] - {date}\n\n{body}\n"
    return changelog[: heading.start()] + new + ("\n" + rest if rest else "")


def release(package: Path, part: str, date: str) -> tuple[str, str]:
    """Bump ``package``'s version and its CHANGELOG; returns (old, new) version."""
    vfile = version_file(package)
    changelog_path = package / "CHANGELOG.md"
    source = vfile.read_text()
    old = read_version(source)
    new = bump(old, part)
    changelog = move_unreleased(changelog_path.read_text(), new, date)
    # both computed before anything is written: an error leaves the package untouched
    vfile.write_text(VERSION_RE.sub(f'__version__ = "{new}"', source, count=1))
    changelog_path.write_text(changelog)
    return old, new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package", help="folder or distribution name, e.g. alvin-python-lib")
    parser.add_argument("part", choices=PARTS)
    parser.add_argument("--date", default=dt.date.today().isoformat(), help="YYYY-MM-DD")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        package = find_package(args.package, args.root)
        old, new = release(package, args.part, args.date)
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    print(f"{package.name}: {old} -> {new} ({args.date}); CHANGELOG updated. Review and commit.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
