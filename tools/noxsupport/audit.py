"""pip-audit over each package's own resolution, and whether its vulnerability service answers."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import nox
from packaging.utils import canonicalize_name

from tools.noxsupport.packages import ROOT, group, local_closure, project_name

# Where pip-audit looks a release up (its default vulnerability service). Probed first.
PYPI_RELEASE_JSON = "https://pypi.org/pypi/pip-audit/2.10.1/json"
# Vulnerabilities pip-audit may report that we accept, each with its reason (also listed in
# security-exceptions.md). Empty: nothing is accepted today.
PIP_AUDIT_IGNORED: dict[str, str] = {}


def _unreachable() -> str | None:
    """None when PyPI's per-release JSON API answers; else why not."""
    try:
        with urllib.request.urlopen(PYPI_RELEASE_JSON, timeout=15) as response:
            response.read(1)
    except (urllib.error.URLError, OSError) as error:
        return f"{PYPI_RELEASE_JSON} does not answer ({error})"
    return None


def resolve(session: nox.Session, package: Path, into: Path) -> Path:
    """The third-party distributions ``package`` resolves to (with its test group), pinned.

    Each package is resolved on its own; the local packages it needs (and only those) come from
    their folders, as they are not on the index, and are left out of the audited list.
    """
    specs = [
        f"-e {path.relative_to(ROOT)}[{','.join(sorted(extras))}]"
        if extras
        else f"-e {path.relative_to(ROOT)}"
        for path, extras in sorted(local_closure(package).items())
    ]
    own_extras, requirements = group(package, "test")
    suffix = f"[{','.join(sorted(own_extras))}]" if own_extras else ""
    specs += [f"-e {package.relative_to(ROOT)}{suffix}", *requirements]
    source = into / f"{package.name}.in"
    source.write_text("\n".join(specs) + "\n")
    resolved = into / f"{package.name}.resolved.txt"
    session.run(
        "uv", "pip", "compile", "--quiet", "--no-header", "--no-annotate",
        "--python", session.virtualenv.location + "/bin/python",
        str(source), "-o", str(resolved),
    )  # fmt: skip
    local = {project_name(path) for path in local_closure(package)} | {project_name(package)}
    pinned = [
        line
        for line in resolved.read_text().splitlines()
        if line.strip()
        and not line.startswith("-e ")
        and canonicalize_name(line.split("==")[0]) not in local
    ]
    audited = into / f"{package.name}.txt"
    audited.write_text("\n".join(pinned) + "\n")
    session.log(f"{package.name}: {len(pinned)} third-party distributions resolved")
    return audited


def audit(session: nox.Session, requirement_files: list[Path]) -> None:
    """pip-audit --strict over each file; SKIPPED with a warning when PyPI's vulnerability data
    cannot be reached, unless SECURITY_AUDIT_REQUIRED=1 makes that a failure."""
    unreachable = _unreachable()
    if unreachable is not None:
        reason = f"the vulnerability service cannot be reached: {unreachable}"
        if os.environ.get("SECURITY_AUDIT_REQUIRED") == "1":
            session.error(f"pip-audit cannot run (SECURITY_AUDIT_REQUIRED=1): {reason}")
        session.warn(f"pip-audit SKIPPED: {reason}")
        return
    ignores = [arg for vuln in PIP_AUDIT_IGNORED for arg in ("--ignore-vuln", vuln)]
    for requirements in requirement_files:
        # --strict: a dependency that cannot be audited fails the session instead of a quiet skip
        session.run(
            "pip-audit", "--strict", "--no-deps", "--disable-pip", "--progress-spinner", "off",
            "-r", str(requirements), *ignores,
        )  # fmt: skip
