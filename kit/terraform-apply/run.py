"""Apply the kit's root Terraform stack to moto, roll a release on it, destroy it.

``nox -s terraform-apply`` runs this. Steps: the emulator (emulator.py: moto in server mode on a
free loopback port, its gaps filled in); the inputs the stack takes from outside (VPC, four
subnets, a route table, SSM parameters, ACM certificate, Private CA, log bucket) made with
boto3; a byte-for-byte copy of deploy/terraform-ecs with one extra file,
``emulator_override.tf`` (the provider's endpoints and fake credentials); ``terraform init``
from the offline provider mirror; ``apply``; ``plan`` must change nothing but the attributes
listed in ROUND_TRIP_GAPS; ``alvin-ecs-deploy`` rolls a new tag
through the migration and every service, then fails as it should (a failing migration, a service
that never becomes stable); ``plan`` again; ``destroy`` must leave nothing.
The last line is ``terraform-apply: N passed, N failed``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODULE = ROOT / "deploy" / "terraform-ecs"
RESULTS = HERE / "results"
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
SERVICES = ("user-grpc", "user-worker", "user-scheduler", "gateway")
# the provider's endpoint names for every AWS API the stack and its data sources call
ENDPOINTS = (
    "acm", "appautoscaling", "cloudwatch", "ec2", "ecr", "ecs", "elasticache", "elbv2", "iam",
    "kms", "logs", "rds", "s3", "secretsmanager", "servicediscovery", "ssm", "sts",
)  # fmt: skip
# Attributes moto accepts but does not return, so every plan after apply wants to set them again.
# A change to any other attribute fails the idempotency check.
ROUND_TRIP_GAPS: dict[tuple[str, str], str] = {
    ("aws_db_instance", "performance_insights_enabled"): "RDS: Performance Insights not stored",
    ("aws_db_instance", "performance_insights_kms_key_id"): "RDS: Performance Insights not stored",
    ("aws_db_parameter_group", "parameter"): "RDS: DescribeDBParameters omits user parameters",
    ("aws_elasticache_replication_group", "num_cache_clusters"): (
        "ElastiCache: one member cluster reported whatever num_cache_clusters asks"
    ),
    ("aws_vpc_security_group_ingress_rule", "description"): "EC2: rule descriptions not stored",
    ("aws_vpc_security_group_egress_rule", "description"): "EC2: rule descriptions not stored",
    ("aws_ecs_service", "availability_zone_rebalancing"): "ECS: field not returned",
    ("aws_ecs_service", "health_check_grace_period_seconds"): "ECS: field not returned",
}
TIMEOUT_S = {"init": 120, "apply": 900, "plan": 300, "destroy": 900, "deploy": 120}


@dataclass
class Tally:
    """The checks, for the last line."""

    passed: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, why: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"  ok    {name}", flush=True)
        else:
            self.failed += 1
            self.failures.append(f"{name}: {why}")
            print(f"  FAIL  {name}: {why}", flush=True)
        return ok


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def emulator(log_path: Path) -> Iterator[str]:
    """emulator.py on a free loopback port until the block ends; yields its URL."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, str(HERE / "emulator.py"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the emulator did not start, see {log_path}") from None
                    time.sleep(0.1)  # polling the port, with the deadline above
            yield endpoint
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Inputs:
    vpc: str
    private_subnets: list[str]
    public_subnets: list[str]
    tfvars: dict[str, Any]


