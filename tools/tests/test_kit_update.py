"""tools/kit_update.py on a tiny kit whose rename script swaps one word (real git, no mocks).

The whole kit, renamed by its real rename and updated through nox, is in the make-it-yours suite
(kit/tools/tests/test_makeityours.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools import kit_update
from tools.tests.helpers import git

# The tiny kit's own renamer: every file git knows, with "zork" swapped for the new name in
# contents and paths (kit/ left out with --without-kit). Standalone, as the real one is run.
RENAME_SCRIPT = """\
import argparse, pathlib, subprocess
parser = argparse.ArgumentParser()
parser.add_argument("--to")
parser.add_argument("--dest")
parser.add_argument("--without-kit", action="store_true")
args = parser.parse_args()
root = pathlib.Path(__file__).resolve().parents[2]
names = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True)
for name in names.stdout.split():
    if args.without_kit and name.startswith("kit/"):
        continue
    target = pathlib.Path(args.dest, name.replace("zork", args.to))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text((root / name).read_text().replace("zork", args.to))
"""

LIB = "def one():\n    return 1\n\n\ndef two():\n    return 2\n"
APP = "import zork_core\n\n\ndef main():\n    return zork_core.one()\n\n\nDEBUG = False\n"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    """The tiny kit at its first commit, tagged v1.0.0."""
    root = tmp_path / "kit"
    _write(
        root,
        {
            "kit/tools/rename.py": RENAME_SCRIPT,
            "lib/zork_core.py": LIB,
            "svc/app.py": APP,
            "docs/guide.md": "# zork guide\n",
            "README.md": "# zork\n",
        },
    )
    git(root, "init", "-q")
    _commit(root, "kit")
    git(root, "tag", "v1.0.0")
    return root


@pytest.fixture
def copy(kit: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The kit renamed to ``acme`` by its own script, with the record, committed."""
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    dest = tmp_path / "acme-backend"
    script = kit / kit_update.RENAME_SCRIPT
    subprocess.run([sys.executable, str(script), "--to", "acme", "--dest", str(dest)], check=True)
    origin = kit_update.describe_kit(kit)
    assert origin is not None
    assert (origin.version, origin.dirty) == ("v1.0.0", False)
    kit_update.write_record(dest, kit_update.Record(**{**origin.__dict__, "name": "acme"}))
    git(dest, "init", "-q")
    _commit(dest, "acme backend")
    return dest


def _record_at(copy: Path, rev: str) -> kit_update.Record:
    text = git(copy, "show", f"{rev}:{kit_update.RECORD}")
    folder = copy.parent / f"record-{rev.replace(':', '')}"
    folder.mkdir(exist_ok=True)
    (folder / kit_update.RECORD).write_text(text)
    return kit_update.read_record(folder)


def test_the_record_reads_back_what_was_written(tmp_path: Path) -> None:
    record = kit_update.Record(
        repository='C:\\kits\\"odd" name',
        commit="a" * 40,
        version="v1.2.0-3-gaaaaaaa",
        name="acme",
        without_kit=True,
        dirty=True,
    )
    kit_update.write_record(tmp_path, record)
    assert kit_update.read_record(tmp_path) == record


def test_a_clean_update_keeps_the_copys_edits_and_deletions(kit: Path, copy: Path) -> None:
    first = git(kit, "rev-parse", "HEAD").strip()
    # the copy: its own line in the service, docs/ deleted
    (copy / "svc/app.py").write_text(
        APP.replace("zork", "acme").replace("import acme_core\n", "import acme_core\nimport os\n")
    )
    git(copy, "rm", "-q", "-r", "docs")
    _commit(copy, "our edits")
    # the kit's next release: a library fix, another place in the service, docs changed and added
    _write(
        kit,
        {
            "lib/zork_core.py": LIB.replace("return 2", "return 2  # zork fix"),
            "lib/zork_extra.py": "EXTRA = 'zork'\n",
            "svc/app.py": APP.replace("DEBUG = False", "DEBUG = False\nTIMEOUT = 5"),
            "docs/guide.md": "# zork guide, better\n",
            "docs/more.md": "more\n",
        },
    )
    second = _commit(kit, "kit 2")
    git(kit, "tag", "v2.0.0")

    outcome = kit_update.update(copy, "2.0.0", python=sys.executable)

    assert outcome.conflicts == []
    assert outcome.kept_deleted == ["docs/guide.md", "docs/more.md"]
    assert (copy / "lib/acme_core.py").read_text().endswith("return 2  # acme fix\n")
    assert (copy / "lib/acme_extra.py").read_text() == "EXTRA = 'acme'\n"
    app = (copy / "svc/app.py").read_text()
    assert "import os\n" in app
    assert "TIMEOUT = 5" in app
    assert not (copy / "docs").exists()
    # staged, not committed: the record moves with the merge commit only
    assert _record_at(copy, "HEAD").commit == first
    assert _record_at(copy, ":0").commit == second
    assert "merged cleanly" in kit_update.summary(outcome)
    git(copy, "commit", "-q", "--no-edit")
    assert _record_at(copy, "HEAD").commit == second
    assert _record_at(copy, "HEAD").version == "v2.0.0"
    assert git(copy, "rev-list", "--parents", "-n1", "HEAD").count(" ") == 2  # a merge
    assert git(copy, "status", "--porcelain") == ""
    # and again: nothing to do
    again = kit_update.update(copy, "v2.0.0", python=sys.executable)
    assert "already at" in kit_update.summary(again)


