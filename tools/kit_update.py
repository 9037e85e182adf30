"""Take the kit's later changes into this renamed copy: ``nox -s kit-update -- --to REF``.

    python tools/kit_update.py --to REF|VERSION [--from-repo PATH_OR_URL] [--commit]

A copy made by the kit's rename carries ``kit-origin.toml``: the kit's repository, the commit it
was renamed from, the name chosen and whether ``--without-kit`` left ``kit/`` out. The update is
plain git, in five steps:

1. clone the kit (``--from-repo``, else the recorded repository) into a temporary folder and
   check out the recorded commit and the target (``REF``: a commit, branch or tag; ``VERSION``:
   the tag ``VERSION`` or ``vVERSION``);
2. rename both with each checkout's own ``kit/tools/rename.py``, same name and flags (the rename
   rules live in one place, and each version is renamed by the rules it shipped with);
3. commit the two results as a two-commit chain (renamed old, then renamed new) and fetch it
   into this repository;
4. three-way merge into this work tree with ``git merge-recursive``: base the renamed old kit,
   ours ``HEAD``, theirs the renamed new kit. The copy's own edits are kept; lines both sides
   changed differently become ordinary conflicts (markers and unmerged index entries, so
   ``git status``, ``git mergetool`` and ``git merge --abort`` work);
5. stage the moved record and write ``MERGE_HEAD``: ``git commit`` concludes the merge (second
   parent: the renamed kit, so ``git diff HEAD^2 HEAD`` shows how the copy differs from the
   kit) and only then does the record move; ``git merge --abort`` leaves the old one.

Files the copy deleted stay deleted: a kit change to such a file, and a new kit file inside a
folder the copy deleted, are left out and listed (deleting is the copy's decision; a
modify/delete conflict for each would come back at every update). Services added with
new-service are the copy's own files: the kit never touches them. The update refuses to start
on a dirty work tree or during a merge. Exit status: 0 clean (merge staged, or committed with
``--commit``), 1 conflicts left to resolve, 2 refused or failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

RECORD = "kit-origin.toml"
RECORD_FORMAT = 1
RENAME_SCRIPT = "kit/tools/rename.py"
# The renamed kit commits are made here, not by the developer: a fixed identity, never signed.
_IDENTITY = {
    "GIT_AUTHOR_NAME": "kit-update",
    "GIT_AUTHOR_EMAIL": "kit-update@localhost",
    "GIT_COMMITTER_NAME": "kit-update",
    "GIT_COMMITTER_EMAIL": "kit-update@localhost",
}


class UpdateError(Exception):
    """A refused update (dirty tree, no record, unknown ref) or a failed step."""


@dataclass(frozen=True)
class Record:
    """Where a copy came from: the contents of ``kit-origin.toml``."""

    repository: str  # URL or absolute path of the kit's git repository
    commit: str  # the kit commit the copy's files were renamed from
    version: str  # ``git describe --tags --always`` of that commit
    name: str  # the name chosen (``acme``)
    without_kit: bool = False  # renamed with --without-kit
    dirty: bool = False  # renamed from a work tree with uncommitted changes on top of ``commit``
    rename_tool_version: int = 1


def format_record(record: Record) -> str:
    """The record as TOML (strings written JSON-style: a subset of TOML's basic strings)."""

    def text(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def flag(value: bool) -> str:
        return "true" if value else "false"

    return (
        "# Where this copy came from. Written by the kit's rename; moved forward by\n"
        "# `nox -s kit-update -- --to REF` when its merge is committed. Keep it committed.\n"
        f"format = {RECORD_FORMAT}\n\n"
        "[kit]\n"
        f"repository = {text(record.repository)}\n"
        # a commit id looks like a hex token to the secret scanners
        f"commit = {text(record.commit)}  # pragma: allowlist secret\n"
        f"version = {text(record.version)}  # pragma: allowlist secret\n"
        f"dirty = {flag(record.dirty)}\n\n"
        "[rename]\n"
        f"name = {text(record.name)}\n"
        f"without_kit = {flag(record.without_kit)}\n"
        f"tool = {text(RENAME_SCRIPT)}\n"
        f"tool_version = {record.rename_tool_version}\n"
    )


def write_record(root: Path, record: Record) -> Path:
    """Write ``kit-origin.toml`` at ``root``; returns its path."""
    path = root / RECORD
    path.write_text(format_record(record), encoding="utf-8")
    return path


def read_record(root: Path) -> Record:
    """The record at ``root``, or UpdateError when it is missing or not understood."""
    path = root / RECORD
    if not path.is_file():
        raise UpdateError(
            f"no {RECORD} in {root}: the kit's rename (`nox -s rename`) writes it in a copy;"
            " for an older copy, rename the kit commit it came from to a scratch folder and"
            f" copy that {RECORD} here (its commit is what the update starts from)"
        )
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != RECORD_FORMAT:
        raise UpdateError(f"{RECORD}: format {data.get('format')!r} is not {RECORD_FORMAT}")
    try:
        kit, names = data["kit"], data["rename"]
        return Record(
            repository=str(kit["repository"]),
            commit=str(kit["commit"]),
            version=str(kit["version"]),
            name=str(names["name"]),
            without_kit=bool(names.get("without_kit", False)),
            dirty=bool(kit.get("dirty", False)),
            rename_tool_version=int(names.get("tool_version", 1)),
        )
    except KeyError as missing:
        raise UpdateError(f"{RECORD}: {missing} is missing") from None


def git(root: Path, *args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
    """``git -C root args``: its stdout; UpdateError with git's message when it fails."""
    done = subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if check and done.returncode:
        raise UpdateError(f"git {' '.join(args)} failed:\n{done.stderr.strip()}")
    return done.stdout


def describe_kit(src: Path) -> Record | None:
    """The kit at ``src`` as a record (name left empty), or None when it has no commit."""
    head = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "--verify", "--quiet", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    if head.returncode:
        return None
    commit = head.stdout.strip()
    origin = git(src, "remote", "get-url", "origin", check=False).strip()
    status = git(src, "status", "--porcelain", "--untracked-files=normal")
    return Record(
        repository=origin or str(src.resolve()),
        commit=commit,
        version=git(src, "describe", "--tags", "--always", commit).strip(),
        name="",
        dirty=bool(status.strip()),
    )


@dataclass
class Outcome:
    """What an update did (also what the summary prints)."""

    old: Record
    new: Record
    changed: list[str] = field(default_factory=list)  # paths the merge staged
    conflicts: list[str] = field(default_factory=list)  # unmerged paths
    kept_deleted: list[str] = field(default_factory=list)  # kit changes left out
    committed: bool = False
    messages: list[str] = field(default_factory=list)  # git merge-recursive's CONFLICT lines


def resolve_ref(clone: Path, ref: str) -> str:
    """The commit ``ref`` names in ``clone``: a commit, branch, tag, or VERSION as tag vVERSION."""
    for candidate in (f"origin/{ref}", ref, f"refs/tags/{ref}", f"refs/tags/v{ref}"):
        done = git(
            clone, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", check=False
        )
        if done.strip():
            return done.strip()
    raise UpdateError(f"{ref!r} is neither a commit, a branch nor a tag of the kit repository")


def _rename(
    python: str, checkout: Path, record: Record, dest: Path, log: Path
) -> subprocess.Popen[bytes]:
    args = [python, str(checkout / RENAME_SCRIPT), "--to", record.name, "--dest", str(dest)]
    if record.without_kit:
        args.append("--without-kit")
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=checkout, stdout=out, stderr=subprocess.STDOUT)


def _commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(
        repo,
        "-c",
        "commit.gpgsign=false",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        message,
        env=_IDENTITY,
    )


def _tree_dirs(root: Path, treeish: str) -> set[str]:
    """Every folder (posix, no trailing slash) that holds a file in ``treeish``."""
    files = git(root, "ls-tree", "-r", "-z", "--name-only", treeish).split("\0")
    return {str(parent.as_posix()) for name in files if name for parent in Path(name).parents}


def _unmerged(root: Path) -> dict[str, set[int]]:
    """Unmerged path -> the stages present (1 base, 2 ours, 3 theirs)."""
    stages: dict[str, set[int]] = {}
    for entry in git(root, "ls-files", "-u", "-z").split("\0"):
        if entry:
            meta, path = entry.split("\t", 1)
            stages.setdefault(path, set()).add(int(meta.split()[2]))
    return stages


def _keep_deleted(copy: Path, base: str, theirs: str) -> list[str]:
    """Leave out the kit's changes to what the copy deleted; returns the paths left out."""
    left_out: list[str] = []
    for path, stages in _unmerged(copy).items():
        if stages == {1, 3}:  # modify/delete: the kit changed a file the copy deleted
            git(copy, "rm", "-q", "-f", "--", path)
            left_out.append(path)
    base_dirs, head_dirs = _tree_dirs(copy, base), _tree_dirs(copy, "HEAD")
    added = git(copy, "diff", "--no-renames", "-z", "--name-only", "--diff-filter=A", base, theirs)
    for path in filter(None, added.split("\0")):
        # The nearest folder the old kit had: if the copy no longer has it, the copy deleted it.
        folder = next(p.as_posix() for p in Path(path).parents if p.as_posix() in base_dirs)
        if folder != "." and folder not in head_dirs:
            git(copy, "rm", "-q", "-f", "--", path)
            left_out.append(path)
    return sorted(left_out)


def _clone(repository: str, clone: Path, old: Record) -> None:
    done = subprocess.run(
        ["git", "clone", "--quiet", "--no-checkout", repository, str(clone)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise UpdateError(f"cannot clone the kit from {repository}:\n{done.stderr.strip()}")
    if git(clone, "cat-file", "-t", old.commit, check=False).strip() != "commit":
        raise UpdateError(
            f"the recorded commit {old.commit} is not in {repository}: pass --from-repo"
            " with a clone of the kit that has it"
        )


def _renamed_chain(work: Path, clone: Path, old: Record, new: Record, python: str) -> Path:
    """Both kit commits renamed (in parallel), committed as old -> new; returns that repository."""
    renamed: dict[str, Path] = {}
    running = []
    for label, sha in (("old", old.commit), ("new", new.commit)):
        checkout = work / f"checkout-{label}"
        git(clone, "worktree", "add", "--quiet", "--detach", str(checkout), sha)
        renamed[label] = work / f"renamed-{label}"
        log = work / f"rename-{label}.log"
        running.append((label, log, _rename(python, checkout, old, renamed[label], log)))
    for label, log, process in running:
        if process.wait():
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise UpdateError(f"renaming the {label} kit failed:\n{tail}")
    for folder in renamed.values():
        (folder / RECORD).unlink(missing_ok=True)  # the copy's own record is merged apart
    chain = renamed["new"]
    git(renamed["old"], "init", "-q")
    _commit_all(renamed["old"], f"kit {old.version} renamed to {old.name}")
    shutil.move(str(renamed["old"] / ".git"), str(chain / ".git"))
    _commit_all(chain, f"kit {new.version} renamed to {old.name}")
    return chain


def _label(record: Record) -> str:
    """The kit version for people: the tag description, with the commit unless it is just that."""
    if record.commit.startswith(record.version):
        return record.version
    return f"{record.version} ({record.commit[:12]})"


def _merge(copy: Path, theirs: str, new: Record, outcome: Outcome) -> None:
    """Three-way merge of the renamed kit's change (``theirs^`` -> ``theirs``) into ``copy``."""
    base = git(copy, "rev-parse", f"{theirs}^").strip()
    # GITHEAD_<sha> names that side in the conflict markers, as git merge does.
    merged = subprocess.run(
        ["git", "-C", str(copy), "merge-recursive", base, "--", "HEAD", theirs],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, f"GITHEAD_{theirs}": f"kit {new.version}"},
    )
    if merged.returncode not in (0, 1):
        raise UpdateError(f"git merge-recursive failed:\n{merged.stdout}{merged.stderr}")
    output = (merged.stdout + merged.stderr).splitlines()
    outcome.messages = [line for line in output if line.startswith("CONFLICT")]
    outcome.kept_deleted = _keep_deleted(copy, base, theirs)
    outcome.conflicts = sorted(_unmerged(copy))
    # The record is staged with the merge: committing moves it, git merge --abort restores it.
    write_record(copy, new)
    git(copy, "add", "--", RECORD)
    message = f"Update the kit to {_label(new)}, renamed to {new.name}\n"
    if outcome.conflicts:
        message += "\n# Conflicts:\n" + "".join(f"#\t{p}\n" for p in outcome.conflicts)
    for name, text in (("MERGE_HEAD", f"{theirs}\n"), ("MERGE_MSG", message), ("MERGE_MODE", "")):
        Path(copy, git(copy, "rev-parse", "--git-path", name).strip()).write_text(text)
    outcome.changed = git(copy, "diff", "--cached", "--name-only", "-z", "HEAD").split("\0")[:-1]


def update(
    copy: Path,
    to: str,
    *,
    from_repo: str | None = None,
    commit: bool = False,
    python: str = sys.executable,
) -> Outcome:
    """Merge the kit's changes from the recorded commit to ``to`` into ``copy`` (see above)."""
    copy = Path(git(copy, "rev-parse", "--show-toplevel").strip())
    if Path(copy, git(copy, "rev-parse", "--git-path", "MERGE_HEAD").strip()).exists():
        raise UpdateError("a merge is in progress: commit it or `git merge --abort` first")
    if git(copy, "status", "--porcelain", "--untracked-files=normal").strip():
        raise UpdateError("the work tree has uncommitted changes: commit or stash them first")
    old = read_record(copy)
    repository = from_repo or old.repository
    if Path(repository).is_dir():
        repository = str(Path(repository).resolve())
    outcome = Outcome(old=old, new=old)
    with tempfile.TemporaryDirectory(prefix="kit-update-") as tmp:
        work = Path(tmp)
        clone = work / "kit"
        _clone(repository, clone, old)
        target = resolve_ref(clone, to)
        describe = git(clone, "describe", "--tags", "--always", target).strip()
        outcome.new = replace(
            old, repository=repository, commit=target, version=describe, dirty=False
        )
        if target == old.commit:
            return outcome
        chain = _renamed_chain(work, clone, old, outcome.new, python)
        git(copy, "fetch", "--quiet", "--no-tags", str(chain), "HEAD")
        theirs = git(copy, "rev-parse", "FETCH_HEAD").strip()
    _merge(copy, theirs, outcome.new, outcome)
    if commit and not outcome.conflicts:
        git(copy, "-c", "commit.gpgsign=false", "commit", "-q", "--no-edit")
        outcome.committed = True
    return outcome


def summary(outcome: Outcome) -> str:
    """What the update did and what to do next, for a person."""
    old, new = outcome.old, outcome.new
    if old.commit == new.commit:
        return f"kit-update: already at {_label(new)}: nothing to do"
    lines = [
        f"kit-update: kit {_label(old)} -> {_label(new)}, renamed to {old.name}",
        f"  {len(outcome.changed)} files changed (including {RECORD})",
    ]
    if old.dirty:
        lines.append(
            "  note: the copy was renamed from uncommitted changes on top of the recorded commit;"
            " conflicts may come from those"
        )
    if outcome.kept_deleted:
        lines.append("  left out, deleted in this copy (the kit changed or added them):")
        lines += [f"    {path}" for path in outcome.kept_deleted]
    if outcome.conflicts:
        lines.append(f"  {len(outcome.conflicts)} conflicts (markers in the files):")
        lines += [f"    {message}" for message in outcome.messages] or [
            f"    {path}" for path in outcome.conflicts
        ]
        lines.append(
            "  resolve them (git mergetool, or edit and git add), then git commit;"
            " git merge --abort undoes the update and keeps the old record"
        )
    elif outcome.committed:
        lines.append(f"  merged and committed; {RECORD} now records {new.commit[:12]}")
    else:
        lines.append(
            "  merged cleanly and staged: review (git diff --cached), run nox, then git commit"
            " (the record moves with it); git merge --abort undoes it"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--to", required=True, help="kit commit, branch, tag or VERSION (tag vVERSION)"
    )
    parser.add_argument("--from-repo", help="the kit's repository (default: the recorded one)")
    parser.add_argument("--commit", action="store_true", help="commit the merge when it is clean")
    args = parser.parse_args(argv)
    try:
        outcome = update(Path.cwd(), args.to, from_repo=args.from_repo, commit=args.commit)
    except UpdateError as error:
        print(f"kit-update: {error}", file=sys.stderr)
        return 2
    print(summary(outcome))
    return 1 if outcome.conflicts else 0


if __name__ == "__main__":
    sys.exit(main())
