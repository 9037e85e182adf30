"""The deploy against moto in server mode (a real HTTP endpoint on loopback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alvin_ecs_deploy import EcsMigrationRunner, MigrationFailed, MigrationResult, deploy
from alvin_ecs_deploy.cli import main
from alvin_ecs_deploy.deploy import (
    EVENTS_SHOWN,
    Deployer,
    RolloutFailed,
    new_revision_request,
    replace_image,
)
from click.testing import CliRunner
from conftest import Stack


def _images(stack: Stack) -> dict[str, str]:
    described = stack.ecs.describe_services(cluster=stack.cluster, services=stack.services)
    images = {}
    for service in described["services"]:
        task_definition = stack.ecs.describe_task_definition(
            taskDefinition=service["taskDefinition"]
        )["taskDefinition"]
        images[service["serviceName"]] = task_definition["containerDefinitions"][0]["image"]
    return images


def _args(stack: Stack, *extra: str) -> list[str]:
    args = ["--cluster", stack.cluster]
    for name in stack.services:
        args += ["--service", name]
    return [
        *args,
        "--migration-task-family",
        stack.migration_family,
        "--subnet",
        stack.subnet,
        "--security-group",
        stack.security_group,
        "--poll-interval",
        "0.05",
        *extra,
    ]


def test_deploy_rolls_every_service_to_the_new_tag(stack: Stack) -> None:
    before = stack.ecs.describe_services(cluster=stack.cluster, services=stack.services)
    result = CliRunner().invoke(main, _args(stack, "--image-tag", "v2"))

    assert result.exit_code == 0, result.output
    assert "migration: exit code 0" in result.output
    assert "deployed 3 service(s)" in result.output
    assert _images(stack) == dict.fromkeys(stack.services, f"{stack.repository}:v2")
    after = stack.ecs.describe_services(cluster=stack.cluster, services=stack.services)
    for old, new in zip(before["services"], after["services"], strict=True):
        assert new["taskDefinition"] != old["taskDefinition"]
        assert new["taskDefinition"].endswith(":2")
        copied = stack.ecs.describe_task_definition(
            taskDefinition=new["taskDefinition"], include=["TAGS"]
        )
        definition = copied["taskDefinition"]
        # everything but the image is copied from the previous revision
        assert definition["containerDefinitions"][0]["secrets"][0]["name"] == (
            "USER_SERVICE_DATABASE_URL"
        )
        assert definition["containerDefinitions"][0]["stopTimeout"] == 20
        assert definition["cpu"] == "256"
        assert copied["tags"] == [{"key": "Project", "value": "alvin"}]
    migration = stack.ecs.describe_task_definition(taskDefinition=stack.migration_family)
    assert migration["taskDefinition"]["revision"] == 2
    assert migration["taskDefinition"]["containerDefinitions"][0]["image"].endswith(":v2")
    tasks = stack.ecs.list_tasks(cluster=stack.cluster, family=stack.migration_family)
    assert len(tasks["taskArns"]) == 1 or tasks["taskArns"] == []  # moto may hide STOPPED ones


class FailingMigrationRunner(EcsMigrationRunner):
    """The documented seam: moto always reports exit code 0, so the double reports 1.

    The task still runs through moto (run_task + describe_tasks until STOPPED); only the
    container outcome is replaced.
    """

    def result_of(self, task: dict[str, Any]) -> MigrationResult:
        assert task["lastStatus"] == "STOPPED"
        return MigrationResult(task["taskArn"], 1, "container migrate: alembic failed")


def test_a_failing_migration_leaves_the_services_untouched(stack: Stack) -> None:
    before = stack.ecs.describe_services(cluster=stack.cluster, services=stack.services)
    lines: list[str] = []
    with pytest.raises(MigrationFailed, match=r"exit code 1\).*no service was updated"):
        deploy(
            stack.ecs,
            cluster=stack.cluster,
            services=stack.services,
            migration_task_family=stack.migration_family,
            subnets=[stack.subnet],
            security_groups=[stack.security_group],
            image_tag="v3",
            migration_runner=FailingMigrationRunner(
                stack.ecs, poll_interval_s=0.05, report=lines.append
            ),
            poll_interval_s=0.05,
            report=lines.append,
        )
    assert "migration: STOPPED" in lines
    after = stack.ecs.describe_services(cluster=stack.cluster, services=stack.services)
    assert [s["taskDefinition"] for s in after["services"]] == [
        s["taskDefinition"] for s in before["services"]
    ]
    assert set(_images(stack).values()) == {f"{stack.repository}:v1"}
    for name in stack.services:  # no new revision was registered for any service
        family = f"{stack.cluster}-{name}"
        latest = stack.ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
        assert latest["revision"] == 1


def test_the_real_runner_reads_a_non_zero_exit_code() -> None:
    runner = EcsMigrationRunner(ecs=None)
    task = {
        "taskArn": "arn:task",
        "lastStatus": "STOPPED",
        "stoppedReason": "Essential container in task exited",
        "containers": [{"name": "user-migrate", "exitCode": 1}],
    }
    result = runner.result_of(task)
    assert (result.exit_code, result.succeeded) == (1, False)
    assert "user-migrate" in result.reason
    missing = runner.result_of({**task, "containers": [{"name": "user-migrate"}]})
    assert missing.exit_code is None
    assert not missing.succeeded
    # with neither a container nor a task reason, the line still says what happened
    silent = runner.result_of({**task, "stoppedReason": ""})
    assert silent.reason == "container user-migrate: exited with 1"
    silent_missing = runner.result_of(
        {**task, "stoppedReason": "", "containers": [{"name": "user-migrate"}]}
    )
    assert silent_missing.reason == "container user-migrate: no exit code"


def test_the_cli_exits_1_when_the_rollout_does_not_stabilise(stack: Stack) -> None:
    # moto reports one running task: a service that wants 3 never completes its rollout
    current = stack.ecs.describe_services(cluster=stack.cluster, services=["user-grpc"])
    stack.ecs.create_service(
        cluster=stack.cluster,
        serviceName="gateway",
        taskDefinition=current["services"][0]["taskDefinition"],
        desiredCount=3,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": [stack.subnet],
                "securityGroups": [stack.security_group],
                "assignPublicIp": "DISABLED",
            }
        },
    )
    args = ["--cluster", stack.cluster, "--service", "user-grpc", "--service", "gateway"]
    result = CliRunner().invoke(
        main, [*args, "--image-tag", "v4", "--timeout", "0.3", "--poll-interval", "0.05"]
    )
    assert result.exit_code == 1
    assert "migration: skipped" in result.output
    assert "user-grpc: stable" in result.output
    assert "FAILED: not stable after 0.3 s: gateway" in result.output


class _FailedRolloutEcs:
    """describe_services as ECS answers once the circuit breaker failed a rollout."""

    def describe_services(self, cluster: str, services: list[str]) -> dict[str, Any]:
        events = [{"message": f"event {n}"} for n in range(8)]  # newest first, as ECS lists them
        deployment = {
            "status": "PRIMARY",
            "rolloutState": "FAILED",
            "rolloutStateReason": "circuit breaker: tasks failed to start",
        }
        service = {"serviceName": services[0], "taskDefinition": "td:2", "events": events}
        return {"services": [{**service, "deployments": [deployment]}]}


def test_a_failed_rollout_is_reported_with_its_newest_events() -> None:
    lines: list[str] = []
    deployer = Deployer(
        ecs=_FailedRolloutEcs(), cluster="c", report=lines.append, targets={"gateway": "td:2"}
    )
    with pytest.raises(RolloutFailed, match=r"gateway failed to roll out.*circuit breaker"):
        deployer.wait_stable(["gateway"], timeout_s=1)
    events = [line for line in lines if " event: " in line]
    assert events == [f"gateway event: event {n}" for n in range(EVENTS_SHOWN)]


def test_the_cli_exits_1_for_an_unknown_service(stack: Stack) -> None:
    result = CliRunner().invoke(
        main, ["--cluster", stack.cluster, "--service", "nope", "--image-tag", "v2"]
    )
    assert result.exit_code == 1
    assert "unknown service" in result.output


def test_replace_image() -> None:
    repo = "123.dkr.ecr.eu-west-1.amazonaws.com/alvin/user-service"
    assert replace_image(f"{repo}:v1", tag="v2") == f"{repo}:v2"
    assert replace_image(f"{repo}@sha256:{'a' * 64}", tag="v2") == f"{repo}:v2"
    assert replace_image("localhost:5000/img", tag="v2") == "localhost:5000/img:v2"
    assert replace_image(f"{repo}:v1", uri="other:1") == "other:1"


def test_read_only_fields_are_dropped() -> None:
    request = new_revision_request(
        {
            "taskDefinitionArn": "arn",
            "revision": 3,
            "status": "ACTIVE",
            "compatibilities": ["FARGATE"],
            "requiresAttributes": [],
            "registeredAt": "now",
            "registeredBy": "me",
            "family": "f",
            "containerDefinitions": [{"name": "c", "image": "r:v1"}],
        },
        [],
        lambda image: image.replace("v1", "v2"),
    )
    assert request == {"family": "f", "containerDefinitions": [{"name": "c", "image": "r:v2"}]}


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "alvin-ecs-deploy"
    result = subprocess.run([script, "--help"], capture_output=True, text=True, check=True)
    assert "--migration-task-family" in result.stdout
