"""Static checks of the Terraform configuration, parsed with python-hcl2 (no provider needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "modules" / "ecs-service"
SERVICES = {"user_grpc", "user_worker", "user_scheduler", "gateway"}
SECRET_NAME = re.compile(r"token|password|secret", re.IGNORECASE)


def _load(folder: Path) -> dict[str, list[Any]]:
    """Every .tf file of a folder, merged: block type -> list of blocks."""
    merged: dict[str, list[Any]] = {}
    options = SerializationOptions(strip_string_quotes=True)
    for path in sorted(folder.glob("*.tf")):
        with path.open() as file:
            parsed = hcl2.load(file, serialization_options=options)
        for key, value in parsed.items():
            if isinstance(value, list):
                merged.setdefault(key, []).extend(value)
    return merged


def _resources(config: dict[str, list[Any]], kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in config.get("resource", []):
        found.update(block.get(kind, {}))
    return found


def _locals(config: dict[str, list[Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in config.get("locals", []):
        merged.update({k: v for k, v in block.items() if not k.startswith("__")})
    return merged


def _one(blocks: Any) -> dict[str, Any]:
    """A nested block (hcl2 gives a list of one dict)."""
    return blocks[0] if isinstance(blocks, list) else blocks


@pytest.fixture(scope="module")
def root() -> dict[str, list[Any]]:
    return _load(ROOT)


@pytest.fixture(scope="module")
def module() -> dict[str, list[Any]]:
    return _load(MODULE)


@pytest.fixture(scope="module")
def services(root: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in root["module"]:
        for name, body in block.items():
            if body.get("source") == "./modules/ecs-service":
                found[name] = body
    return found


def test_the_four_services_use_the_module(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == SERVICES


def test_every_service_has_a_log_group_with_retention(module: dict[str, list[Any]]) -> None:
    log_group = _resources(module, "aws_cloudwatch_log_group")["this"]
    assert log_group["retention_in_days"] == "${var.log_retention_days}"
    assert log_group["kms_key_id"]
    container = _locals(module)["container_definition"]
    log = container["logConfiguration"]
    assert log["logDriver"] == "awslogs"
    assert log["options"]["awslogs-group"] == "${aws_cloudwatch_log_group.this.name}"
    task = _resources(module, "aws_ecs_task_definition")["this"]
    assert "local.container_definition" in task["container_definitions"]


def test_every_service_has_a_container_health_check_and_stop_timeout(
    module: dict[str, list[Any]], services: dict[str, dict[str, Any]]
) -> None:
    container = _locals(module)["container_definition"]
    assert container["healthCheck"]["command"] == "${var.health_check.command}"
    assert container["stopTimeout"] == "${var.stop_timeout}"
    for name, body in services.items():
        command = body["health_check"]["command"]
        assert command[0] in {"CMD", "CMD-SHELL"}, name
        assert len(command) >= 2, name
        assert body["stop_timeout"], name
    # stopTimeout follows the app's shutdown: gRPC grace + drain (+ margin), gateway graceful
    assert "local.grpc_grace_s" in services["user_grpc"]["stop_timeout"]
    assert "local.grpc_drain_s" in services["user_grpc"]["stop_timeout"]
    assert "local.gateway_graceful_s" in services["gateway"]["stop_timeout"]


def test_circuit_breaker_with_rollback_and_no_public_ip(module: dict[str, list[Any]]) -> None:
    service = _resources(module, "aws_ecs_service")["this"]
    breaker = _one(service["deployment_circuit_breaker"])
    assert breaker["enable"] is True
    assert breaker["rollback"] is True
    assert _one(service["network_configuration"])["assign_public_ip"] is False
    assert service["launch_type"] == "FARGATE"
    lifecycle = _one(service["lifecycle"])
    assert "task_definition" in str(lifecycle["ignore_changes"])


def _literal_env_names(node: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, name) of every literal environment variable anywhere in the configuration."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}"
            if key == "environment" and isinstance(value, list):
                found += [(here, item["name"]) for item in value if isinstance(item, dict)]
            elif key.endswith("environment") and isinstance(value, dict):
                found += [(here, name) for name in value if not name.startswith("__")]
            found += _literal_env_names(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += _literal_env_names(item, f"{path}[{index}]")
    return found


def test_secrets_are_never_plain_environment(
    root: dict[str, list[Any]], services: dict[str, dict[str, Any]]
) -> None:
    names = _literal_env_names(root)
    assert any(name == "APP_ENV" for _, name in names)  # the walker does find variables
    leaked = [(where, name) for where, name in names if SECRET_NAME.search(name)]
    assert leaked == []
    locals_ = _locals(root)
    for name, body in services.items():
        assert body["environment"].startswith("${local."), name
        secrets = locals_[body["secrets"].removeprefix("${local.").removesuffix("}")]
        assert secrets, name
        for value in secrets.values() if isinstance(secrets, dict) else []:
            assert value.startswith("${var."), value
            assert value.endswith("_secret_arn}"), value
    user_secrets = str(locals_["user_service_secrets"])
    for required in ("USER_SERVICE_DATABASE_URL", "USER_SERVICE_GRPC_SERVICE_TOKEN"):
        assert required in user_secrets
    assert "GATEWAY_USER_SERVICE_TOKEN" in locals_["gateway_secrets"]


def test_the_module_refuses_secret_names_in_environment(module: dict[str, list[Any]]) -> None:
    variables = {k: v for block in module["variable"] for k, v in block.items()}
    validation = _one(variables["environment"]["validation"])
    assert "token|password|secret" in validation["condition"]


def test_the_scheduler_runs_exactly_one_task_without_autoscaling(
    services: dict[str, dict[str, Any]],
) -> None:
    scheduler = services["user_scheduler"]
    assert scheduler["desired_count"] == 1
    assert scheduler["autoscaling"] is None
    assert scheduler["deployment_maximum_percent"] == 100
    for name in SERVICES - {"user_scheduler"}:
        assert services[name].get("autoscaling"), name


def test_grpc_services_use_app_protocol_grpc(
    module: dict[str, list[Any]], services: dict[str, dict[str, Any]]
) -> None:
    grpc = [name for name, body in services.items() if "grpcserver" in body["command"]]
    # every *_grpc service (tools/new_service.py adds one per new service), and only those
    assert sorted(grpc) == sorted(name for name in SERVICES if name.endswith("_grpc"))
    for name in grpc:
        connect = services[name]["service_connect"]
        assert connect["app_protocol"] == "grpc"
        assert connect["port_name"]
        assert "load_balancer" not in services[name]  # no public load balancer
    assert "appProtocol = var.service_connect.app_protocol" in (_locals(module)["port_mappings"])


def test_the_gateway_is_behind_the_alb_with_readyz(
    root: dict[str, list[Any]], services: dict[str, dict[str, Any]]
) -> None:
    assert "aws_lb_target_group.gateway" in services["gateway"]["load_balancer"]["target_group_arn"]
    target_group = _resources(root, "aws_lb_target_group")["gateway"]
    assert _one(target_group["health_check"])["path"] == "/readyz"
    listeners = _resources(root, "aws_lb_listener")
    assert listeners["https"]["protocol"] == "HTTPS"
    assert listeners["https"]["certificate_arn"] == "${var.certificate_arn}"
    redirect = _one(_one(listeners["http"]["default_action"])["redirect"])
    assert redirect["protocol"] == "HTTPS"


def test_the_migration_task_runs_db_upgrade_with_logs(root: dict[str, list[Any]]) -> None:
    container = _locals(root)["migrate_container"]
    assert container["entryPoint"] == ["user-service"]
    assert container["command"] == ["db", "upgrade"]
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert "aws_ecs_task_definition" in str(root["output"])


def test_data_stores_and_registries(root: dict[str, list[Any]]) -> None:
    database = _resources(root, "aws_db_instance")["main"]
    assert database["manage_master_user_password"] is True
    assert database["storage_encrypted"] is True
    assert database["publicly_accessible"] is False
    assert database["deletion_protection"] == "${var.deletion_protection}"
    redis = _resources(root, "aws_elasticache_replication_group")["main"]
    assert redis["transit_encryption_enabled"] is True
    assert redis["at_rest_encryption_enabled"] is True
    ecr = _resources(root, "aws_ecr_repository")["this"]
    assert ecr["image_tag_mutability"] == "IMMUTABLE"
    assert _one(ecr["image_scanning_configuration"])["scan_on_push"] is True
    cluster = _resources(root, "aws_ecs_cluster")["main"]
    setting = _one(cluster["setting"])
    assert (setting["name"], setting["value"]) == ("containerInsights", "enabled")


@pytest.mark.parametrize("folder", [ROOT, MODULE], ids=["root", "module"])
def test_aws_provider_5x(folder: Path) -> None:
    config = _load(folder)
    providers = _one(_one(config["terraform"])["required_providers"])
    assert providers["aws"]["version"] == ">= 5.0, < 6.0"


@pytest.mark.parametrize("folder", [ROOT, MODULE], ids=["root", "module"])
def test_variables_have_descriptions(folder: Path) -> None:
    config = _load(folder)
    variables = {k: v for block in config["variable"] for k, v in block.items()}
    missing = [name for name, body in variables.items() if not body.get("description")]
    assert missing == []


def test_tfvars_example_holds_no_secret_values() -> None:
    text = (ROOT / "terraform.tfvars.example").read_text()
    assignments = dict(re.findall(r"^\s*(\w+)\s*=\s*(.+)$", text, flags=re.MULTILINE))
    for name, value in assignments.items():
        if SECRET_NAME.search(name):
            assert value.strip('"').startswith("arn:aws:"), name
    root_variables = {k for block in _load(ROOT)["variable"] for k in block}
    assert set(assignments) <= root_variables
