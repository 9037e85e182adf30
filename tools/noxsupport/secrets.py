"""detect-secrets over every file git knows, against the audited ``.secrets.baseline``."""

from __future__ import annotations

import json
from pathlib import Path

import nox

from tools.noxsupport.packages import ROOT
from tools.noxsupport.repo import git

SECRETS_BASELINE = ROOT / ".secrets.baseline"


def check_secrets(session: nox.Session) -> None:
    """Fail on a possible secret in any file git knows (tracked or not ignored) that the
    baseline does not list, and on a baseline entry audited as a real secret.

    Entries match by file and hashed value, not by line, so moving code within a file does not
    fail the check. To accept new false positives: ``detect-secrets scan --baseline
    .secrets.baseline $(git ls-files)``, then review them (``detect-secrets audit .secrets.baseline``).
    """
    listed = git("ls-files", "--cached", "--others", "--exclude-standard", "-z").stdout
    baseline_name = SECRETS_BASELINE.name  # its hashes look like secrets themselves
    files = sorted(
        {n for n in listed.split("\0") if n and n != baseline_name and (ROOT / n).is_file()}
    )
    file_list = Path(session.create_tmp()) / "secret-scan-files.txt"
    file_list.write_text("\n".join(files))
    # The list goes through a file: hundreds of paths would flood the log as arguments.
    scan = (
        "import subprocess, sys; files = open(sys.argv[1]).read().splitlines(); "
        "sys.exit(subprocess.call(['detect-secrets', 'scan', *files]))"
    )
    found = json.loads(session.run("python", "-c", scan, str(file_list), silent=True) or "{}")
    baseline = json.loads(SECRETS_BASELINE.read_text())
    known = {
        (name, entry["hashed_secret"])
        for name, entries in baseline["results"].items()
        for entry in entries
    }
    new = [
        f"{name}:{entry['line_number']}: {entry['type']}"
        for name, entries in found["results"].items()
        for entry in entries
        if (name, entry["hashed_secret"]) not in known
    ]
    real = [
        f"{name}:{entry['line_number']}: {entry['type']}"
        for name, entries in baseline["results"].items()
        for entry in entries
        if entry.get("is_secret") is True
    ]
    if new or real:
        audited = "\nbaseline entries audited as real secrets:\n  " + "\n  ".join(real)
        session.error(
            "possible secrets not in .secrets.baseline:\n  "
            + "\n  ".join(new)
            + (audited if real else "")
        )
    session.log(f"detect-secrets: {len(files)} files, no secret outside the audited baseline")