def make_inputs(client: Any) -> Inputs:
    """What the stack takes as inputs: VPC, subnets, route table, parameters, certificate,
    Private CA, log bucket."""
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=f"{REGION}{'ab'[i % 2]}"
        )["Subnet"]["SubnetId"]
        for i in range(4)
    ]
    # the private subnets' route table: the stack adds the S3 gateway endpoint to it
    route_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    for subnet in subnets[:2]:
        ec2.associate_route_table(RouteTableId=route_table, SubnetId=subnet)
    ssm = client("ssm")
    arns = {}
    for name in ("database-url", "service-token", "smtp-username", "smtp-password"):
        parameter = f"/alvin/staging/{name}"
        ssm.put_parameter(Name=parameter, Value=f"emulated-{name}", Type="SecureString")
        arns[name] = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{parameter}"
    certificate = client("acm").request_certificate(DomainName="alvin.example.com")
    # the Private CA of Service Connect TLS (the stack only names it; ECS would use it)
    authority = client("acm-pca").create_certificate_authority(
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": "EC_prime256v1",
            "SigningAlgorithm": "SHA256WITHECDSA",
            "Subject": {"CommonName": "alvin-staging-service-connect"},
        },
        CertificateAuthorityType="ROOT",
        Tags=[{"Key": "AmazonECSManaged", "Value": "true"}],
    )["CertificateAuthorityArn"]
    bucket = "alvin-staging-alb-logs"
    client("s3").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    tfvars = {
        "environment": "staging",
        "region": REGION,
        "vpc_id": vpc,
        "private_subnet_ids": subnets[:2],
        "private_route_table_ids": [route_table],
        "public_subnet_ids": subnets[2:],
        "certificate_arn": certificate["CertificateArn"],
        "alb_access_logs_bucket": bucket,
        "database_url_secret_arn": arns["database-url"],
        "service_token_secret_arn": arns["service-token"],
        "smtp_username_secret_arn": arns["smtp-username"],
        "smtp_password_secret_arn": arns["smtp-password"],
        "service_connect_tls_ca_arn": authority,
        "smtp_host": "email-smtp.eu-west-1.amazonaws.com",
        "email_from": "Alvin <no-reply@example.com>",
        "public_url": "https://app.example.com",
        # an environment that must be destroyable at the end
        "deletion_protection": False,
        "db_multi_az": False,
        # moto reports one running task per service: a service that wants more never settles
        "grpc_desired_count": 1,
        "gateway_desired_count": 1,
    }
    return Inputs(vpc, subnets[:2], subnets[2:], tfvars)


def override(endpoint: str) -> str:
    """The only file added to the module: endpoints and fake credentials of the emulator."""
    lines = "\n".join(f'    {name} = "{endpoint}"' for name in ENDPOINTS)
    return (
        "# Added by terraform-apply/run.py to a copy of the module: every AWS API goes to the\n"
        "# emulator on loopback. Merged into the module's provider block (region, default_tags).\n"
        'provider "aws" {\n'
        '  access_key                  = "testing"\n'
        '  secret_key                  = "testing"\n'  # pragma: allowlist secret
        "  skip_credentials_validation = true\n"
        "  skip_metadata_api_check     = true\n"
        "  s3_use_path_style           = true\n"
        f"  endpoints {{\n{lines}\n  }}\n}}\n"
    )


def copy_module(workdir: Path) -> Path:
    """deploy/terraform-ecs as it is (.tf files and modules/), into workdir/stack."""
    stack = workdir / "stack"
    shutil.copytree(
        MODULE,
        stack,
        ignore=shutil.ignore_patterns("tests", ".terraform*", "*.tfstate*", "*.tfvars", "*.md"),
    )
    return stack


