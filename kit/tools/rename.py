"""Rename the kit: every name it owns, from ``alvin`` to yours (``nox -s rename -- --to acme``).

    python kit/tools/rename.py --to acme [--dest DIR | --in-place] [--without-kit] [--no-generate] [--no-fix]

What is rewritten, in file contents and in paths, is found by walking the tree (no list of files):
every file git knows about or would add (``git ls-files --cached --others --exclude-standard``, so
.nox, .venv, caches and .data are never copied). The old name is matched in its case forms, each
replaced by the same form of the new name:

    alvin   -> acme      (import names alvin_python_lib, the proto package alvin.user.v1, folders)
    alvin-  -> acme-     (distribution names alvin-python-lib, console scripts alvin-grpc-health;
                          next to a hyphen, a new name with underscores is written with hyphens)
    ALVIN   -> ACME      (environment variables such as ALVIN_PYTHON_LIB)
    Alvin   -> Acme      (prose, e.g. the default e-mail sender)

A match must not be glued to other letters (a longer word that merely contains it stays). Files
containing NUL bytes are copied unchanged; those that contain the old name are reported. Nothing
is exempt: CHANGELOG histories are renamed too, so the result contains no trace of the old name
(the final scan checks that, and fails listing any file left).

Then, in the result: the generated protobuf stubs are regenerated from the renamed protos
(``libs/<name>-protos/tools/generate.py``: the serialized descriptors embed the proto package name,
so a text rewrite alone would corrupt them; needs buf-bin, grpcio-tools and mypy-protobuf, which
``nox -s rename`` installs), and ``ruff check --select I --fix`` + ``ruff format`` re-sort the imports
that the new name moved (``--no-fix`` skips that). Last, ``kit-origin.toml`` records where the
copy came from (the kit's repository, commit and ``git describe``, the name, ``--without-kit``):
``nox -s kit-update -- --to REF`` in the copy (tools/kit_update.py) reads it to merge the kit's
later changes, renamed by this same script at both commits.

The product (``libs/``, ``services/``, ``proto/``, ``deploy/``, ``tools/``, the noxfile) is always
written; ``kit/``, the suites that prove the kit itself (end-to-end, faults, benchmarks, the
container and Terraform harnesses, polyrepo, this renamer and its tests), is written too unless
``--without-kit``: the copy then has every product session of ``nox`` and none of the kit's.

Safety: the new name must be one lowercase word of 2 to 15 letters and digits starting with a
letter (``[a-z][a-z0-9]{1,14}``): a Python identifier and a distribution name, and also a valid
Terraform ``project`` (AWS resource names: no underscores, 15 characters at most) and Docker and
compose project name. Keywords and names containing the old name are refused.
``--dest`` must not exist (default: a sibling folder ``../<name>-backend``). ``--in-place``
rewrites this work tree and is refused unless ``git status`` is clean, so ``git diff`` shows
exactly what the rename did and ``git checkout .`` undoes it.
"""

from __future__ import annotations

import argparse
import json
import keyword
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: the product's tools/ is importable from kit/
    sys.path.insert(0, str(ROOT))

from tools.kit_update import RECORD, Record, describe_kit, write_record  # noqa: E402

OLD_NAME = "alvin"
# One word: a Python identifier, a distribution name, and deploy/terraform-ecs's `project` (AWS
# names allow no underscores; 15 characters at most). (Renamer itself handles a_b names too.)
NAME_RE = re.compile(r"^[a-z][a-z0-9]{1,14}$")
KIT_FOLDER = "kit"  # the machinery that proves the kit; a copy may leave it out


class RenameError(Exception):
    """A refused rename (bad name, existing destination, dirty tree) or a failed step."""


@dataclass(frozen=True)
class Names:
    """One name in every form the kit writes it."""

    snake: str

    @property
    def kebab(self) -> str:
        return self.snake.replace("_", "-")

    @property
    def upper(self) -> str:
        return self.snake.upper()

    @property
    def camel(self) -> str:
        return "".join(part.capitalize() for part in self.snake.split("_"))


def validate_name(name: str, old: str = OLD_NAME) -> Names:
    """The new name's forms, or RenameError saying why the name is refused."""
    if not NAME_RE.match(name):
        raise RenameError(
            f"{name!r} is not a valid name: one word of 2 to 15 lowercase letters and digits"
            " starting with a letter (a Python identifier, a distribution name and a Terraform"
            " project name), e.g. acme"
        )
    if keyword.iskeyword(name) or not name.isidentifier():
        raise RenameError(f"{name!r} is a Python keyword")
    if old in name or name in old:
        raise RenameError(f"{name!r} contains (or is contained in) the current name {old!r}")
    return Names(name)


