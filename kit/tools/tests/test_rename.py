"""kit/tools/rename.py on small throw-away kits (the whole kit is renamed in test_makeityours.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kit.tools import rename
from tools import kit_update
from tools.tests.helpers import git

OLD = rename.OLD_NAME


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{OLD}-python-lib", "my-co-python-lib"),
        (f"{OLD}_python_lib", "my_co_python_lib"),
        (f"package {OLD}.user.v1;", "package my_co.user.v1;"),
        (f"proto/{OLD}/user/v1", "proto/my_co/user/v1"),
        (f"{OLD.upper()}_PYTHON_LIB", "MY_CO_PYTHON_LIB"),
        (f'"{OLD.capitalize()} <no-reply@example.com>"', '"MyCo <no-reply@example.com>"'),
        (f"My{OLD.capitalize()}Thing", "MyMyCoThing"),
        (f"{OLD}-grpc-health", "my-co-grpc-health"),
        (f"c{OLD} {OLD}ize X{OLD.upper()}Y", f"c{OLD} {OLD}ize X{OLD.upper()}Y"),  # not names
    ],
)
def test_every_form_becomes_the_same_form_of_the_new_name(text: str, expected: str) -> None:
    assert rename.Renamer(OLD, "my_co").rewrite(text) == expected


def test_a_renamed_kit_can_be_renamed_again() -> None:
    first = rename.Renamer(OLD, "my_co").rewrite(f"{OLD}-protos {OLD}_protos {OLD.upper()}_X")
    assert rename.Renamer("my_co", "zeta").rewrite(first) == "zeta-protos zeta_protos ZETA_X"


@pytest.mark.parametrize(
    "name",
    ["Acme", "1acme", "acme-corp", "acme_corp", "a", "a" * 16, "", "class", OLD, f"{OLD}2"],
)
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(rename.RenameError):
        rename.validate_name(name)


def _kit(root: Path) -> Path:
    """A tiny kit in a git repository: names in paths, text, a binary file, an ignored folder."""
    files = {
        f"libs/{OLD}-python-lib/pyproject.toml": f'name = "{OLD}-python-lib"\n',
        f"libs/{OLD}-python-lib/src/{OLD}_python_lib/__init__.py": f'"""{OLD.capitalize()}."""\n',
        f"proto/{OLD}/user/v1/user.proto": f"package {OLD}.user.v1;\n",
        "README.md": f"# {OLD}\n\nSet {OLD.upper()}_PYTHON_LIB.\n",
        "docs/new-page.md": f"untracked but not ignored: {OLD}_grpc\n",
        ".gitignore": ".nox/\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "logo.bin").write_bytes(b"\0\x01" + OLD.encode())
    (root / ".nox" / "venv").mkdir(parents=True)
    (root / ".nox" / "venv" / f"{OLD}.txt").write_text(OLD)
    git(root, "init", "-q")
    git(root, "add", "libs", "proto", "README.md", ".gitignore", "logo.bin")
    git(root, "commit", "-q", "-m", "kit")
    return root


def test_rename_into_a_new_folder(tmp_path: Path) -> None:
    src = _kit(tmp_path / "kit")
    dest = rename.rename("acme", src=src, dest=tmp_path / "out", generate=False, fix=False)
    assert (
        dest / "libs/acme-python-lib/pyproject.toml"
    ).read_text() == 'name = "acme-python-lib"\n'
    assert (dest / "libs/acme-python-lib/src/acme_python_lib/__init__.py").read_text() == (
        '"""Acme."""\n'
    )
    assert (dest / "proto/acme/user/v1/user.proto").read_text() == "package acme.user.v1;\n"
    assert (dest / "README.md").read_text() == "# acme\n\nSet ACME_PYTHON_LIB.\n"
    assert (dest / "docs/new-page.md").read_text() == "untracked but not ignored: acme_grpc\n"
    assert (dest / "logo.bin").read_bytes() == b"\0\x01" + OLD.encode()  # binary: copied as is
    assert not (dest / ".nox").exists()
    assert not list(dest.rglob(f"*{OLD}*"))
    assert (src / "README.md").read_text().startswith(f"# {OLD}")  # the source is untouched


def test_the_copy_records_where_it_came_from(tmp_path: Path) -> None:
    src = _kit(tmp_path / "kit")
    git(src, "tag", "v1.0.0")
    dest = rename.rename(
        "acme", src=src, dest=tmp_path / "out", generate=False, fix=False, without_kit=True
    )
    record = kit_update.read_record(dest)
    assert record.commit == git(src, "rev-parse", "HEAD").strip()
    assert (record.version, record.name, record.without_kit) == ("v1.0.0", "acme", True)
    assert record.repository == str(src.resolve())
    assert record.dirty  # docs/new-page.md is not committed: the copy holds more than the commit
    # a copy of a copy gets its own record, not its source's
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "acme")
    again = rename.rename(
        "zeta", src=dest, dest=tmp_path / "again", old_name="acme", generate=False, fix=False
    )
    assert kit_update.read_record(again).repository == str(dest.resolve())
    assert kit_update.read_record(again).name == "zeta"


def test_an_existing_destination_is_refused(tmp_path: Path) -> None:
    src = _kit(tmp_path / "kit")
    (tmp_path / "out").mkdir()
    with pytest.raises(rename.RenameError, match="already exists"):
        rename.rename("acme", src=src, dest=tmp_path / "out", generate=False, fix=False)
    assert list((tmp_path / "out").iterdir()) == []


def test_in_place_needs_a_clean_tree(tmp_path: Path) -> None:
    src = _kit(tmp_path / "kit")  # docs/new-page.md is untracked
    with pytest.raises(rename.RenameError, match="clean git tree"):
        rename.rename("acme", src=src, in_place=True, generate=False, fix=False)
    assert (src / f"proto/{OLD}/user/v1/user.proto").exists()


def test_in_place_moves_and_rewrites(tmp_path: Path) -> None:
    src = _kit(tmp_path / "kit")
    git(src, "add", "docs")
    git(src, "commit", "-q", "-m", "docs")
    assert rename.rename("acme", src=src, in_place=True, generate=False, fix=False) == src
    assert (src / "proto/acme/user/v1/user.proto").read_text() == "package acme.user.v1;\n"
    assert not (src / "proto" / OLD).exists()
    assert not (src / "libs" / f"{OLD}-python-lib").exists()
    assert (src / ".nox/venv" / f"{OLD}.txt").exists()  # ignored files are left alone
    assert (src / "README.md").read_text() == "# acme\n\nSet ACME_PYTHON_LIB.\n"


def test_leftovers_are_reported(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(f"still {OLD}\n")
    (tmp_path / "b.txt").write_text(f"a longer word: C{OLD} {OLD}ish\n")
    found = rename.leftovers(tmp_path, rename.Renamer(OLD, "acme"))
    assert found == [f"a.txt: {OLD}"]


def test_main_refuses_a_bad_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert rename.main(["--to", "Not-Valid"]) == 2
    assert "not a valid name" in capsys.readouterr().err


def test_the_secrets_baseline_follows_the_rename(tmp_path: Path) -> None:
    scanner = shutil.which("detect-secrets", path=str(Path(sys.executable).parent))
    if scanner is None:
        pytest.skip("detect-secrets is not installed")
    src = tmp_path / "kit"
    src.mkdir()
    (src / "settings.env").write_text(f"DB_PASSWORD=dev-only-{OLD}-password\n")
    (src / ".gitignore").write_text(".nox/\n")
    git(src, "init", "-q")
    subprocess.run(
        [scanner, "scan", "settings.env"],
        cwd=src,
        check=True,
        stdout=(src / ".secrets.baseline").open("w"),
    )
    baseline = json.loads((src / ".secrets.baseline").read_text())
    for entry in baseline["results"]["settings.env"]:
        entry["is_secret"] = False  # audited: a placeholder
    (src / ".secrets.baseline").write_text(json.dumps(baseline, indent=2) + "\n")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "kit")

    dest = rename.rename("acme", src=src, dest=tmp_path / "out", generate=False, fix=False)
    after = json.loads((dest / ".secrets.baseline").read_text())["results"]["settings.env"]
    found = json.loads(
        subprocess.run(
            [scanner, "scan", "settings.env"], cwd=dest, check=True, capture_output=True
        ).stdout
    )["results"]["settings.env"]
    assert {e["hashed_secret"] for e in after} == {e["hashed_secret"] for e in found}
    assert {e["hashed_secret"] for e in after}.isdisjoint(
        {e["hashed_secret"] for e in baseline["results"]["settings.env"]}
    )
    assert all(entry["is_secret"] is False for entry in after)
    # the kit's scan date is kept: renaming the same commit twice gives the same baseline
    assert (
        json.loads((dest / ".secrets.baseline").read_text())["generated_at"]
        == (baseline["generated_at"])
    )
