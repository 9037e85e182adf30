"""What the images and the CI are built from is pinned: hashed locks, base-image digests, action SHAs,
the example SPA's package-lock.json (integrity hashes, npm registry only).

Each rule runs on the repository as it is and on a copy broken in one way: a service without a
lock or with a dependency the lock misses, a base image without a digest, an action on a tag, a
workflow without ``permissions``; and renovate.json keeps all of them fresh.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from container_rules.dockerfile import expand_args, parse_stages
from container_rules.images import split_image

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy/docker/service.Dockerfile"
WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))
SHA_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _lock_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock", ROOT / "deploy/docker/lock.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lock"] = module
    spec.loader.exec_module(module)
    return module


lock = _lock_module()


def unpinned_bases(text: str) -> list[str]:
    """Base images of a Dockerfile (ARG defaults applied) without a sha256 digest."""
    stages = parse_stages(expand_args(text))
    names = {s.name for s in stages if s.name}
    return [s.base for s in stages if s.base not in names and split_image(s.base)[2] is None]


def unpinned_actions(workflow: str) -> list[str]:
    """``uses:`` of a workflow that are not a full commit SHA, and a missing permissions block."""
    data = yaml.safe_load(workflow)
    problems = [] if "permissions" in data else ["no top-level permissions"]
    for job in (data.get("jobs") or {}).values():
        for step in job.get("steps") or []:
            uses = step.get("uses")
            if uses and not uses.startswith("./") and not SHA_PINNED.match(uses):
                problems.append(uses)
    return problems


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for rel in ("libs", "services"):
        shutil.copytree(
            ROOT / rel, tmp_path / rel, ignore=shutil.ignore_patterns("tests", "src", ".*")
        )
    return tmp_path


def test_every_service_has_a_lock_that_covers_its_pyproject_files() -> None:
    services = lock.services(ROOT, [])
    assert {s.name for s in services} >= {"user-service", "gateway-graphql"}
    assert [p for s in services for p in lock.check(ROOT, s)] == []


def test_a_missing_lock_is_caught(copy: Path) -> None:
    (copy / "services/user-service/requirements.lock").unlink()
    (problem,) = lock.check(copy, copy / "services/user-service")
    assert "requirements.lock is missing" in problem


def test_a_dependency_the_lock_misses_is_caught(copy: Path) -> None:
    pyproject = copy / "services/user-service/pyproject.toml"
    text = pyproject.read_text().replace('"celery>=5.4,<6"', '"celery>=99"')
    pyproject.write_text(text.replace("dependencies = [", 'dependencies = [\n  "left-pad>=1",', 1))
    problems = lock.check(copy, copy / "services/user-service")
    assert any("left-pad is not locked" in p for p in problems), problems
    assert any("does not satisfy celery>=99" in p for p in problems), problems


def test_an_entry_without_a_hash_is_caught(copy: Path) -> None:
    path = copy / "services/gateway-graphql/requirements.lock"
    path.write_text("flask==3.1.0\n" + path.read_text())
    assert any("flask has no hash" in p for p in lock.check(copy, path.parent))


def test_the_dockerfile_installs_the_lock_with_hashes_and_no_resolution() -> None:
    text = DOCKERFILE.read_text()
    assert "--require-hashes" in text
    assert "--no-deps -r /wheels/requirements.lock" in text
    assert 'pip" check' in text


SPA = ROOT / "examples/spa"
NPM_REGISTRY = "https://registry.npmjs.org/"
# a version range; not a git, file, URL or alias (npm:) source
NPM_RANGE = re.compile(r"^[\w.*^~<>=| -]+$")


def npm_lock_problems(package: dict, lock: dict) -> list[str]:
    """What keeps ``npm ci`` from installing exactly the locked files, from the npm registry only.

    Every entry needs a version and a sha512 integrity (what npm checks each download against); a
    ``resolved`` URL, when the lock has one, is the npm registry's. The lock's root lists the
    ranges package.json asks for (else ``npm ci`` refuses).
    """
    problems = [] if lock.get("lockfileVersion", 0) >= 2 else ["lockfileVersion below 2"]
    wanted = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
    for name, spec in wanted.items():
        if not NPM_RANGE.match(spec):
            problems.append(f"{name}: {spec!r} is not a version range")
    packages = lock.get("packages", {})
    root = packages.get("", {})
    if {**root.get("dependencies", {}), **root.get("devDependencies", {})} != wanted:
        problems.append("the lock's root differs from package.json")
    for path, entry in packages.items():
        if not path:
            continue
        if entry.get("link") or "version" not in entry:
            problems.append(f"{path} is not a registry package")
        if not str(entry.get("integrity", "")).startswith("sha512-"):
            problems.append(f"{path} has no sha512 integrity")
        resolved = entry.get("resolved")
        if resolved is not None and not resolved.startswith(NPM_REGISTRY):
            problems.append(f"{path} resolves to {resolved}")
    return problems


def test_the_example_spa_is_locked_to_the_npm_registry() -> None:
    package = json.loads((SPA / "package.json").read_text())
    lock = json.loads((SPA / "package-lock.json").read_text())
    assert set(package["dependencies"]) >= {"@urql/core"}
    assert set(package["devDependencies"]) >= {"vite", "typescript"}
    assert npm_lock_problems(package, lock) == []
    # a project .npmrc would win over the user's: none may point npm elsewhere
    npmrc = SPA / ".npmrc"
    lines = npmrc.read_text().splitlines() if npmrc.exists() else []
    assert [x for x in lines if "registry" in x and NPM_REGISTRY not in x] == []


def test_an_npm_lock_off_the_registry_is_caught() -> None:
    package = json.loads((SPA / "package.json").read_text())
    lock = json.loads((SPA / "package-lock.json").read_text())
    entry = lock["packages"]["node_modules/vite"]
    entry["resolved"] = "https://npm.example.com/vite/-/vite-8.4.0.tgz"
    del lock["packages"]["node_modules/@urql/core"]["integrity"]
    package["dependencies"]["left-pad"] = "github:someone/left-pad"
    problems = npm_lock_problems(package, lock)
    assert "node_modules/vite resolves to https://npm.example.com/vite/-/vite-8.4.0.tgz" in problems
    assert "node_modules/@urql/core has no sha512 integrity" in problems
    assert "left-pad: 'github:someone/left-pad' is not a version range" in problems
    assert "the lock's root differs from package.json" in problems


def test_base_images_are_pinned_by_digest() -> None:
    assert unpinned_bases(DOCKERFILE.read_text()) == []
    assert unpinned_bases("FROM python:3.11.10-slim-bookworm AS x\nFROM x\n") == [
        "python:3.11.10-slim-bookworm"
    ]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_sha_with_read_only_permissions(workflow: Path) -> None:
    assert unpinned_actions(workflow.read_text()) == []


def test_an_action_on_a_tag_and_no_permissions_are_caught() -> None:
    workflow = "on: push\njobs:\n  a:\n    steps:\n      - uses: actions/checkout@v4\n"
    assert unpinned_actions(workflow) == ["no top-level permissions", "actions/checkout@v4"]


def test_renovate_keeps_locks_digests_and_actions_fresh() -> None:
    config = json.loads((ROOT / "renovate.json").read_text())
    assert set(config["enabledManagers"]) >= {
        "pep621",
        "pip_requirements",
        "dockerfile",
        "github-actions",
        "npm",
    }
    assert config["pinDigests"] is True
    assert config["lockFileMaintenance"]["enabled"] is True
    assert any("requirements" in m for m in config["pip_requirements"]["fileMatch"])
