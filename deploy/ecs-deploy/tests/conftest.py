"""moto in SERVER mode on a free loopback port, and an ECS set-up like the Terraform one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

REGION = "eu-west-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    # the moto_server of this environment (another one on PATH may be an older moto)
    binary = str(Path(sys.executable).parent / "moto_server")
    if not Path(binary).exists():
        binary = shutil.which("moto_server") or binary
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    # every service reports one running task: desired_count 1 services complete their rollout
    env = {**os.environ, "MOTO_ECS_SERVICE_RUNNING": "1"}
    process = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start (see {log.name})") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_endpoint


@dataclass
class Stack:
    ecs: Any
    cluster: str
    services: list[str]
    migration_family: str
    subnet: str
    security_group: str
    repository: str


def _task_definition(ecs: Any, family: str, image: str, command: list[str]) -> str:
    response = ecs.register_task_definition(
        family=family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        executionRoleArn="arn:aws:iam::123456789012:role/execution",
        containerDefinitions=[
            {
                "name": family.rsplit("-", 1)[-1],
                "image": image,
                "command": command,
                "essential": True,
                # moto's run_task needs a container-level memory or memoryReservation
                "memoryReservation": 256,
                "environment": [{"name": "APP_ENV", "value": "staging"}],
                "secrets": [
                    {
                        "name": "USER_SERVICE_DATABASE_URL",
                        "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/db-url",
                    }
                ],
                "stopTimeout": 20,
            }
        ],
        tags=[{"key": "Project", "value": "alvin"}],
    )
    return str(response["taskDefinition"]["taskDefinitionArn"])


@pytest.fixture
def stack(aws_env: str) -> Stack:
    """A cluster, three services and a migration task definition, all on image tag v1."""
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=aws_env)
    ecs = boto3.client("ecs", region_name=REGION, endpoint_url=aws_env)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # as in a real VPC for Fargate; moto's run_task (awsvpc) needs it for the task's ENI
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(
        GroupName=f"sg-{uuid.uuid4().hex[:8]}", Description="t", VpcId=vpc
    )
    cluster = f"alvin-test-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=cluster)
    repository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/alvin-test/user-service"
    services = ["user-grpc", "user-worker", "user-scheduler"]
    for name in services:
        arn = _task_definition(ecs, f"{cluster}-{name}", f"{repository}:v1", [name])
        ecs.create_service(
            cluster=cluster,
            serviceName=name,
            taskDefinition=arn,
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": [subnet],
                    "securityGroups": [group["GroupId"]],
                    "assignPublicIp": "DISABLED",
                }
            },
        )
    migration = f"{cluster}-migrate"
    _task_definition(ecs, migration, f"{repository}:v1", ["db", "upgrade"])
    return Stack(ecs, cluster, services, migration, subnet, group["GroupId"], repository)
