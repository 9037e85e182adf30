"""The GraphQL service template has the gateway's shape.

A service made with ``nox -s new-service -- NAME --graphql`` must read like
``services/gateway-graphql``: the same folders and module names for the same jobs, the same entry
points (console script, gunicorn configuration, WSGI app, server commands), and the HTTP plumbing
both need (``web/``) as the same text. A change to one of them that the other does not follow
fails here rather than in a team's copy of the kit.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tools import new_service as ns

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "services" / "gateway-graphql"
GATEWAY_PACKAGE = GATEWAY / "src" / "gateway_graphql"
NAME = "reports"
# What a service with its own database has and the gateway (no database, no queue) has not.
PERSISTENCE = {"db", "tasks"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GraphQL service rendered from the templates: its folder (``services/reports-service``)."""
    root = tmp_path_factory.mktemp("graphql-template")
    names = ns.service_names(NAME, root)
    ns.write_templates(names, root, ns.GRAPHQL)
    return root / "services" / names.dist


def _package(service: Path) -> Path:
    return service / "src" / ns.ServiceNames(NAME).pkg


def _subpackages(package: Path) -> set[str]:
    return {init.parent.name for init in package.glob("*/__init__.py")}


def _modules(folder: Path) -> set[str]:
    """The modules under ``folder``, as paths relative to it (``graphql/view.py``)."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*.py")}


def _string_constants(module: Path) -> dict[str, str]:
    """Module-level ``NAME = "text"`` assignments of ``module``."""
    found: dict[str, str] = {}
    for node in ast.parse(module.read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found[node.targets[0].id] = node.value.value
    return found


def _functions(module: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(module.read_text())
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def _cli_commands(module: Path) -> set[str]:
    """Functions of ``module`` decorated with ``@cli.command(...)``."""
    names = set()
    for name, function in _functions(module).items():
        for decorator in function.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(target, ast.Attribute) and target.attr == "command":
                names.add(name)
    return names


def test_the_same_folders(service: Path) -> None:
    assert _subpackages(_package(service)) == _subpackages(GATEWAY_PACKAGE) | PERSISTENCE


def test_the_same_wiring_modules(service: Path) -> None:
    # app/: settings, the composition root, the app factory, gunicorn's configuration, WSGI entry
    assert _modules(_package(service) / "app") == _modules(GATEWAY_PACKAGE / "app")


def test_the_api_modules_are_named_as_in_the_gateway(service: Path) -> None:
    template = _modules(_package(service) / "api")
    assert {"health.py", "graphql/schema.py", "graphql/view.py", "graphql/errors.py"} <= template
    assert template <= _modules(GATEWAY_PACKAGE / "api")


def test_the_web_plumbing_is_the_gateways_text(service: Path) -> None:
    web = _package(service) / "web"
    shared = _modules(web) - {"__init__.py"}
    assert {"csrf.py", "json_errors.py"} <= shared
    for name in sorted(shared):
        assert (web / name).read_text() == (GATEWAY_PACKAGE / "web" / name).read_text(), (
            f"web/{name} differs between the gateway and the GraphQL template: change both"
        )


def test_the_app_factory_and_the_wsgi_entry(service: Path) -> None:
    for package in (GATEWAY_PACKAGE, _package(service)):
        create_app = _functions(package / "app" / "factory.py")["create_app"]
        assert [arg.arg for arg in create_app.args.args] == ["settings"], package
        assert "create_wsgi_app" in _functions(package / "app" / "wsgi.py"), package


def test_the_same_entry_points(service: Path) -> None:
    pkg = ns.ServiceNames(NAME).pkg
    gateway = tomllib.loads((GATEWAY / "pyproject.toml").read_text())["project"]["scripts"]
    template = tomllib.loads((service / "pyproject.toml").read_text())["project"]["scripts"]
    assert gateway == {"gateway": "gateway_graphql.commands:main"}
    assert template == {ns.ServiceNames(NAME).dist: f"{pkg}.commands:main"}

    # `serve` execs gunicorn with the same configuration module and WSGI app factory
    wiring = ("GUNICORN_CONFIG", "WSGI_APP")
    gateway_cli = _string_constants(GATEWAY_PACKAGE / "commands" / "__init__.py")
    template_cli = _string_constants(_package(service) / "commands" / "__init__.py")
    assert {k: gateway_cli[k].replace("gateway_graphql", pkg) for k in wiring} == {
        k: template_cli[k] for k in wiring
    }
    assert gateway_cli["GUNICORN_CONFIG"] == "python:gateway_graphql.app.gunicorn_config"
    assert gateway_cli["WSGI_APP"] == "gateway_graphql.app.wsgi:create_wsgi_app()"
    servers = {"runserver", "serve"}
    assert servers <= _cli_commands(GATEWAY_PACKAGE / "commands" / "__init__.py")
    assert servers <= _cli_commands(_package(service) / "commands" / "__init__.py")


def test_import_contracts_cover_web(service: Path) -> None:
    for pyproject, pkg in (
        (GATEWAY / "pyproject.toml", "gateway_graphql"),
        (service / "pyproject.toml", ns.ServiceNames(NAME).pkg),
    ):
        contracts = tomllib.loads(pyproject.read_text())["tool"]["importlinter"]["contracts"]
        layers = next(c for c in contracts if c["type"] == "layers")["layers"]
        assert any(f"{pkg}.web" in layer for layer in layers), pyproject
        api_guard = next(c for c in contracts if c.get("forbidden_modules") == [f"{pkg}.api"])
        assert f"{pkg}.web" in api_guard["source_modules"], pyproject


# --- the client the gateway gets for a new gRPC service (``new-service NAME``) ---------------------

CLIENT_TEMPLATES = ns.TEMPLATES / ns.GRPC / "services" / "gateway-graphql"


def _rendered(template: Path) -> ast.Module:
    return ast.parse(ns.render(template.read_text(), ns.ServiceNames("billing")))


def _client_class(module: ast.Module) -> ast.ClassDef:
    (client,) = (
        node
        for node in module.body
        if isinstance(node, ast.ClassDef) and node.name.endswith("ServiceClient")
    )
    return client


def _connect_signature(client: ast.ClassDef) -> list[tuple[str, str | None]]:
    connect = next(
        node for node in client.body if isinstance(node, ast.FunctionDef) and node.name == "connect"
    )
    args = connect.args
    keywords = [
        (arg.arg, ast.unparse(default) if default is not None else None)
        for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ]
    return [(arg.arg, None) for arg in args.args] + keywords


def test_the_gateway_client_template_is_shaped_like_the_user_service_client() -> None:
    gateway = ast.parse((GATEWAY_PACKAGE / "remote" / "user_service.py").read_text())
    template = _rendered(CLIENT_TEMPLATES / "src/gateway_graphql/remote/__svc___service.py.tmpl")
    # connect() takes the same options with the same defaults (deadline, retries, TLS, replicas)
    assert _connect_signature(_client_class(template)) == _connect_signature(_client_class(gateway))
    for module in (gateway, template):
        assert ast.unparse(_client_class(module).bases[0]).startswith("BaseClient[")
        names = {
            node.name if isinstance(node, ast.FunctionDef) else ast.unparse(node.target)
            for node in module.body
            if isinstance(node, ast.FunctionDef | ast.AnnAssign)
        }
        assert {"SERVICE_NAME", "retry_methods"} <= names


def test_the_gateway_client_test_template_imports_what_tests_support_has() -> None:
    template = _rendered(CLIENT_TEMPLATES / "tests/test_remote___svc___service.py.tmpl")
    imports = [
        node
        for node in template.body
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("support.")
    ]
    assert imports, "the client's test uses the gateway's tests/support helpers"
    for node in imports:
        assert node.module is not None
        helper = GATEWAY / "tests" / Path(*node.module.split(".")).with_suffix(".py")
        defined = {
            n.name
            for n in ast.parse(helper.read_text()).body
            if isinstance(n, ast.FunctionDef | ast.ClassDef)
        }
        assert {alias.name for alias in node.names} <= defined, helper
