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


def _local(locals_: dict[str, Any], reference: Any) -> Any:
    """A `${local.x}` reference followed to its value (through locals naming locals)."""
    while isinstance(reference, str) and re.fullmatch(r"\$\{local\.\w+\}", reference):
        reference = locals_[reference[len("${local.") : -1]]
    return reference


SECRET_SOURCE = re.compile(r"^\$\{(var\.\w+_secret_arn|aws_secretsmanager_secret\.\w+\.arn)\}$")


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
        secrets = _local(locals_, body["secrets"])
        assert secrets, name
        for value in secrets.values() if isinstance(secrets, dict) else []:
            assert SECRET_SOURCE.match(value), value
    runtime = locals_["user_service_runtime_secrets"]
    assert "USER_SERVICE_DATABASE_URL" in runtime
    for family in ("user_grpc", "user_worker", "user_scheduler", "user_migrate"):
        # a map, or merge(local.user_service_runtime_secrets, {...}) as text
        secrets = str(_local(locals_, locals_[f"{family}_secrets"]))
        assert "USER_SERVICE_DATABASE_URL" in secrets or "runtime_secrets" in secrets, family
        # only the gRPC server checks the service token
        assert ("USER_SERVICE_GRPC_SERVICE_TOKEN" in secrets) is (family == "user_grpc"), family
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


# --- hardening: encryption inside the VPC, credentials, least privilege ---------------------------

EXECUTION_ROLE = ROOT / "modules" / "task-execution-role"


