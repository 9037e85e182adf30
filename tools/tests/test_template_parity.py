"""The gRPC service template keeps the user-service's shape, so that a new service starts the way
the kit's own does: the same packages, the same composition root and app modules with the same
entry points, use cases that write through ``transaction()``, and no module state configured at
start-up. Read from the source (nothing is imported), so the two cannot drift apart unnoticed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tools import new_service as ns

ROOT = Path(__file__).resolve().parents[2]
USER_SERVICE = ROOT / "services" / "user-service" / "src" / "user_service"

# The processes the user-service has beyond the template's gRPC server (a Celery worker, the
# scheduler, their metrics): a new service adds them when it needs them.
USER_SERVICE_ONLY_APP_MODULES = {"worker", "scheduler", "metrics"}

ENTRY_POINTS = {
    "app/bootstrap.py": {"Container", "bootstrap", "start_process"},
    "app/server.py": {"SERVICE", "registration", "create_server", "serve"},
    "service/deps.py": {"Deps"},
    "commands/__init__.py": {"cli", "start_process", "grpcserver", "MIGRATIONS_INI"},
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gRPC template rendered as ``parity-service``: its package folder."""
    root = tmp_path_factory.mktemp("parity")
    ns.write_templates(ns.ServiceNames("parity"), root)
    return root / "services" / "parity-service" / "src" / "parity_service"


def _packages(src: Path) -> set[str]:
    return {p.parent.relative_to(src).as_posix() for p in src.rglob("__init__.py")}


def _module_names(folder: Path) -> set[str]:
    return {p.stem for p in folder.glob("*.py")}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in _tree(path).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _function(path: Path, name: str) -> ast.FunctionDef:
    for node in _tree(path).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise AssertionError(f"{path} has no function {name}")


def _fields(path: Path, class_name: str) -> list[str]:
    for node in _tree(path).body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return [
                s.target.id
                for s in node.body
                if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
            ]
    raise AssertionError(f"{path} has no class {class_name}")


def test_the_same_packages(template: Path) -> None:
    assert _packages(template) == _packages(USER_SERVICE)


def test_the_same_app_modules(template: Path) -> None:
    ours = _module_names(template / "app")
    theirs = _module_names(USER_SERVICE / "app")
    assert {"bootstrap", "server", "settings"} <= ours
    assert ours == theirs - USER_SERVICE_ONLY_APP_MODULES


@pytest.mark.parametrize("module", sorted(ENTRY_POINTS))
def test_the_same_entry_points(template: Path, module: str) -> None:
    for src in (template, USER_SERVICE):
        missing = ENTRY_POINTS[module] - _top_level_names(src / module)
        assert not missing, f"{src / module} lacks {sorted(missing)}"


def test_the_composition_root_takes_the_same_parts(template: Path) -> None:
    # The template's parts are the user-service's minus what only the user-service needs
    # (its mailer and business rules' parameters), in the same order and under the same names.
    def parameters(src: Path) -> list[str]:
        function = _function(src / "app" / "bootstrap.py", "bootstrap")
        return [a.arg for a in function.args.args + function.args.kwonlyargs]

    ours, theirs = parameters(template), parameters(USER_SERVICE)
    assert ours == [p for p in theirs if p in ours]
    assert {"settings", "process", "database", "id_generator", "clock"} <= set(ours)
    for class_name, module in (("Container", "app/bootstrap.py"), ("Deps", "service/deps.py")):
        ours, theirs = (
            _fields(template / module, class_name),
            _fields(USER_SERVICE / module, class_name),
        )
        assert ours == [f for f in theirs if f in ours], class_name


def test_servicers_are_handed_their_deps(template: Path) -> None:
    for src in (template, USER_SERVICE):
        (servicer,) = (src / "api" / "grpc").glob("*_servicer.py")
        init = next(
            node
            for node in ast.walk(_tree(servicer))
            if isinstance(node, ast.FunctionDef) and node.name == "__init__"
        )
        assert [a.arg for a in init.args.args] == ["self", "deps"], servicer


def test_use_cases_write_through_transaction(template: Path) -> None:
    for src in (template, USER_SERVICE):
        for module in sorted((src / "service").glob("*.py")):
            text = module.read_text(encoding="utf-8")
            assert ".commit()" not in text, f"{module}: commit through transaction() instead"
    assert "with transaction(deps.database.session) as session:" in (
        template / "service" / "items.py"
    ).read_text(encoding="utf-8")


def test_no_module_state_configured_at_start_up(template: Path) -> None:
    for src in (template, USER_SERVICE):
        for module in sorted(src.rglob("*.py")):
            tree = _tree(module)
            assert not any(isinstance(n, ast.Global) for n in ast.walk(tree)), module
            assert "configure" not in _top_level_names(module), module
            for node in tree.body:  # no Database() built at import time
                value = getattr(node, "value", None)
                if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
                    assert value.func.id != "Database", module
