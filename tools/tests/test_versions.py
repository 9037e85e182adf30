from pathlib import Path

import pytest

from tools import versions
from tools.tests.helpers import git, make_package


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    make_package(tmp_path, "libs", "alvin-core")
    make_package(tmp_path, "libs", "alvin-other")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "release 0.1.0")
    git(tmp_path, "checkout", "-q", "-b", "feature")
    return tmp_path


def _edit_source(repo: Path) -> None:
    (repo / "libs/alvin-core/src/alvin_core/thing.py").write_text("X = 1\n")


def _verdicts(repo: Path) -> dict[str, versions.Verdict]:
    base, _how = versions.default_base(repo)
    assert base is not None
    libs = sorted(p.parent for p in (repo / "libs").glob("*/pyproject.toml"))
    return {v.package: v for v in versions.check(repo, base, libs)}


def test_unchanged_libraries_pass(repo: Path) -> None:
    assert all(v.ok for v in _verdicts(repo).values())


def test_changed_source_without_version_or_changelog_fails(repo: Path) -> None:
    _edit_source(repo)  # untracked file
    verdicts = _verdicts(repo)
    assert not verdicts["alvin-core"].ok
    assert "Unreleased" in verdicts["alvin-core"].reason
    assert verdicts["alvin-other"].ok
    assert versions.main(["--root", str(repo)]) == 1


def test_committed_change_on_the_branch_is_compared_with_the_merge_base(repo: Path) -> None:
    _edit_source(repo)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "change")
    base, how = versions.default_base(repo)
    assert "merge-base" in how
    assert base == git(repo, "rev-parse", "main").strip()
    assert not _verdicts(repo)["alvin-core"].ok


def test_a_changelog_entry_is_enough(repo: Path) -> None:
    _edit_source(repo)
    changelog = repo / "libs/alvin-core/CHANGELOG.md"
    changelog.write_text(
        changelog.read_text().replace("## [Unreleased]\n", "## [Unreleased]\n\n- Thing.\n")
    )
    assert _verdicts(repo)["alvin-core"].ok
    assert versions.main(["--root", str(repo)]) == 0


def test_a_version_bump_is_enough(repo: Path) -> None:
    _edit_source(repo)
    init = repo / "libs/alvin-core/src/alvin_core/__init__.py"
    init.write_text(init.read_text().replace("0.1.0", "0.1.1"))
    assert "0.1.0 -> 0.1.1" in _verdicts(repo)["alvin-core"].reason


def test_on_main_the_previous_commit_is_the_baseline(repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    _edit_source(repo)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "change on main")
    base, how = versions.default_base(repo)
    assert "previous commit" in how
    assert base == git(repo, "rev-parse", "HEAD~1").strip()
    assert not _verdicts(repo)["alvin-core"].ok


def test_no_baseline_is_a_skip(tmp_path: Path) -> None:
    make_package(tmp_path, "libs", "alvin-core")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "first")
    assert versions.default_base(tmp_path)[0] is None
    assert versions.main(["--root", str(tmp_path)]) == 0


def test_a_new_library_passes(repo: Path) -> None:
    make_package(repo, "libs", "alvin-new")
    assert _verdicts(repo)["alvin-new"].ok
