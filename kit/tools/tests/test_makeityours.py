"""The proof that "make it yours" works: rename a copy of this kit, add a service to the renamed
copy, and run the copy's own nox sessions there (slow: minutes; `nox -s makeityours`).

The copy is renamed with kit/tools/rename.py (stubs regenerated, imports re-sorted) and committed on a
``main`` branch, so its proto session runs the breaking check too (a new proto file is not a
breaking change). Then the renamed kit's own tools/new_service.py adds ``billing`` (gRPC) and
``reports`` (``--graphql``). The copies' virtual environments live in MAKEITYOURS_NOX_ENVDIR
(the nox session keeps them between runs).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from kit.tools import rename
from tools import kit_update
from tools.tests.helpers import git

pytestmark = pytest.mark.slow

NEW_NAME = "acme"
OLD = rename.OLD_NAME


def _packages(kit: Path) -> list[str]:
    return sorted(
        p.parent.name for kind in ("libs", "services") for p in kit.glob(f"{kind}/*/pyproject.toml")
    )


def _files_with_old_name(kit: Path) -> list[str]:
    """Every file whose path or content holds the old name in any case (.git excluded)."""
    found = []
    for path in kit.rglob("*"):
        if ".git" in path.relative_to(kit).parts or not path.is_file():
            continue
        rel = path.relative_to(kit).as_posix()
        if rel == kit_update.RECORD:  # names the kit's repository, whose URL may hold its name
            continue
        if OLD in rel.lower() or OLD.encode() in path.read_bytes().lower():
            found.append(rel)
    return found


@pytest.fixture(scope="module")
def envdir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return os.environ.get("MAKEITYOURS_NOX_ENVDIR") or str(tmp_path_factory.mktemp("nox-envs"))


@pytest.fixture(scope="module")
def renamed_kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This kit renamed to ``acme`` in a temporary folder, committed on ``main``."""
    kit = rename.rename(NEW_NAME, dest=tmp_path_factory.mktemp("kit") / "acme-backend")
    git(kit, "init", "-q")
    git(kit, "add", "-A")
    git(kit, "commit", "-q", "-m", "renamed kit")
    return kit


def _nox(kit: Path, envdir: str, *args: str, posargs: Sequence[str] = ()) -> str:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    command = [sys.executable, "-m", "nox", "--envdir", envdir, "--nocolor", *args]
    if posargs:
        command += ["--", *posargs]
    done = subprocess.run(
        command, cwd=kit, env=env, capture_output=True, text=True, timeout=1200, check=False
    )
    output = done.stdout + done.stderr
    summary = [line for line in output.splitlines() if "FAILED" in line or "nox > *" in line]
    assert done.returncode == 0, "\n".join(
        [f"{' '.join(command)} failed:", *summary, "--- last lines:", output[-4000:]]
    )
    return output


def test_rename_leaves_no_trace_and_the_renamed_kit_passes_its_checks(
    renamed_kit: Path, envdir: str
) -> None:
    assert _files_with_old_name(renamed_kit) == []
    packages = _packages(renamed_kit)
    assert f"{NEW_NAME}-python-lib" in packages
    assert (renamed_kit / f"proto/{NEW_NAME}/user/v1/user_service.proto").is_file()
    stubs = renamed_kit / f"libs/{NEW_NAME}-protos/src/{NEW_NAME}_protos/{NEW_NAME}/user/v1"
    assert (stubs / "user_service_pb2.py").is_file()
    _nox(renamed_kit, envdir, "-s", "proto", *(f"tests-{p}" for p in packages))


