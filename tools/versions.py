"""Fail when a library's source changed since its last release but nothing says so.

"Last release" without tags: the libraries' state at a git baseline. By default the baseline is
the merge-base of HEAD with ``main`` (the local branch, else ``origin/main``): on a feature branch
that is where the branch left main, whose versions are the released ones. On ``main`` itself (or
a detached HEAD on main's tip, as in CI) it is the previous commit, so CI on main checks the
commit it runs on.
``--base REF`` or ``VERSIONS_BASE`` overrides it. The working tree (staged, unstaged and untracked
files) is compared with the baseline.

A library passes when its ``src/`` and ``pyproject.toml`` are unchanged, or its version changed,
or its CHANGELOG's ``## [Unreleased]`` section changed (an entry waiting for the next release).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.release import ReleaseError, read_version, unreleased_body, version_file

ROOT = Path(__file__).resolve().parent.parent


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


def _rev(root: Path, ref: str) -> str | None:
    done = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    return done.stdout.strip() if done.returncode == 0 else None


def default_base(root: Path) -> tuple[str | None, str]:  # noqa: PLR0911
    """(baseline commit or None, how it was chosen)."""
    if os.environ.get("VERSIONS_BASE"):
        ref = os.environ["VERSIONS_BASE"]
        return _rev(root, ref), f"VERSIONS_BASE={ref}"
    head = _rev(root, "HEAD")
    if head is None:
        return None, "no commit yet"
    for main in ("refs/heads/main", "refs/remotes/origin/main"):
        if _rev(root, main) is None:
            continue
        merge_base = _git(root, "merge-base", "HEAD", main).stdout.strip()
        if not merge_base:
            return None, f"HEAD has no common history with {main}"
        if merge_base != head:
            return merge_base, f"merge-base of HEAD and {main}"
        branch = _git(root, "symbolic-ref", "--quiet", "HEAD").stdout.strip()
        if branch and branch != "refs/heads/main":
            return head, f"{branch} has no commits of its own: HEAD"
        parent = _rev(root, "HEAD~1")
        if parent is None:
            return None, "HEAD is main's first commit"
        return parent, "HEAD is on main: its previous commit"
    return None, "no main branch (neither main nor origin/main)"


def _show(root: Path, base: str, path: Path) -> str | None:
    done = _git(root, "show", f"{base}:{path.relative_to(root).as_posix()}")
    return done.stdout if done.returncode == 0 else None


@dataclass
class Verdict:
    package: str
    ok: bool
    reason: str


def check_library(root: Path, base: str, package: Path) -> Verdict:
    name = package.name
    rel = package.relative_to(root).as_posix()
    if _show(root, base, package / "pyproject.toml") is None:
        return Verdict(name, True, "new since the baseline")
    watched = [f"{rel}/src", f"{rel}/pyproject.toml"]
    changed = _git(root, "diff", "--name-only", base, "--", *watched).stdout.split()
    changed += _git(
        root, "ls-files", "--others", "--exclude-standard", "--", *watched
    ).stdout.split()
    if not changed:
        return Verdict(name, True, "source unchanged")
    vfile = version_file(package)
    old_source = _show(root, base, vfile)
    try:
        old_version = read_version(old_source) if old_source is not None else None
    except ReleaseError:
        old_version = None
    new_version = read_version(vfile.read_text())
    if old_version != new_version:
        return Verdict(name, True, f"version {old_version} -> {new_version}")
    old_changelog = _show(root, base, package / "CHANGELOG.md") or ""
    new_changelog = (package / "CHANGELOG.md").read_text()
    try:
        old_notes = unreleased_body(old_changelog)
    except ReleaseError:
        old_notes = ""
    if unreleased_body(new_changelog) != old_notes:
        return Verdict(name, True, "CHANGELOG Unreleased section updated")
    files = ", ".join(sorted(set(changed))[:5])
    return Verdict(
        name,
        False,
        f"source changed ({files}) but neither the version ({new_version}) nor the CHANGELOG's "
        "Unreleased section did: add an entry under `## [Unreleased]` "
        f"(or release: nox -s release -- {name} patch)",
    )


def check(root: Path, base: str, packages: list[Path]) -> list[Verdict]:
    return [check_library(root, base, package) for package in packages]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="git ref of the last release (default: see module doc)")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.base:
        base, how = _rev(root, args.base), f"--base {args.base}"
    else:
        base, how = default_base(root)
    if base is None:
        print(f"versions: SKIPPED, no baseline to compare with ({how})")
        return 0
    print(f"versions: baseline {base[:12]} ({how})")
    libs = sorted(p.parent for p in (root / "libs").glob("*/pyproject.toml"))
    verdicts = check(root, base, libs)
    for verdict in verdicts:
        print(f"  {'ok  ' if verdict.ok else 'FAIL'} {verdict.package}: {verdict.reason}")
    return 0 if all(v.ok for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