@dataclass
class Terraform:
    stack: Path
    env: dict[str, str]

    def run(self, step: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["terraform", f"-chdir={self.stack}", *args]
        print(f"$ {' '.join(command)}", flush=True)
        result = subprocess.run(
            command,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S.get(step, 300),
            check=False,
        )
        (self.stack.parent / f"{step}.log").write_text(result.stdout + result.stderr)
        if check and result.returncode != 0:
            print(result.stdout[-4000:] + result.stderr[-4000:], flush=True)
        return result

    def managed(self) -> list[str]:
        listed = self.run("state", "state", "list", check=False).stdout.splitlines()
        return [address for address in listed if ".data." not in f".{address}"]


def _empty(value: Any) -> Any:
    return None if value in ({}, [], "") else value


def plan_changes(tf: Terraform) -> tuple[int, list[str], list[str]]:
    """Run plan; return its exit code, the changed attributes that are known emulator gaps, and
    the others ("address: attribute")."""
    plan = tf.run(
        "plan", "plan", "-input=false", "-detailed-exitcode", "-parallelism=20", "-out=tfplan",
        check=False,
    )  # fmt: skip
    if plan.returncode == 1:
        print(plan.stdout[-4000:] + plan.stderr[-4000:], flush=True)
        return 1, [], ["terraform plan failed"]
    shown = json.loads(tf.run("show", "show", "-json", "tfplan").stdout)
    gaps, others = [], []
    for change in shown.get("resource_changes", []):
        actions = change["change"]["actions"]
        if actions in (["no-op"], ["read"]):
            continue
        before = change["change"].get("before") or {}
        after = change["change"].get("after") or {}
        unknown = change["change"].get("after_unknown") or {}
        changed = sorted(
            key
            for key in set(before) | set(after)
            if not unknown.get(key) and _empty(before.get(key)) != _empty(after.get(key))
        )
        if not changed:
            others.append(f"{change['address']}: {'/'.join(actions)} with no attribute changed")
        for key in changed:
            line = f"{change['address']}: {key} ({'/'.join(actions)})"
            reason = ROUND_TRIP_GAPS.get((change["type"], key))
            (gaps if reason else others).append(f"{line}: {reason}" if reason else line)
    return plan.returncode, gaps, others


def _task_images(ecs: Any, cluster: str) -> dict[str, str]:
    services = ecs.describe_services(cluster=cluster, services=list(SERVICES))["services"]
    return {
        service["serviceName"]: ecs.describe_task_definition(
            taskDefinition=service["taskDefinition"]
        )["taskDefinition"]["containerDefinitions"][0]["image"]
        for service in services
    }


def deploy_command(
    outputs: dict[str, Any], env: dict[str, str], *args: str, migration: bool = True
) -> subprocess.CompletedProcess[str]:
    network = outputs["migration_network"]
    command = [
        str(Path(sys.executable).parent / "alvin-ecs-deploy"),
        "--cluster", outputs["cluster_name"], "--poll-interval", "0.2", *args,
    ]  # fmt: skip
    if migration:
        command += [
            "--migration-task-family", outputs["migration_task_definition_family"],
            *[arg for subnet in network["subnets"] for arg in ("--subnet", subnet)],
            *[arg for group in network["security_groups"] for arg in ("--security-group", group)],
            "--migration-timeout", "60",
        ]  # fmt: skip
    print(f"$ alvin-ecs-deploy {' '.join(args)}", flush=True)
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S["deploy"], check=False
    )
    for line in (result.stdout + result.stderr).splitlines():
        print(f"    | {line}", flush=True)
    return result


def roll(tally: Tally, ecs: Any, outputs: dict[str, Any], env: dict[str, str]) -> float:
    """A release rolled, then the two failure paths; returns the good roll's seconds."""
    cluster = outputs["cluster_name"]
    families = {
        name: ecs.describe_services(cluster=cluster, services=[name])["services"][0][
            "taskDefinition"
        ].rsplit(":", 1)[0]
        for name in SERVICES
    }
    service_args = [arg for name in SERVICES for arg in ("--service", name)]

    started = time.monotonic()
    good = deploy_command(outputs, env, *service_args, "--image-tag", "v2", "--timeout", "60")
    seconds = time.monotonic() - started
    tally.check("deploy v2: exit 0", good.returncode == 0, good.stderr.strip()[-300:])
    tally.check("deploy v2: migration exit code 0", "migration: exit code 0" in good.stdout)
    tally.check("deploy v2: every service stable", f"deployed {len(SERVICES)}" in good.stdout)
    images = _task_images(ecs, cluster)
    repositories = outputs["ecr_repository_urls"]
    expected = {
        name: f"{repositories['gateway-graphql' if name == 'gateway' else 'user-service']}:v2"
        for name in SERVICES
    }
    tally.check("deploy v2: services run the new image", images == expected, str(images))
    migration = ecs.describe_task_definition(
        taskDefinition=outputs["migration_task_definition_family"]
    )["taskDefinition"]
    tally.check(
        "deploy v2: migration ran with the new image",
        migration["containerDefinitions"][0]["image"].endswith(":v2"),
        migration["containerDefinitions"][0]["image"],
    )

    def revisions() -> dict[str, int]:
        return {
            name: ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]["revision"]
            for name, family in families.items()
        }

    before = revisions()
    failing = deploy_command(outputs, env, *service_args, "--image-tag", "v3-exit1")
    tally.check("failing migration: exit 1", failing.returncode == 1, failing.stderr[-300:])
    tally.check(
        "failing migration: reported, no service updated",
        "exit code 1" in failing.stderr and "no service was updated" in failing.stderr,
        failing.stderr[-300:],
    )
    tally.check(
        "failing migration: services untouched",
        _task_images(ecs, cluster) == expected and revisions() == before,
        str(_task_images(ecs, cluster)),
    )

    # an image whose tasks crash: the emulator fails the rollout as the circuit breaker would
    stuck = deploy_command(
        outputs, env, "--service", "user-grpc", "--service", "gateway",
        "--image-tag", "v4-exit2", "--timeout", "30", migration=False,
    )  # fmt: skip
    tally.check("failed rollout: exit 1", stuck.returncode == 1, stuck.stderr[-300:])
    tally.check(
        "failed rollout: each service named with its rollout state and reason",
        "failed to roll out" in stuck.stderr and "circuit breaker" in stuck.stderr,
        stuck.stderr[-300:],
    )
    tally.check(
        "failed rollout: reported with the service's events",
        "event: (service user-grpc) deployment failed" in stuck.stdout + stuck.stderr,
        (stuck.stdout + stuck.stderr)[-400:],
    )
    return seconds


