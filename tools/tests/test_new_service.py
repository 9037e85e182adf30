"""tools/new_service.py: names, templates and the edits of shared files, without running them
(test_makeityours.py generates a service in a copy of the kit and runs its sessions)."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
import yaml

from tools import new_service as ns

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[2]
KIT = ns.KIT


@pytest.mark.parametrize("name", ["billing", "billing-service", "billing_service"])
def test_names(name: str, tmp_path: Path) -> None:
    names = ns.service_names(name, tmp_path)
    assert (names.svc, names.dist, names.pkg, names.camel, names.env) == (
        "billing",
        "billing-service",
        "billing_service",
        "Billing",
        "BILLING_SERVICE",
    )


def test_names_of_several_words(tmp_path: Path) -> None:
    names = ns.service_names("payment-methods", tmp_path)
    assert (names.svc, names.short, names.dist, names.pkg, names.camel) == (
        "payment_methods",
        "payment-methods",
        "payment-methods-service",
        "payment_methods_service",
        "PaymentMethods",
    )


@pytest.mark.parametrize("name", ["Billing", "1billing", "bill ing", "class", "gateway", "", KIT])
def test_invalid_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ns.NewServiceError):
        ns.service_names(name, tmp_path)


def test_an_existing_service_is_refused() -> None:
    with pytest.raises(ns.NewServiceError, match="already exists"):
        ns.service_names("user", ROOT)


def test_unknown_placeholders_fail() -> None:
    with pytest.raises(ns.NewServiceError, match="unknown template placeholders"):
        ns.render("{{svc}} {{nope}}", ns.ServiceNames("billing"))


def test_templates_render_to_valid_files(tmp_path: Path) -> None:
    names = ns.service_names("payment-methods", tmp_path)
    files = ns.write_templates(names, tmp_path)
    rel = {f.relative_to(tmp_path).as_posix() for f in files}
    service = "services/payment-methods-service"
    package = f"{service}/src/payment_methods_service"
    for layer in ("api", "app", "commands", "db", "remote", "service", "tasks"):
        assert f"{package}/{layer}/__init__.py" in rel
    for placeholder in ("lib", "utils", "test"):  # no empty packages, no test code in src/
        assert f"{package}/{placeholder}/__init__.py" not in rel
    assert f"{package}/app/bootstrap.py" in rel
    assert f"proto/{KIT}/payment_methods/v1/payment_methods_service.proto" in rel
    assert f"{service}/Dockerfile" not in rel  # built by deploy/docker/service.Dockerfile
    assert any(r.startswith(f"{package}/db/migrations/versions/") for r in rel)
    assert "services/gateway-graphql/src/gateway_graphql/remote/payment_methods_service.py" in rel
    for path in files:
        text = path.read_text()
        assert "{{" not in text
        assert "__pkg__" not in path.as_posix()
        if path.suffix == ".py":
            ast.parse(text, filename=str(path))
    project = tomllib.loads((tmp_path / service / "pyproject.toml").read_text())
    assert project["project"]["name"] == "payment-methods-service"
    assert project["project"]["scripts"] == {
        "payment-methods-service": "payment_methods_service.commands:cli"
    }
    assert len(project["tool"]["importlinter"]["contracts"]) == 3
    proto = (tmp_path / f"proto/{KIT}/payment_methods/v1/payment_methods_service.proto").read_text()
    assert f"package {KIT}.payment_methods.v1;" in proto
    assert "service PaymentMethodsService {" in proto


def test_nothing_is_overwritten(tmp_path: Path) -> None:
    names = ns.service_names("billing", tmp_path)
    existing = tmp_path / "services/billing-service/README.md"
    existing.parent.mkdir(parents=True)
    existing.write_text("mine\n")
    with pytest.raises(ns.NewServiceError, match="already exists"):
        ns.write_templates(names, tmp_path)
    assert existing.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["README.md"]


@pytest.fixture
def shared_files(tmp_path: Path) -> Path:
    """Copies of the files new_service edits."""
    for rel in (
        "docker-compose.yml",
        ".env.example",
        "pyproject.toml",
        "services/gateway-graphql/pyproject.toml",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    return tmp_path


def test_edits_of_the_shared_files(shared_files: Path) -> None:
    names = ns.service_names("billing", shared_files)
    ns.edit_compose(shared_files, names)
    ns.edit_root_pyproject(shared_files, names)
    ns.edit_gateway(shared_files, names)

    compose = yaml.safe_load((shared_files / "docker-compose.yml").read_text())
    before = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert set(compose["services"]) - set(before["services"]) == {
        "billing-postgres",
        "billing-migrate",
        "billing-grpc",
    }
    assert compose["services"]["billing-grpc"]["command"] == ["grpcserver"]
    # one image for both, from the kit's one Dockerfile with the service's build args
    libs = f"{KIT}-python-lib {KIT}-grpc-py {KIT}-protos"
    for service in ("billing-migrate", "billing-grpc"):
        assert compose["services"][service]["build"] == {
            "context": ".",
            "dockerfile": "deploy/docker/service.Dockerfile",
            "args": {"SERVICE": "billing-service", "LIBS": libs},
        }
    assert "billing-postgres-data" in compose["volumes"]
    assert set(before["volumes"]) < set(compose["volumes"])
    assert f"IMAGE_BILLING_SERVICE={KIT}/billing-service:dev" in (
        (shared_files / ".env.example").read_text().splitlines()
    )

    root = tomllib.loads((shared_files / "pyproject.toml").read_text())
    assert "billing_service" in root["tool"]["ruff"]["lint"]["isort"]["known-first-party"]
    gateway = tomllib.loads((shared_files / "services/gateway-graphql/pyproject.toml").read_text())
    assert "billing-service>=0.1,<0.2" in gateway["dependency-groups"]["test"]
    assert "test" not in gateway["project"].get("optional-dependencies", {})
    forbidden = [
        c["forbidden_modules"]
        for c in gateway["tool"]["importlinter"]["contracts"]
        if "user_service" in c.get("forbidden_modules", [])
    ]
    assert forbidden == [["user_service", "billing_service"]]


def test_an_unrecognised_layout_is_an_error(shared_files: Path) -> None:
    (shared_files / "docker-compose.yml").write_text("services: {}\n")
    with pytest.raises(ns.NewServiceError, match="compose"):
        ns.edit_compose(shared_files, ns.ServiceNames("billing"))


def test_graphql_templates_render_to_valid_files(tmp_path: Path) -> None:
    names = ns.service_names("payment-methods", tmp_path)
    files = ns.write_templates(names, tmp_path, ns.GRAPHQL)
    rel = {f.relative_to(tmp_path).as_posix() for f in files}
    service = "services/payment-methods-service"
    package = f"{service}/src/payment_methods_service"
    for layer in ("api", "app", "commands", "db", "remote", "service", "tasks"):
        assert f"{package}/{layer}/__init__.py" in rel
    for placeholder in ("lib", "utils", "test"):  # no empty packages, no test code in src/
        assert f"{package}/{placeholder}/__init__.py" not in rel
    assert f"{package}/app/bootstrap.py" in rel
    for own in (
        f"{package}/api/graphql/schema.py",
        f"{package}/api/graphql/view.py",
        f"{package}/api/health.py",
        f"{package}/app/factory.py",
        f"{package}/app/gunicorn_config.py",
        f"{package}/web/csrf.py",
        f"{service}/tests/test_graphql_api.py",
        f"{service}/tests/test_migrations.py",
        f"{service}/tests/test_architecture.py",
        "deploy/compose/payment-methods-service.env",
        "deploy/terraform-ecs/payment-methods-service.tf",
    ):
        assert own in rel, own
    assert any(r.startswith(f"{package}/db/migrations/versions/") for r in rel)
    # no proto, no gRPC code, no gateway client
    assert not any(r.startswith(("proto/", "services/gateway-graphql/")) for r in rel)
    assert not any("/grpc" in r for r in rel)
    for path in files:
        text = path.read_text()
        assert "{{" not in text
        assert "__pkg__" not in path.as_posix()
        if path.suffix == ".py":
            ast.parse(text, filename=str(path))
            assert f"{KIT}_grpc" not in text, path
            assert "import grpc" not in text, path
    project = tomllib.loads((tmp_path / service / "pyproject.toml").read_text())
    assert project["project"]["name"] == "payment-methods-service"
    assert project["project"]["scripts"] == {
        "payment-methods-service": "payment_methods_service.commands:main"
    }
    assert "graphene>=3.4.3,<3.5" in project["project"]["dependencies"]
    assert len(project["tool"]["importlinter"]["contracts"]) == 3
    settings = (tmp_path / package / "app/settings.py").read_text()
    assert 'env_prefix="PAYMENT_METHODS_SERVICE_"' in settings


def test_graphql_shares_the_grpc_templates_for_db_and_service(tmp_path: Path) -> None:
    names = ns.service_names("billing", tmp_path)
    grpc = tmp_path / "grpc"
    graphql = tmp_path / "graphql"
    ns.write_templates(names, grpc)
    ns.write_templates(names, graphql, ns.GRAPHQL)
    package = "services/billing-service/src/billing_service"
    common = ("db/repository/item.py", "service/items.py", "service/deps.py", "app/bootstrap.py")
    for rel in common:
        assert (graphql / package / rel).read_text() == (grpc / package / rel).read_text(), rel
    # one copy of each shared file in the templates: none is duplicated under graphql-service
    own = {p.relative_to(ns.TEMPLATES / ns.GRAPHQL) for p in (ns.TEMPLATES / ns.GRAPHQL).rglob("*")}
    shared = {p.relative_to(ns.TEMPLATES / ns.GRPC) for p in (ns.TEMPLATES / ns.GRPC).rglob("*")}
    assert {p for p in own & shared if p.suffix == ".tmpl" and "db" in p.parts} == set()


def test_graphql_refuses_to_overwrite(tmp_path: Path) -> None:
    names = ns.service_names("reports", tmp_path)
    existing = tmp_path / "services/reports-service/src/reports_service/service/items.py"
    existing.parent.mkdir(parents=True)
    existing.write_text("mine\n")
    with pytest.raises(ns.NewServiceError, match="already exists"):
        ns.write_templates(names, tmp_path, ns.GRAPHQL)
    assert existing.read_text() == "mine\n"
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["items.py"]


def test_graphql_service_in_a_kit(shared_files: Path) -> None:
    rel = "deploy/terraform-ecs/tests/test_terraform.py"
    (shared_files / rel).parent.mkdir(parents=True)
    shutil.copy(ROOT / rel, shared_files / rel)
    gateway_before = (shared_files / "services/gateway-graphql/pyproject.toml").read_text()
    ns.new_service("reports", root=shared_files, generate=False, fix=False, kind=ns.GRAPHQL)

    compose = yaml.safe_load((shared_files / "docker-compose.yml").read_text())
    before = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert set(compose["services"]) - set(before["services"]) == {
        "reports-postgres",
        "reports-migrate",
        "reports-web",
    }
    web = compose["services"]["reports-web"]
    assert web["command"] == ["serve"]
    assert web["build"]["args"] == {"SERVICE": "reports-service", "LIBS": f"{KIT}-python-lib"}
    assert compose["services"]["reports-migrate"]["build"] == web["build"]
    assert web["expose"] == ["8000"]
    assert "REPORTS_SERVICE_DATABASE_URL" in web["environment"]
    assert "reports-postgres-data" in compose["volumes"]
    assert f"IMAGE_REPORTS_SERVICE={KIT}/reports-service:dev" in (
        (shared_files / ".env.example").read_text().splitlines()
    )
    root = tomllib.loads((shared_files / "pyproject.toml").read_text())
    assert "reports_service" in root["tool"]["ruff"]["lint"]["isort"]["known-first-party"]
    # the gateway does not call a GraphQL service: its pyproject is left alone
    assert (shared_files / "services/gateway-graphql/pyproject.toml").read_text() == gateway_before
    line = next(
        x for x in (shared_files / rel).read_text().splitlines() if x.startswith("SERVICES")
    )
    assert "reports_web" in ast.literal_eval(line.split("=", 1)[1].strip())
    assert not (shared_files / "proto").exists()
    # a second run is refused: the service exists
    with pytest.raises(ns.NewServiceError, match="already exists"):
        ns.new_service("reports", root=shared_files, generate=False, fix=False, kind=ns.GRAPHQL)


def test_graphql_and_grpc_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        ns.main(["billing", "--grpc", "--graphql"])
    assert "not allowed with" in capsys.readouterr().err


def test_the_graphql_terraform_file_declares_the_ecs_service(tmp_path: Path) -> None:
    hcl2 = pytest.importorskip("hcl2")
    names = ns.service_names("reports", tmp_path)
    ns.write_templates(names, tmp_path, ns.GRAPHQL)
    options = hcl2.SerializationOptions(strip_string_quotes=True)
    with (tmp_path / "deploy/terraform-ecs/reports-service.tf").open() as file:
        parsed = hcl2.load(file, serialization_options=options)
    modules = {name: body for block in parsed["module"] for name, body in block.items()}
    assert set(modules) == {"reports_web", "reports_migrate_execution_role"}
    # the migration reads its secrets through an execution role of its own
    role = modules["reports_migrate_execution_role"]
    assert role["source"] == "./modules/task-execution-role"
    assert role["secrets"] == "${local.reports_secrets}"
    service = modules["reports_web"]
    assert service["command"] == ["serve"]
    assert service["entry_point"] == ["reports-service"]
    assert service["service_connect"]["app_protocol"] == "http"
    assert "/healthz" in str(service["health_check"])
    variables = {name for block in parsed["variable"] for name in block}
    assert variables == {"reports_database_url_secret_arn"}


def test_the_terraform_file_declares_the_ecs_service(tmp_path: Path) -> None:
    hcl2 = pytest.importorskip("hcl2")
    names = ns.service_names("payment-methods", tmp_path)
    ns.write_templates(names, tmp_path)
    options = hcl2.SerializationOptions(strip_string_quotes=True)
    with (tmp_path / "deploy/terraform-ecs/payment-methods-service.tf").open() as file:
        parsed = hcl2.load(file, serialization_options=options)
    modules = {name: body for block in parsed["module"] for name, body in block.items()}
    assert "payment_methods_migrate_execution_role" in modules
    service = modules["payment_methods_grpc"]
    assert service["service_connect"]["tls"] == "${local.service_connect_tls}"
    assert "execution_role_arn" not in service  # the module makes the service's own role
    assert service["command"] == ["grpcserver"]
    assert service["entry_point"] == ["payment-methods-service"]
    assert "PaymentMethodsService" in str(service["health_check"])
    variables = {name for block in parsed["variable"] for name in block}
    assert variables == {"payment_methods_database_url_secret_arn"}


def test_the_terraform_tests_learn_the_new_service(tmp_path: Path) -> None:
    rel = "deploy/terraform-ecs/tests/test_terraform.py"
    (tmp_path / rel).parent.mkdir(parents=True)
    shutil.copy(ROOT / rel, tmp_path / rel)
    ns.edit_terraform_tests(tmp_path, ns.ServiceNames("billing"))
    line = next(x for x in (tmp_path / rel).read_text().splitlines() if x.startswith("SERVICES"))
    assert "billing_grpc" in ast.literal_eval(line.split("=", 1)[1].strip())
