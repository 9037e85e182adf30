from pathlib import Path

from tools import boundaries
from tools.tests.helpers import make_package


def _write(package: Path, text: str) -> None:
    import_name = package.name.replace("-", "_")
    (package / "src" / import_name / "mod.py").write_text(text)


def test_the_kit_respects_its_boundaries() -> None:
    assert [str(v) for v in boundaries.check()] == []


def test_neither_service_imports_the_other_and_only_the_composition_imports_both() -> None:
    """The one-process deployment composes both services outside them: each service is still
    checked as a service (any import of the other would be a violation), and the composition is
    the only package allowed to import them."""
    packages = {p.name: p for p in boundaries.discover()}
    everything = list(packages.values())
    for name, other in (("gateway-graphql", "user-service"), ("user-service", "gateway-graphql")):
        service = packages[name]
        assert service.service
        assert service.composes == frozenset()
        assert other not in service.declared
        assert boundaries.check_package(service, everything) == []
    one = packages["one-process"]
    assert one.composes == {"gateway-graphql", "user-service"}
    assert boundaries.check_package(one, everything) == []
    assert [p.name for p in everything if p.composes] == ["one-process"]


def test_a_service_importing_another_service_fails_even_when_declared(tmp_path: Path) -> None:
    make_package(tmp_path, "services", "user-service")
    gateway = make_package(tmp_path, "services", "gateway", dependencies=("user-service",))
    _write(gateway, "from user_service.app import bootstrap\n")
    (violation,) = boundaries.check(tmp_path)
    assert "of the service user-service: a service never imports another" in violation.message


def test_a_composition_may_import_the_services_it_lists(tmp_path: Path) -> None:
    make_package(tmp_path, "services", "user-service")
    make_package(tmp_path, "services", "gateway")
    both = make_package(tmp_path, "services", "both", dependencies=("user-service", "gateway"))
    with (both / "pyproject.toml").open("a") as file:
        file.write('\n[tool.boundaries]\ncomposes = ["User_Service"]\n')
    _write(both, "import user_service.app\nimport gateway.app\n")
    (violation,) = boundaries.check(tmp_path)
    assert "imports gateway.app of the service gateway" in violation.message


def test_undeclared_local_import_fails(tmp_path: Path) -> None:
    make_package(tmp_path, "libs", "alvin-core")
    service = make_package(tmp_path, "services", "user-service")
    _write(service, "import alvin_core.config\n")
    (violation,) = boundaries.check(tmp_path)
    assert "does not declare" in violation.message
    assert violation.line == 1


def test_declared_import_passes_and_third_party_is_ignored(tmp_path: Path) -> None:
    make_package(tmp_path, "libs", "alvin-core")
    service = make_package(
        tmp_path, "services", "user-service", dependencies=("alvin-core>=0.1,<0.2",)
    )
    _write(service, "from alvin_core import config, __version__\nimport flask\nfrom . import x\n")
    assert boundaries.check(tmp_path) == []


def test_private_modules_and_names_fail(tmp_path: Path) -> None:
    make_package(tmp_path, "libs", "alvin-core")
    service = make_package(tmp_path, "services", "gateway", dependencies=("alvin-core",))
    _write(service, "from alvin_core._internal import thing\nfrom alvin_core.db import _engine\n")
    messages = [v.message for v in boundaries.check(tmp_path)]
    assert len(messages) == 2
    assert all("private" in m for m in messages)


def test_a_library_importing_a_service_fails(tmp_path: Path) -> None:
    lib = make_package(tmp_path, "libs", "alvin-core")
    make_package(tmp_path, "services", "user-service")
    _write(lib, "def f():\n    from user_service import app\n")
    (violation,) = boundaries.check(tmp_path)
    assert "user-service" in violation.message