def _new_service(kit: Path, *args: str) -> None:
    """The kit's own tools/new_service.py with ``args``; fails the test with its output."""
    done = subprocess.run(
        [sys.executable, "tools/new_service.py", *args],
        cwd=kit,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_new_service_in_the_renamed_kit(renamed_kit: Path, envdir: str) -> None:
    _new_service(renamed_kit, "billing")
    service = renamed_kit / "services/billing-service"
    for layer in ("api", "app", "commands", "db", "remote", "service", "tasks"):
        assert (service / "src/billing_service" / layer / "__init__.py").is_file()
    assert (service / "src/billing_service/app/bootstrap.py").is_file()
    assert (renamed_kit / f"proto/{NEW_NAME}/billing/v1/billing_service.proto").is_file()
    # and a GraphQL service with its own database next to it
    _new_service(renamed_kit, "reports", "--graphql")
    reports = renamed_kit / "services/reports-service/src/reports_service"
    assert (reports / "api/graphql/schema.py").is_file()
    assert not (renamed_kit / f"proto/{NEW_NAME}/reports").exists()
    assert _files_with_old_name(renamed_kit) == []
    # noxfile.py is not edited: it discovers the new services (tests-billing-service exists);
    # compose checks both services' containers
    _nox(
        renamed_kit,
        envdir,
        "-s",
        "proto",
        "tests-billing-service",
        "tests-reports-service",
        "compose",
    )
    # the gateway calls the real service through its generated remote/ client
    _nox(
        renamed_kit,
        envdir,
        "-s",
        "tests-gateway-graphql",
        posargs=[
            "-p",
            "no:cacheprovider",
            "tests/test_remote_billing_service.py",
            "tests/test_architecture.py",
        ],
    )


def test_a_copy_without_the_kit_keeps_every_product_session(
    tmp_path_factory: pytest.TempPathFactory, envdir: str
) -> None:
    """``--without-kit`` leaves kit/ out; the copy's nox still has every product session (and
    runs one), and none of the kit's."""
    copy = rename.rename(
        NEW_NAME,
        dest=tmp_path_factory.mktemp("bare") / "acme-backend",
        without_kit=True,
    )
    assert not (copy / "kit").exists()
    assert (copy / "noxfile.py").is_file()
    listed = subprocess.run(
        [sys.executable, "-m", "nox", "-l", "--nocolor"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    sessions = {line.split()[1] for line in listed.stdout.splitlines() if line[:2] in ("* ", "- ")}
    product = {"lint", "typecheck", "proto", "compose", "terraform", "versions", "tools", "up"}
    product |= {"new-service", "kit-update"}
    assert product <= sessions
    assert {f"tests-{p}" for p in _packages(copy)} <= sessions
    kit_sessions = {"e2e", "faults", "containers", "terraform-apply", "polyrepo", "makeityours"}
    assert not sessions & kit_sessions
    git(copy, "init", "-q")
    git(copy, "add", "-A")
    git(copy, "commit", "-q", "-m", "renamed kit without its proving suites")
    _nox(copy, envdir, "-s", "tools")


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


# The later kit release of the update test, written with the kit's own name (the update renames
# it): a library function and its test, a service change and its test, a Terraform variable, and
# a change to docs/, which the copy deleted.
LIB_CHANGE = f"""

def kit_update_probe() -> str:
    \"\"\"Added by a later kit release (the make-it-yours update test).\"\"\"
    return "{OLD}_python_lib"
"""
LIB_TEST = f"""from {OLD}_python_lib.errors import kit_update_probe


def test_the_later_kit_release_is_in() -> None:
    assert kit_update_probe() == "{OLD}_python_lib"
"""
SERVICE_TEST = """import user_service


def test_the_later_kit_release_is_in() -> None:
    assert "(kit update probe)" in (user_service.__doc__ or "")
"""
TERRAFORM_CHANGE = f"""
variable "{OLD}_kit_update_probe" {{
  description = "Added by a later kit release (the make-it-yours update test)."
  type        = string
  default     = "{OLD}"
}}
"""


def test_kit_update_brings_a_later_kit_release_into_an_edited_copy(
    tmp_path_factory: pytest.TempPathFactory, envdir: str
) -> None:
    """A copy renamed from this commit, edited (a service file changed, docs/ deleted, a new
    service), takes a later kit commit with `nox -s kit-update`: the kit's change arrives
    renamed, the copy's edits stay, the record moves with the merge commit, and the copy's
    proto and changed packages' tests pass."""
    work = tmp_path_factory.mktemp("update")
    kit = work / "kit"
    git(work, "clone", "-q", str(rename.ROOT), str(kit))  # HEAD: the older commit
    older = git(kit, "rev-parse", "HEAD").strip()
    copy = work / f"{NEW_NAME}-backend"
    done = subprocess.run(
        [sys.executable, "kit/tools/rename.py", "--to", NEW_NAME, "--dest", str(copy)],
        cwd=kit,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert kit_update.read_record(copy).commit == older
    git(copy, "init", "-q")
    git(copy, "add", "-A")
    git(copy, "commit", "-q", "-m", "acme backend kit")
    # the copy's own work
    service_init = copy / "services/user-service/src/user_service/__init__.py"
    _append(service_init, '\nCOPY_OWN = "acme"\n')
    git(copy, "rm", "-q", "-r", "docs")
    _new_service(copy, "billing")
    git(copy, "add", "-A")
    git(copy, "commit", "-q", "-m", "our service edit, no docs, the billing service")
    # the kit's later release
    _append(kit / f"libs/{OLD}-python-lib/src/{OLD}_python_lib/errors.py", LIB_CHANGE)
    (kit / f"libs/{OLD}-python-lib/tests/test_kit_update_probe.py").write_text(LIB_TEST)
    kit_init = kit / "services/user-service/src/user_service/__init__.py"
    text = kit_init.read_text(encoding="utf-8")
    first, rest = text.split("\n", 1)
    kit_init.write_text(first.replace('."""', ' (kit update probe)."""') + "\n" + rest)
    (kit / "services/user-service/tests/test_kit_update_probe.py").write_text(SERVICE_TEST)
    _append(kit / "deploy/terraform-ecs/variables.tf", TERRAFORM_CHANGE)
    _append(kit / "docs/operations.md", "\nA later kit release added this line.\n")
    git(kit, "add", "-A")
    git(kit, "commit", "-q", "-m", "a later kit release")
    newer = git(kit, "rev-parse", "HEAD").strip()

    output = _nox(
        copy, envdir, "-s", "kit-update", posargs=["--to", newer, "--from-repo", str(kit)]
    )

    assert "merged cleanly" in output
    assert "docs/operations.md" in output  # left out: the copy deleted docs/
    lib = copy / f"libs/{NEW_NAME}-python-lib"
    assert (
        f'return "{NEW_NAME}_python_lib"'
        in (lib / f"src/{NEW_NAME}_python_lib/errors.py").read_text()
    )
    assert (lib / "tests/test_kit_update_probe.py").is_file()
    service = service_init.read_text(encoding="utf-8")
    assert "(kit update probe)" in service
    assert 'COPY_OWN = "acme"' in service
    variables = (copy / "deploy/terraform-ecs/variables.tf").read_text(encoding="utf-8")
    assert f'variable "{NEW_NAME}_kit_update_probe"' in variables
    assert not (copy / "docs").exists()
    # the new service is the copy's own: the update leaves it as it was
    assert (copy / "services/billing-service/src/billing_service/app/bootstrap.py").is_file()
    assert (
        git(copy, "diff", "--cached", "--name-only", "HEAD", "--", "services/billing-service") == ""
    )
    assert _files_with_old_name(copy) == []
    # staged with the merge, committed with it
    assert f'commit = "{older}"' in git(copy, "show", f"HEAD:{kit_update.RECORD}")
    assert kit_update.read_record(copy).commit == newer
    git(copy, "commit", "-q", "--no-edit")
    assert kit_update.read_record(copy).commit == newer
    assert f'commit = "{newer}"' in git(copy, "show", f"HEAD:{kit_update.RECORD}")
    assert git(copy, "status", "--porcelain") == ""
    _nox(copy, envdir, "-s", "proto", f"tests-{NEW_NAME}-python-lib", "tests-user-service")
