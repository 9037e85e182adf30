"""The deploy: migration task, new task definition revisions, service updates, wait until stable.

Order matters: the migration runs with the NEW image and must stop with exit code 0 before any
service is touched. Then every service gets a new revision of its task definition family (the
latest revision, so changes Terraform registered are picked up) with only the image replaced,
``update_service`` points the service at it, and the deploy polls ``describe_services`` until each
rollout completed, failed (the circuit breaker rolled back) or the deadline passed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# Fields that describe_task_definition returns but register_task_definition refuses.
READ_ONLY_TASK_DEFINITION_FIELDS = frozenset(
    {
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
        "deregisteredAt",
    }
)

Report = Callable[[str], None]


class DeployError(Exception):
    """A deploy step failed; the message says which and why."""


class MigrationFailed(DeployError):
    """The migration task did not stop with exit code 0: no service was updated."""


class RolloutFailed(DeployError):
    """A service did not become stable (rollback by the circuit breaker, or the deadline)."""


@dataclass(frozen=True)
class MigrationResult:
    task_arn: str
    exit_code: int | None
    reason: str = ""

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


class MigrationRunner(Protocol):
    """Runs the migration task definition once and reports how it ended (the test seam)."""

    def run(
        self,
        *,
        cluster: str,
        task_definition_arn: str,
        subnets: Sequence[str],
        security_groups: Sequence[str],
        timeout_s: float,
    ) -> MigrationResult: ...


@dataclass
class EcsMigrationRunner:
    """``run_task`` on Fargate, then ``describe_tasks`` until the task is STOPPED."""

    ecs: Any
    poll_interval_s: float = 5.0
    report: Report = print
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def run(
        self,
        *,
        cluster: str,
        task_definition_arn: str,
        subnets: Sequence[str],
        security_groups: Sequence[str],
        timeout_s: float,
    ) -> MigrationResult:
        response = self.ecs.run_task(
            cluster=cluster,
            taskDefinition=task_definition_arn,
            launchType="FARGATE",
            count=1,
            startedBy="alvin-ecs-deploy",
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": list(subnets),
                    "securityGroups": list(security_groups),
                    "assignPublicIp": "DISABLED",
                }
            },
        )
        if response.get("failures") or not response.get("tasks"):
            raise MigrationFailed(f"the migration task could not start: {response.get('failures')}")
        task_arn = response["tasks"][0]["taskArn"]
        self.report(f"migration: started {task_arn}")
        deadline = self.clock() + timeout_s
        last_status = ""
        while True:
            tasks = self.ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"]
            task = tasks[0] if tasks else {}
            status = task.get("lastStatus", "UNKNOWN")
            if status != last_status:
                self.report(f"migration: {status}")
                last_status = status
            if status == "STOPPED":
                return self.result_of(task)
            if self.clock() >= deadline:
                self.ecs.stop_task(
                    cluster=cluster, task=task_arn, reason="alvin-ecs-deploy: deadline passed"
                )
                return MigrationResult(task_arn, None, f"not STOPPED after {timeout_s:g} s")
            self.sleep(self.poll_interval_s)

    def result_of(self, task: dict[str, Any]) -> MigrationResult:
        """The outcome of a STOPPED task: the first non-zero (or missing) container exit code."""
        reason = task.get("stoppedReason", "")
        containers = task.get("containers") or []
        if not containers:
            return MigrationResult(task["taskArn"], None, reason or "the task has no container")
        for container in containers:
            code = container.get("exitCode")
            if code != 0:
                fallback = "no exit code" if code is None else f"exited with {code}"
                detail = container.get("reason") or reason or fallback
                return MigrationResult(
                    task["taskArn"], code, f"container {container.get('name')}: {detail}"
                )
        return MigrationResult(task["taskArn"], 0, reason)


def replace_image(image: str, *, tag: str | None = None, uri: str | None = None) -> str:
    """The image with a new tag (same repository), or the given URI."""
    if uri:
        return uri
    if not tag:
        raise ValueError("give a tag or a URI")
    repository = re.sub(r"@sha256:[0-9a-f]+$", "", image)
    last = repository.rsplit("/", 1)[-1]
    if ":" in last:
        repository = repository[: repository.rfind(":")]
    return f"{repository}:{tag}"


def new_revision_request(
    task_definition: dict[str, Any], tags: Iterable[dict[str, str]], image: Callable[[str], str]
) -> dict[str, Any]:
    """register_task_definition arguments: a copy of the revision with new images only."""
    request = {
        key: value
        for key, value in task_definition.items()
        if key not in READ_ONLY_TASK_DEFINITION_FIELDS
    }
    request["containerDefinitions"] = [
        {**container, "image": image(container["image"])}
        for container in task_definition["containerDefinitions"]
    ]
    tag_list = list(tags)
    if tag_list:
        request["tags"] = tag_list
    return request


def register_new_revision(ecs: Any, family_or_arn: str, image: Callable[[str], str]) -> str:
    """Register the latest revision of the family again with new images; return its ARN."""
    family = family_or_arn
    if ":task-definition/" in family_or_arn:
        family = family_or_arn.split(":task-definition/", 1)[1].rsplit(":", 1)[0]
    described = ecs.describe_task_definition(taskDefinition=family, include=["TAGS"])
    request = new_revision_request(described["taskDefinition"], described.get("tags") or [], image)
    registered = ecs.register_task_definition(**request)["taskDefinition"]
    return str(registered["taskDefinitionArn"])


@dataclass
class ServiceState:
    name: str
    stable: bool
    failed: bool
    summary: str


def service_state(service: dict[str, Any], target_arn: str) -> ServiceState:
    """Stable: the service runs the target revision, one deployment left, rollout COMPLETED."""
    name = service["serviceName"]
    deployments = service.get("deployments") or []
    primary: dict[str, Any] = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
    rollout = primary.get("rolloutState")
    running, desired = service.get("runningCount", 0), service.get("desiredCount", 0)
    summary = (
        f"{name}: rollout {rollout or '-'}, running {running}/{desired}, "
        f"{len(deployments)} deployment(s)"
    )
    if service.get("taskDefinition") != target_arn:
        # the circuit breaker rolled back to the previous revision
        return ServiceState(name, False, True, f"{summary}; runs {service.get('taskDefinition')}")
    if rollout == "FAILED":
        reason = primary.get("rolloutStateReason", "")
        return ServiceState(name, False, True, f"{summary}: {reason}")
    stable = len(deployments) <= 1 and (rollout == "COMPLETED" if rollout else running == desired)
    return ServiceState(name, stable, False, summary)


EVENTS_SHOWN = 5  # the newest service events printed when a rollout fails


def recent_events(service: dict[str, Any], limit: int = EVENTS_SHOWN) -> list[str]:
    """The newest service events (ECS lists them newest first): what ECS says went wrong."""
    return [
        f"{service['serviceName']} event: {event.get('message', '')}"
        for event in (service.get("events") or [])[:limit]
    ]


@dataclass
class Deployer:
    ecs: Any
    cluster: str
    report: Report = print
    poll_interval_s: float = 10.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    targets: dict[str, str] = field(default_factory=dict)

    def wait_stable(self, services: Sequence[str], timeout_s: float) -> None:
        deadline = self.clock() + timeout_s
        pending = list(services)
        last: dict[str, str] = {}
        described_last: dict[str, dict[str, Any]] = {}
        while True:
            described = self.ecs.describe_services(cluster=self.cluster, services=pending)
            if described.get("failures"):
                raise RolloutFailed(f"describe_services: {described['failures']}")
            still = []
            for service in described["services"]:
                described_last[service["serviceName"]] = service
                state = service_state(service, self.targets[service["serviceName"]])
                if last.get(state.name) != state.summary:
                    self.report(state.summary)
                    last[state.name] = state.summary
                if state.failed:
                    for line in recent_events(service):
                        self.report(line)
                    raise RolloutFailed(f"{state.name} failed to roll out: {state.summary}")
                if state.stable:
                    self.report(f"{state.name}: stable")
                else:
                    still.append(state.name)
            pending = still
            if not pending:
                return
            if self.clock() >= deadline:
                for name in pending:
                    for line in recent_events(described_last.get(name, {"serviceName": name})):
                        self.report(line)
                raise RolloutFailed(
                    f"not stable after {timeout_s:g} s: {', '.join(pending)} "
                    "(the circuit breaker may still roll back; see the ECS console or "
                    "`aws ecs describe-services`)"
                )
            self.sleep(self.poll_interval_s)


def deploy(
    ecs: Any,
    *,
    cluster: str,
    services: Sequence[str],
    migration_task_family: str | None,
    subnets: Sequence[str] = (),
    security_groups: Sequence[str] = (),
    image_tag: str | None = None,
    image_uri: str | None = None,
    migration_runner: MigrationRunner | None = None,
    migration_timeout_s: float = 900.0,
    stable_timeout_s: float = 900.0,
    poll_interval_s: float = 10.0,
    report: Report = print,
) -> dict[str, str]:
    """Migrate, then roll every service to the new image; return service -> new revision ARN."""
    if not services:
        raise DeployError("no service given")
    if bool(image_tag) == bool(image_uri):
        raise DeployError("give exactly one of an image tag or an image URI")

    def image(old: str) -> str:
        return replace_image(old, tag=image_tag, uri=image_uri)

    described = ecs.describe_services(cluster=cluster, services=list(services))
    missing = [f.get("arn", "?") for f in described.get("failures", [])]
    if missing:
        raise DeployError(f"unknown service(s) in cluster {cluster}: {', '.join(missing)}")
    current = {s["serviceName"]: s["taskDefinition"] for s in described["services"]}

    if migration_task_family:
        if not subnets or not security_groups:
            raise DeployError("the migration needs --subnet and --security-group")
        migration_arn = register_new_revision(ecs, migration_task_family, image)
        report(f"migration: registered {migration_arn}")
        runner = migration_runner or EcsMigrationRunner(
            ecs, poll_interval_s=poll_interval_s, report=report
        )
        result = runner.run(
            cluster=cluster,
            task_definition_arn=migration_arn,
            subnets=subnets,
            security_groups=security_groups,
            timeout_s=migration_timeout_s,
        )
        if not result.succeeded:
            raise MigrationFailed(
                f"migration {result.task_arn} failed (exit code {result.exit_code}): "
                f"{result.reason or 'no reason given'}; no service was updated"
            )
        report("migration: exit code 0")
    else:
        report("migration: skipped (no --migration-task-family)")

    targets: dict[str, str] = {}
    for name in services:
        targets[name] = register_new_revision(ecs, current[name], image)
        report(f"{name}: registered {targets[name]}")
    for name in services:
        ecs.update_service(cluster=cluster, service=name, taskDefinition=targets[name])
        report(f"{name}: updated")

    deployer = Deployer(
        ecs, cluster, report=report, poll_interval_s=poll_interval_s, targets=targets
    )
    deployer.wait_stable(services, stable_timeout_s)
    report(f"deployed {len(services)} service(s)")
    return targets