def _variables(config: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    return {k: v for block in config["variable"] for k, v in block.items()}


def _data(config: dict[str, list[Any]], kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in config.get("data", []):
        found.update(block.get(kind, {}))
    return found


def _dynamic(block: dict[str, Any], name: str) -> dict[str, Any]:
    """The content of a `dynamic "name"` block."""
    found = [d[name] for d in block.get("dynamic", []) if name in d]
    assert len(found) == 1, name
    return _one(found[0]["content"])


def test_service_connect_speaks_tls_with_a_private_ca(
    root: dict[str, list[Any]], module: dict[str, list[Any]], services: dict[str, dict[str, Any]]
) -> None:
    # the module hands the CA, the infrastructure role and the key to every published service
    service = _resources(module, "aws_ecs_service")["this"]
    connect = _dynamic(service, "service_connect_configuration")
    tls = _dynamic(_dynamic(connect, "service"), "tls")
    assert tls["role_arn"] == "${tls.value.role_arn}"
    assert tls["kms_key"] == "${tls.value.kms_key_arn}"
    assert _one(tls["issuer_cert_authority"])["aws_pca_authority_arn"] == "${tls.value.ca_arn}"
    # the root turns it on for every *_grpc service when a CA is given ...
    for name in (n for n in SERVICES if n.endswith("_grpc")):
        assert services[name]["service_connect"]["tls"] == "${local.service_connect_tls}", name
    tls_local = _locals(root)["service_connect_tls"]
    assert "var.service_connect_tls_ca_arn" in tls_local
    assert "aws_iam_role.service_connect_tls[0].arn" in tls_local
    role = _resources(root, "aws_iam_role")["service_connect_tls"]
    assert "ecs.amazonaws.com" in str(_data(root, "aws_iam_policy_document")["ecs_assume"])
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.ecs_assume.json}"
    attachment = _resources(root, "aws_iam_role_policy_attachment")["service_connect_tls"]
    assert attachment["policy_arn"].endswith(
        "AmazonECSInfrastructureRolePolicyForServiceConnectTransportLayerSecurity"
    )
    # ... and production refuses to plan without one
    namespace = _resources(root, "aws_service_discovery_http_namespace")["main"]
    precondition = _one(_one(namespace["lifecycle"])["precondition"])
    assert precondition["condition"] == (
        '${var.environment != "production" || var.service_connect_tls_ca_arn != null}'
    )
    variable = _variables(root)["service_connect_tls_ca_arn"]
    assert "acm-pca" in _one(variable["validation"])["condition"]


def test_the_worker_logs_in_to_smtp_over_starttls(root: dict[str, list[Any]]) -> None:
    locals_ = _locals(root)
    environment = locals_["user_service_environment"]
    assert environment["USER_SERVICE_SMTP_STARTTLS"] == "${tostring(var.smtp_starttls)}"
    assert _variables(root)["smtp_starttls"]["default"] is True
    worker = locals_["user_worker_secrets"]
    assert "USER_SERVICE_SMTP_USERNAME = var.smtp_username_secret_arn" in worker
    assert "USER_SERVICE_SMTP_PASSWORD = var.smtp_password_secret_arn" in worker
    # the other processes send no email: no SMTP credential
    for family in ("user_grpc", "user_scheduler", "user_migrate"):
        assert "SMTP" not in str(_local(locals_, locals_[f"{family}_secrets"])), family
    # only the worker may open SMTP connections
    smtp = _resources(root, "aws_vpc_security_group_egress_rule")["worker_smtp"]
    assert smtp["security_group_id"] == "${aws_security_group.user_worker.id}"


def test_services_connect_as_the_application_role_with_verify_full(
    root: dict[str, list[Any]],
) -> None:
    locals_ = _locals(root)
    app_url = "${aws_secretsmanager_secret.app_database_url.arn}"
    runtime = _local(locals_, locals_["user_scheduler_secrets"])
    assert runtime["USER_SERVICE_DATABASE_URL"] == app_url
    assert runtime.items() < _local(locals_, locals_["user_grpc_secrets"]).items()  # + the token
    assert "local.user_service_runtime_secrets" in locals_["user_worker_secrets"]
    # the owner's URL reaches the migration only, with the application role's URL as its hook
    migrate = locals_["user_migrate_secrets"]
    assert migrate["USER_SERVICE_DATABASE_URL"] == "${var.database_url_secret_arn}"
    assert migrate["USER_SERVICE_APP_DATABASE_URL"] == app_url
    every_family = str({k: v for k, v in locals_.items() if k.endswith("_secrets")})
    assert every_family.count("var.database_url_secret_arn") == 1
    url = _resources(root, "aws_secretsmanager_secret_version")["app_database_url"]
    assert url["secret_string"].startswith("postgresql://${var.app_database_user}:")
    assert "sslmode=verify-full&sslrootcert=${var.rds_ca_bundle_path}" in url["secret_string"]
    assert _variables(root)["app_database_user"]["default"] != "alvin"  # not the master user
    sources = "".join(path.read_text() for path in ROOT.glob("*.tf"))
    assert "sslmode=require" not in sources


def test_redis_requires_an_auth_token_over_tls(root: dict[str, list[Any]]) -> None:
    redis = _resources(root, "aws_elasticache_replication_group")["main"]
    assert redis["transit_encryption_enabled"] is True
    assert redis["auth_token"] == "${terraform_data.redis_auth_token.output}"
    assert "CKV_AWS_31" not in (ROOT / "data.tf").read_text()  # checkov checks the token again
    token = _resources(root, "terraform_data")["redis_auth_token"]
    assert "aws_secretsmanager_random_password" in token["input"]
    assert "input" in str(_one(token["lifecycle"])["ignore_changes"])
    url = _resources(root, "aws_secretsmanager_secret_version")["redis_url"]
    assert url["secret_string"].startswith("rediss://:${terraform_data.redis_auth_token.output}@")
    assert url["secret_string"].endswith(":6379/0?ssl_cert_reqs=required")
    for family in ("user_grpc", "user_scheduler", "user_migrate"):
        secrets = _local(_locals(root), _locals(root)[f"{family}_secrets"])
        assert secrets["USER_SERVICE_REDIS_URL"] == "${aws_secretsmanager_secret.redis_url.arn}"
    assert "redis_url_secret_arn" not in _variables(root)


def test_each_task_family_has_an_execution_role_of_its_own(
    root: dict[str, list[Any]], module: dict[str, list[Any]]
) -> None:
    # no shared execution role in the root, none taken as input by the module
    assert "execution" not in _resources(root, "aws_iam_role")
    assert "execution_role_arn" not in _variables(module)
    role = next(block["execution_role"] for block in module["module"] if "execution_role" in block)
    assert role["source"] == "../task-execution-role"
    assert role["secrets"] == "${var.secrets}"
    task = _resources(module, "aws_ecs_task_definition")["this"]
    assert task["execution_role_arn"] == "${module.execution_role.arn}"
    migrate = _resources(root, "aws_ecs_task_definition")["migrate"]
    assert migrate["execution_role_arn"] == "${module.migrate_execution_role.arn}"
    migrate_role = next(
        block["migrate_execution_role"]
        for block in root["module"]
        if "migrate_execution_role" in block
    )
    assert migrate_role["secrets"] == "${local.user_migrate_secrets}"
    # the role reads exactly the ARNs of the family's secrets
    execution = _load(EXECUTION_ROLE)
    policy = _one(_data(execution, "aws_iam_policy_document")["secrets"]["statement"])
    assert policy["resources"] == "${local.secret_arns}"
    assert "values(var.secrets)" in _locals(execution)["secret_arns"]


def test_tasks_reach_aws_apis_through_vpc_endpoints_only(root: dict[str, list[Any]]) -> None:
    egress = _resources(root, "aws_vpc_security_group_egress_rule")
    open_https = [
        name
        for name, rule in egress.items()
        if rule.get("cidr_ipv4") == "0.0.0.0/0" and 443 in (rule["from_port"], rule["to_port"])
    ]
    assert open_https == []
    endpoints = _resources(root, "aws_vpc_endpoint")
    interface = endpoints["interface"]
    assert interface["vpc_endpoint_type"] == "Interface"
    assert interface["private_dns_enabled"] is True
    wanted = {"ecr.api", "ecr.dkr", "logs", "secretsmanager", "ssm"}
    assert wanted <= set(re.findall(r'"([a-z.]+)"', _locals(root)["interface_endpoints"]))
    assert endpoints["s3"]["vpc_endpoint_type"] == "Gateway"
    assert egress["tasks_to_endpoints"]["referenced_security_group_id"] == (
        "${aws_security_group.endpoints.id}"
    )
    assert egress["tasks_to_s3"]["prefix_list_id"] == "${aws_vpc_endpoint.s3.prefix_list_id}"


def test_topology_chooses_split_or_one_process(
    root: dict[str, list[Any]], services: dict[str, dict[str, Any]]
) -> None:
    """One variable: split runs user-grpc next to the gateway; one-process drops user-grpc and
    the gateway service runs the one-process image with both services' settings."""
    variables = {name: body for block in root["variable"] for name, body in block.items()}
    topology = variables["topology"]
    assert topology["default"] == "split"
    assert "one-process" in str(topology["validation"])
    assert "local.one_process ? 0 : 1" in str(services["user_grpc"]["count"])
    gateway = services["gateway"]
    for key in ("image", "entry_point", "environment", "secrets", "security_group_ids"):
        assert gateway[key] == f"${{local.app.{key}}}", key
    app = str(_locals(root)["app"])
    assert "one-process" in app
    assert "inprocess:user-service" in app
    assert "local.user_grpc_secrets" in app  # the gRPC server's secrets, in the one process
    assert "one-process" in str(_locals(root)["repositories"])
    moved = root.get("moved", [])
    assert any("module.user_grpc[0]" in str(block) for block in moved), moved