def leftovers(client: Any, cluster: str) -> list[str]:
    """What the stack created that the emulator still holds after destroy."""
    left = []
    ecs = client("ecs")
    active = [
        c["clusterName"]
        for c in ecs.describe_clusters(clusters=[cluster])["clusters"]
        if c["status"] == "ACTIVE"
    ]
    left += [f"ECS cluster {name}" for name in active]
    if active:
        left += [f"ECS service {arn}" for arn in ecs.list_services(cluster=cluster)["serviceArns"]]
    left += [
        f"load balancer {lb['LoadBalancerName']}"
        for lb in client("elbv2").describe_load_balancers()["LoadBalancers"]
    ]
    left += [
        f"DB instance {db['DBInstanceIdentifier']}"
        for db in client("rds").describe_db_instances()["DBInstances"]
    ]
    left += [
        f"replication group {group['ReplicationGroupId']}"
        for group in client("elasticache").describe_replication_groups()["ReplicationGroups"]
    ]
    left += [
        f"ECR repository {repo['repositoryName']}"
        for repo in client("ecr").describe_repositories()["repositories"]
    ]
    left += [
        f"IAM role {role['RoleName']}"
        for role in client("iam").list_roles()["Roles"]
        if role["RoleName"].startswith("alvin-")
    ]
    left += [
        f"scalable target {target['ResourceId']}"
        for target in client("application-autoscaling").describe_scalable_targets(
            ServiceNamespace="ecs"
        )["ScalableTargets"]
    ]
    return left