class Renamer:
    """Rewrites text (file contents and paths) from one name to another, form by form."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = Names(old), Names(new)
        # Never glued to the letters of a longer word; a CamelCase hump (MyAlvin) is a match.
        alternatives = [
            rf"(?<![A-Z]){re.escape(self.old.upper)}(?![A-Z])",
            rf"(?<![A-Z]){re.escape(self.old.camel)}(?![a-z])",
            *(
                rf"(?<![A-Za-z]){re.escape(form)}(?![a-z])"
                for form in sorted({self.old.snake, self.old.kebab}, key=len, reverse=True)
            ),
        ]
        self.pattern = re.compile("|".join(alternatives))

    def _replace(self, match: re.Match[str]) -> str:
        found, text = match.group(0), match.string
        if found == self.old.upper:
            return self.new.upper
        if found == self.old.camel and found != self.old.snake:
            return self.new.camel
        if found == self.old.kebab and "-" in found:
            return self.new.kebab
        before = text[match.start() - 1] if match.start() else ""
        after = text[match.end()] if match.end() < len(text) else ""
        return self.new.kebab if "-" in (before, after) else self.new.snake

    def rewrite(self, text: str) -> str:
        """``text`` with every form of the old name replaced by the same form of the new one."""
        return self.pattern.sub(self._replace, text)

    def find(self, text: str) -> list[str]:
        """The old-name forms still in ``text``."""
        return self.pattern.findall(text)


def source_files(root: Path) -> list[Path]:
    """Tracked and untracked-but-not-ignored files under ``root`` (relative paths)."""
    done = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    )
    names = sorted({name for name in done.stdout.decode().split("\0") if name})
    return [Path(name) for name in names if (root / name).is_file() or (root / name).is_symlink()]


def _is_binary(data: bytes) -> bool:
    return b"\0" in data


def copy_renamed(src: Path, dest: Path, files: Iterable[Path], renamer: Renamer) -> list[str]:
    """Write every file of ``src`` under ``dest`` renamed; returns binary files with the old name."""
    binary_hits: list[str] = []
    for rel in files:
        source = src / rel
        target = dest / renamer.rewrite(rel.as_posix())
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(renamer.rewrite(os.readlink(source)))
            continue
        data = source.read_bytes()
        if _is_binary(data):
            if renamer.find(data.decode("latin-1")):
                binary_hits.append(rel.as_posix())
            target.write_bytes(data)
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                target.write_bytes(data)
            else:
                target.write_bytes(renamer.rewrite(text).encode("utf-8"))
        shutil.copymode(source, target)
    return binary_hits


def leftovers(root: Path, renamer: Renamer) -> list[str]:
    """Files under ``root`` whose path or text (binary files: path only) still holds the old name."""
    found: list[str] = []
    for rel in source_files(root) if (root / ".git").exists() else _walk(root):
        hits = renamer.find(rel.as_posix())
        path = root / rel
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if not _is_binary(data):  # binary files are copied as they are (and reported)
                hits += renamer.find(data.decode("utf-8", errors="replace"))
        if hits:
            found.append(f"{rel.as_posix()}: {', '.join(sorted(set(hits)))}")
    return found


SKIP_DIRS = {".git", ".nox", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def _walk(root: Path) -> list[Path]:
    out: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        out += [Path(folder, name).relative_to(root) for name in names]
    return sorted(out)


def _git_clean(root: Path) -> bool:
    done = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return not done.stdout.strip()


def regenerate_stubs(dest: Path, new: Names) -> None:
    """Run the renamed stubs package's generator in ``dest`` (buf and the plugins on PATH)."""
    script = dest / "libs" / f"{new.kebab}-protos" / "tools" / "generate.py"
    if not script.exists():
        print(f"rename: {script.relative_to(dest)} not found: stubs NOT regenerated", flush=True)
        return
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    done = subprocess.run([sys.executable, str(script)], cwd=dest, env=env, check=False)
    if done.returncode:
        raise RenameError(
            "regenerating the stubs failed (needs buf-bin, grpcio-tools and mypy-protobuf: run"
            " through `nox -s rename`, or pass --no-generate and run `nox -s proto` later)"
        )


