"""What git knows about the kit: tracked files and the main branch buf compares against."""

from __future__ import annotations

import subprocess

import nox

from tools.noxsupport.packages import ROOT


def git(*args: str) -> subprocess.CompletedProcess[str]:
    """Run git in the kit's root; the caller reads the return code."""
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def breaking_baseline(session: nox.Session) -> str | None:
    """The buf input for ``buf breaking``: ``main`` (local branch, else ``origin/main``), or None.

    None when there is no main to compare with, or main has no protos yet (the commit that adds
    proto/ has nothing to break; once it is on main, main is the baseline).
    """
    for ref, buf_input in (
        ("refs/heads/main", ".git#branch=main"),
        ("refs/remotes/origin/main", ".git#ref=origin/main"),
    ):
        if git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
            continue
        listed = git("ls-tree", "-r", "--name-only", ref, "--", "proto")
        if not any(name.endswith(".proto") for name in listed.stdout.splitlines()):
            session.warn(
                f"buf breaking SKIPPED: {ref} has no proto/ files yet (nothing to compare)"
            )
            return None
        return buf_input
    session.warn(
        "buf breaking SKIPPED: no main branch (neither main nor origin/main) to compare with"
    )
    return None