def test_a_conflict_is_an_ordinary_merge_conflict_and_abort_keeps_the_old_record(
    kit: Path, copy: Path
) -> None:
    first = git(kit, "rev-parse", "HEAD").strip()
    (copy / "lib/acme_core.py").write_text(LIB.replace("return 1", "return 10"))
    _commit(copy, "ours")
    _write(kit, {"lib/zork_core.py": LIB.replace("return 1", "return 100")})
    _commit(kit, "theirs")

    outcome = kit_update.update(copy, "main", python=sys.executable)

    assert outcome.conflicts == ["lib/acme_core.py"]
    assert any("CONFLICT" in line for line in outcome.messages)
    text = (copy / "lib/acme_core.py").read_text()
    assert "<<<<<<< HEAD" in text
    assert "return 10" in text
    assert "return 100" in text
    assert "UU lib/acme_core.py" in git(copy, "status", "--porcelain")
    assert "1 conflicts" in kit_update.summary(outcome)
    # git commit refuses while it is unresolved; git merge --abort undoes all of it
    with pytest.raises(subprocess.CalledProcessError):
        git(copy, "commit", "-q", "--no-edit")
    git(copy, "merge", "--abort")
    assert _record_at(copy, "HEAD").commit == first
    assert kit_update.read_record(copy).commit == first
    assert (copy / "lib/acme_core.py").read_text() == LIB.replace("return 1", "return 10")
    assert git(copy, "status", "--porcelain") == ""


def test_commit_flag_commits_a_clean_merge(kit: Path, copy: Path) -> None:
    _write(kit, {"README.md": "# zork\n\nBetter.\n"})
    second = _commit(kit, "kit 2")
    outcome = kit_update.update(copy, second[:10], commit=True, python=sys.executable)
    assert outcome.committed
    assert (copy / "README.md").read_text() == "# acme\n\nBetter.\n"
    assert _record_at(copy, "HEAD").commit == second


def test_refusals(
    kit: Path,
    copy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (copy / "README.md").write_text("changed\n")
    with pytest.raises(kit_update.UpdateError, match="uncommitted"):
        kit_update.update(copy, "main")
    git(copy, "checkout", "-q", "--", "README.md")
    with pytest.raises(kit_update.UpdateError, match="neither a commit"):
        kit_update.update(copy, "no-such-ref")
    plain = tmp_path / "plain"
    plain.mkdir()
    git(plain, "init", "-q")
    with pytest.raises(kit_update.UpdateError, match="no kit-origin"):
        kit_update.update(plain, "main")
    monkeypatch.chdir(copy)
    assert kit_update.main(["--to", "main", "--from-repo", str(tmp_path / "nowhere")]) == 2
    assert "cannot clone the kit" in capsys.readouterr().err


def test_a_copy_without_the_kit_folder_is_renamed_the_same_way(kit: Path, copy: Path) -> None:
    """The record's --without-kit reaches both renames: a kit/ change does not arrive."""
    record = kit_update.read_record(copy)
    kit_update.write_record(copy, kit_update.Record(**{**record.__dict__, "without_kit": True}))
    git(copy, "rm", "-q", "-r", "kit")
    _commit(copy, "without kit/")
    _write(kit, {"kit/notes.md": "zork notes\n", "lib/zork_core.py": LIB + "\nTHREE = 3\n"})
    _commit(kit, "kit 2")

    outcome = kit_update.update(copy, "main", python=sys.executable)

    assert outcome.conflicts == []
    assert outcome.kept_deleted == []  # kit/ is not in either rename, so nothing to leave out
    assert sorted(outcome.changed) == [kit_update.RECORD, "lib/acme_core.py"]
    assert not (copy / "kit").exists()