def fix_imports(dest: Path) -> None:
    """Re-sort imports the new name moved and re-wrap lines it lengthened (ruff, when present)."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        print("rename: ruff not found: imports not re-sorted (run `nox -s lint`)", flush=True)
        return
    subprocess.run([ruff, "check", "--select", "I", "--fix", "-q", "."], cwd=dest, check=False)
    subprocess.run([ruff, "format", "-q", "."], cwd=dest, check=False)


def refresh_secrets_baseline(dest: Path) -> None:
    """Re-hash the detect-secrets baseline: renamed placeholder values hash differently.

    The entries are the same findings as before the rename (same files, lines and types); their
    audit results (``is_secret``) are carried over by file, line and type.
    """
    baseline = dest / ".secrets.baseline"
    if not baseline.is_file():
        return
    scanner = shutil.which("detect-secrets", path=str(Path(sys.executable).parent))
    if scanner is None:
        print("rename: detect-secrets not found: .secrets.baseline NOT refreshed", flush=True)
        return
    before = json.loads(baseline.read_text(encoding="utf-8"))
    audits = {
        (name, entry["type"], entry["line_number"]): entry["is_secret"]
        for name, entries in before.get("results", {}).items()
        for entry in entries
        if "is_secret" in entry
    }
    files = [
        p.as_posix()
        for p in (source_files(dest) if (dest / ".git").exists() else _walk(dest))
        if p.as_posix() != ".secrets.baseline"
    ]
    subprocess.run(
        [scanner, "scan", "--baseline", ".secrets.baseline", *files], cwd=dest, check=True
    )
    after = json.loads(baseline.read_text(encoding="utf-8"))
    # The kit's own date, not the clock's: renaming one commit twice gives the same file, so the
    # update (which renames the copy's kit commit again as its merge base) sees no change here.
    if "generated_at" in before:
        after["generated_at"] = before["generated_at"]
    for name, entries in after.get("results", {}).items():
        for entry in entries:
            key = (name, entry["type"], entry["line_number"])
            if "is_secret" not in entry and key in audits:
                entry["is_secret"] = audits[key]
    baseline.write_text(json.dumps(after, indent=2) + "\n", encoding="utf-8")


def _delete_old(root: Path, files: Iterable[Path], renamer: Renamer) -> None:
    """In place: remove the old paths that the rename moved, then folders left empty."""
    folders: set[Path] = set()
    for rel in files:
        if renamer.rewrite(rel.as_posix()) != rel.as_posix():
            (root / rel).unlink()
            folders.update((root / rel).parents)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_relative_to(root) and folder != root and folder.is_dir():
            leftover = [
                p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            ]
            if not leftover:
                shutil.rmtree(folder)


def rename(
    new_name: str,
    *,
    src: Path = ROOT,
    dest: Path | None = None,
    in_place: bool = False,
    generate: bool = True,
    fix: bool = True,
    old_name: str = OLD_NAME,
    without_kit: bool = False,
    record: bool = True,
) -> Path:
    """Rename the kit in ``src`` to ``new_name``; returns the folder holding the result.

    ``without_kit`` leaves out ``kit/`` (the suites that prove the kit, see the module docstring).
    ``record`` writes ``kit-origin.toml`` in the result (last, after the old-name scan: the kit's
    repository URL may hold the kit's name): the kit commit and the name, which
    ``nox -s kit-update`` needs to bring the kit's later changes into the copy.
    """
    new = validate_name(new_name, old_name)
    renamer = Renamer(old_name, new.snake)
    origin = describe_kit(src) if record else None
    files = source_files(src)
    kept = [
        f
        for f in files
        if not (without_kit and f.parts[0] == KIT_FOLDER) and f.as_posix() != RECORD
    ]
    if in_place:
        if dest is not None:
            raise RenameError("--in-place and --dest exclude each other")
        if not _git_clean(src):
            raise RenameError(
                "--in-place needs a clean git tree (commit or stash first, so that `git diff`"
                " shows the rename alone)"
            )
        target = src
        staging = src.parent / f".{src.name}-rename-{os.getpid()}"
        try:
            copy_renamed(src, staging, kept, renamer)
            _delete_old(src, files, renamer)
            if without_kit:
                shutil.rmtree(src / KIT_FOLDER, ignore_errors=True)
            shutil.copytree(staging, src, dirs_exist_ok=True, symlinks=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    else:
        target = (dest or src.parent / f"{new.kebab}-backend").resolve()
        if target.exists():
            raise RenameError(f"{target} already exists: refusing to overwrite it")
        binary = copy_renamed(src, target, kept, renamer)
        if binary:
            print("rename: binary files copied unchanged with the old name: " + ", ".join(binary))
    print(f"rename: {len(kept)} files written to {target} ({old_name} -> {new.snake})", flush=True)
    if generate:
        regenerate_stubs(target, new)
    if fix:
        fix_imports(target)
    refresh_secrets_baseline(target)
    left = leftovers(target, renamer)
    if left:
        raise RenameError("the old name is still in these files:\n  " + "\n  ".join(left[:50]))
    if record:
        _record_origin(target, origin, src, name=new.snake, without_kit=without_kit)
    return target


def _record_origin(
    target: Path, origin: Record | None, src: Path, *, name: str, without_kit: bool
) -> None:
    if origin is None:
        print(f"rename: {src} has no commit: no {RECORD} (kit-update needs one)", flush=True)
        return
    write_record(target, replace(origin, name=name, without_kit=without_kit))
    print(f"rename: {RECORD} records kit {origin.version} ({origin.commit[:12]})", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--to", required=True, help="the new name, e.g. acme")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--dest", type=Path, help="new folder (must not exist)")
    where.add_argument("--in-place", action="store_true", help="rewrite this clean git work tree")
    parser.add_argument(
        "--without-kit", action="store_true", help="leave out kit/, the suites that prove the kit"
    )
    parser.add_argument("--no-generate", action="store_true", help="do not regenerate the stubs")
    parser.add_argument("--no-fix", action="store_true", help="do not run ruff on the result")
    args = parser.parse_args(argv)
    try:
        target = rename(
            args.to,
            dest=args.dest,
            in_place=args.in_place,
            generate=not args.no_generate,
            fix=not args.no_fix,
            without_kit=args.without_kit,
        )
    except RenameError as error:
        print(f"rename: {error}", file=sys.stderr)
        return 2
    print(
        f"rename: done. Next: cd {target} && git init && nox"
        if not args.in_place
        else "rename: done. Review `git diff`, then commit."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