def apply_and_roll(
    tally: Tally, tf: Terraform, client: Any, env: dict[str, str], figures: dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """apply, the checks on what it made, plan, the release and its failure paths, plan again.

    Returns the applied resource addresses and the stack's outputs.
    """
    started = time.monotonic()
    apply = tf.run("apply", "apply", "-input=false", "-auto-approve", "-parallelism=20")
    figures["apply_s"] = round(time.monotonic() - started, 1)
    applied = tf.managed()
    figures["resources_applied"] = len(applied)
    tally.check("apply: exit 0", apply.returncode == 0, apply.stderr.strip()[-600:])
    types = {address.split("[")[0].rsplit(".", 2)[-2] for address in applied}
    expected_types = {
        "aws_ecs_cluster", "aws_ecs_service", "aws_ecs_task_definition", "aws_lb",
        "aws_lb_listener", "aws_db_instance", "aws_elasticache_replication_group",
        "aws_appautoscaling_target", "aws_appautoscaling_policy", "aws_kms_key",
        "aws_ecr_repository", "aws_iam_role", "aws_service_discovery_http_namespace",
    }  # fmt: skip
    tally.check(
        "apply: every kind of resource created",
        expected_types <= types,
        f"missing {sorted(expected_types - types)}",
    )
    outputs = {
        name: value["value"]
        for name, value in json.loads(tf.run("output", "output", "-json").stdout).items()
    }
    if apply.returncode != 0:
        return applied, outputs
    ecs = client("ecs")
    described = ecs.describe_services(cluster=outputs["cluster_name"], services=SERVICES)
    tally.check(
        "apply: the four services are ACTIVE in the emulator",
        sorted(s["status"] for s in described["services"]) == ["ACTIVE"] * 4,
        str(described.get("failures")),
    )
    targets = client("application-autoscaling").describe_scalable_targets(ServiceNamespace="ecs")[
        "ScalableTargets"
    ]
    tally.check(
        "apply: autoscaling targets for user-grpc, user-worker, gateway",
        sorted(t["ResourceId"].rsplit("/", 1)[-1] for t in targets)
        == ["gateway", "user-grpc", "user-worker"],
        str([t["ResourceId"] for t in targets]),
    )

    started = time.monotonic()
    _, gaps, others = plan_changes(tf)
    figures["plan_s"] = round(time.monotonic() - started, 1)
    figures["round_trip_gaps"] = gaps
    for gap in gaps:
        print(f"    emulator gap (ignored): {gap}", flush=True)
    figures["plan_clean"] = tally.check(
        "plan after apply: no change but the emulator gaps", not others, str(others)
    )

    figures["deploy_s"] = round(roll(tally, ecs, outputs, env), 1)
    # Fargate removes a task's network interface when the task stops; moto keeps it, and the
    # security group it names could then never be deleted (destroy waits on DependencyViolation).
    ec2 = client("ec2")
    for interface in ec2.describe_network_interfaces(
        Filters=[{"Name": "description", "Values": ["moto ECS"]}]
    )["NetworkInterfaces"]:
        ec2.delete_network_interface(NetworkInterfaceId=interface["NetworkInterfaceId"])

    code, _, others = plan_changes(tf)
    figures["plan_clean"] &= tally.check(
        "plan after the release: Terraform leaves the rolled revisions alone",
        code != 1 and not others,
        str(others),
    )
    return applied, outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin-dir", required=True, help="filesystem mirror of the provider")
    parser.add_argument("--workdir", type=Path, required=True, help="emptied first")
    options = parser.parse_args()

    tally = Tally()
    figures: dict[str, Any] = {}
    workdir: Path = options.workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    RESULTS.mkdir(exist_ok=True)
    summary = "terraform-apply: nothing applied"

    with emulator(workdir / "emulator.log") as endpoint:
        print(f"emulator: {endpoint} (log {workdir / 'emulator.log'})", flush=True)
        aws_env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        env = {**os.environ, **aws_env}
        env.pop("AWS_PROFILE", None)
        session = boto3.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106  # pragma: allowlist secret (the emulator's)
            region_name=REGION,
        )

        def client(name: str) -> Any:
            return session.client(name, endpoint_url=endpoint)  # type: ignore[call-overload]

        inputs = make_inputs(client)
        stack = copy_module(workdir)
        (stack / "emulator_override.tf").write_text(override(endpoint))
        (stack / "terraform.tfvars.json").write_text(json.dumps(inputs.tfvars, indent=2))
        tf_env = {
            **env,
            "TF_DATA_DIR": str(workdir / "tf-data"),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }
        tf = Terraform(stack, tf_env)
        init = tf.run(
            "init", "init", "-backend=false", "-input=false", "-plugin-dir", options.plugin_dir
        )
        if not tally.check("init from the mirror", init.returncode == 0, init.stderr[-300:]):
            return finish(tally, figures, summary)

        applied, outputs = apply_and_roll(tally, tf, client, env, figures)
        skipped = 0  # every resource of the stack is applied: nothing is targeted out

        started = time.monotonic()
        destroy = tf.run("destroy", "destroy", "-input=false", "-auto-approve", "-parallelism=20")
        figures["destroy_s"] = round(time.monotonic() - started, 1)
        tally.check("destroy: exit 0", destroy.returncode == 0, destroy.stderr.strip()[-600:])
        tally.check("destroy: state empty", tf.managed() == [], str(tf.managed()))
        left = leftovers(client, outputs.get("cluster_name", "alvin-staging"))
        tally.check("destroy: nothing left in the emulator", not left, str(left))
        plan_state = "plan clean" if figures.get("plan_clean") else "plan NOT clean"
        summary = (
            f"terraform-apply: {len(applied)} applied, {skipped} skipped, {plan_state}, "
            f"{'destroyed' if destroy.returncode == 0 and not left else 'NOT destroyed'}"
        )
    return finish(tally, figures, summary)


def finish(tally: Tally, figures: dict[str, Any], summary: str) -> int:
    (RESULTS / "results.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(
        "figures: " + ", ".join(f"{k}={v}" for k, v in figures.items() if not isinstance(v, list)),
        flush=True,
    )
    for failure in tally.failures:
        print(f"FAILED: {failure}", flush=True)
    gaps = len(figures.get("round_trip_gaps", []))
    print(f"checks: {tally.passed} passed, {tally.failed} failed", flush=True)
    if gaps:
        print(f"  plan: {gaps} attributes the emulator does not return were ignored", flush=True)
    print(summary, flush=True)
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
