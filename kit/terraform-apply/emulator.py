"""moto in server mode, with the few gaps that stop the kit's Terraform stack filled in.

Run as ``python emulator.py -H 127.0.0.1 -p PORT`` (the arguments of ``moto_server``). Each patch
below stands in for behaviour that AWS has and moto 5.x lacks; none changes what Terraform sends.

- IAM: AWS-managed policies (``arn:aws:iam::aws:policy/...``) exist only when moto loads them
  (``MOTO_IAM_LOAD_MANAGED_POLICIES``), set here before moto is imported.
- ElastiCache: a replication group lists member clusters (``<group>-001`` ...) but moto creates
  no cache clusters for them, so the provider's read of a member fails (CacheClusterNotFound).
  The members are created with the group, with its transit and at-rest encryption and AUTH
  token (the provider reads those from the first member); deleting the group removes them and
  the group (moto leaves it "deleting" forever). ``DeleteCacheSubnetGroup`` is not implemented (the provider
  retries the 500 until its timeout): it is added.
- Application Auto Scaling: moto has no ``ListTagsForResource`` / ``TagResource`` /
  ``UntagResource``; the provider retries the 500 until its timeout (targets "never finish
  creating"). Tags are kept per target ARN, from ``RegisterScalableTarget`` and ``TagResource``.
- ECS: moto runs no container and reports exit code 0 for every task. A container whose image
  tag ends in ``-exitN`` (``v2-exit1``) reports exit code N instead, so a failing migration can be
  rolled through the real deploy command. A service updated to such an image fails its rollout
  as the deployment circuit breaker would (rollout FAILED, no task running, an event).
- ECS ``RunTask`` adds up container-level memory and fails (500) when a container has none, which
  Fargate allows (the task-level ``memory`` is enough, as in the kit's module). The task-level
  figures are used then.
- ECS services report ``MOTO_ECS_SERVICE_RUNNING`` running tasks (1 unless set) when created.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
os.environ.setdefault("MOTO_ECS_SERVICE_RUNNING", "1")

from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.core.responses import EmptyResult
from moto.ecs.models import Container, EC2ContainerServiceBackend
from moto.elasticache.exceptions import CacheSubnetGroupNotFound
from moto.elasticache.models import ElastiCacheBackend
from moto.elasticache.responses import ElastiCacheResponse
from moto.server import main

EXIT_TAG = re.compile(r"-exit(\d{1,3})$")


def _patch_elasticache() -> None:
    create_group = ElastiCacheBackend.create_replication_group
    delete_group = ElastiCacheBackend.delete_replication_group
    cluster_parameters = ElastiCacheBackend.create_cache_cluster.__code__.co_varnames[
        1 : ElastiCacheBackend.create_cache_cluster.__code__.co_argcount
    ]

    def create_replication_group(self: ElastiCacheBackend, **kwargs: Any) -> Any:
        group = create_group(self, **kwargs)
        for member in group.member_clusters:
            values: dict[str, Any] = dict.fromkeys(cluster_parameters)
            values.update(
                cache_cluster_id=member,
                replication_group_id=group.replication_group_id,
                cache_node_type=kwargs.get("cache_node_type"),
                engine=kwargs.get("engine") or "redis",
                engine_version=kwargs.get("engine_version"),
                cache_subnet_group_name=kwargs.get("cache_subnet_group_name"),
                security_group_ids=kwargs.get("security_group_ids") or [],
                transit_encryption_enabled=kwargs.get("transit_encryption_enabled"),
                auth_token=kwargs.get("auth_token"),
                port=kwargs.get("port"),
                auto_minor_version_upgrade=kwargs.get("auto_minor_version_upgrade"),
                snapshot_retention_limit=kwargs.get("snapshot_retention_limit"),
                tags=[],
                log_delivery_configurations=[],
            )
            cluster = self.create_cache_cluster(**values)
            # the provider reads the group's encryption and AUTH settings from its first member
            cluster.at_rest_encryption_enabled = bool(kwargs.get("at_rest_encryption_enabled"))
        return group

    def delete_replication_group(
        self: ElastiCacheBackend, replication_group_id: str, retain_primary_cluster: bool | None
    ) -> Any:
        members = list(self.replication_groups[replication_group_id].member_clusters)
        group = delete_group(self, replication_group_id, retain_primary_cluster)
        for member in members:
            self.cache_clusters.pop(member, None)
        del self.replication_groups[replication_group_id]
        return group

    def delete_cache_subnet_group(self: ElastiCacheResponse) -> EmptyResult:
        name = self._get_param("CacheSubnetGroupName")
        if self.elasticache_backend.cache_subnet_groups.pop(name, None) is None:
            raise CacheSubnetGroupNotFound(name)
        return EmptyResult()

    ElastiCacheResponse.delete_cache_subnet_group = delete_cache_subnet_group  # type: ignore[attr-defined]
    ElastiCacheBackend.create_replication_group = create_replication_group  # type: ignore[method-assign]
    ElastiCacheBackend.delete_replication_group = delete_replication_group  # type: ignore[method-assign]


TARGET_TAGS: dict[str, dict[str, str]] = {}


def _patch_application_autoscaling() -> None:
    register = ApplicationAutoScalingResponse.register_scalable_target
    deregister = ApplicationAutoScalingResponse.deregister_scalable_target

    def register_scalable_target(self: ApplicationAutoScalingResponse) -> str:
        body = register(self)
        arn = json.loads(body)["ScalableTargetARN"]
        TARGET_TAGS.setdefault(arn, {}).update(self._get_param("Tags") or {})
        return body

    def deregister_scalable_target(self: ApplicationAutoScalingResponse) -> str:
        for target in self.applicationautoscaling_backend.describe_scalable_targets(
            self._get_param("ServiceNamespace"),
            [self._get_param("ResourceId")],
            self._get_param("ScalableDimension"),
        ):
            TARGET_TAGS.pop(target.arn, None)
        return deregister(self)

    def tag_resource(self: ApplicationAutoScalingResponse) -> str:
        TARGET_TAGS.setdefault(self._get_param("ResourceARN"), {}).update(self._get_param("Tags"))
        return "{}"

    def untag_resource(self: ApplicationAutoScalingResponse) -> str:
        tags = TARGET_TAGS.get(self._get_param("ResourceARN"), {})
        for key in self._get_param("TagKeys") or []:
            tags.pop(key, None)
        return "{}"

    def list_tags_for_resource(self: ApplicationAutoScalingResponse) -> str:
        return json.dumps({"Tags": TARGET_TAGS.get(self._get_param("ResourceARN"), {})})

    response = ApplicationAutoScalingResponse
    response.register_scalable_target = register_scalable_target  # type: ignore[method-assign]
    response.deregister_scalable_target = deregister_scalable_target  # type: ignore[method-assign]
    response.tag_resource = tag_resource  # type: ignore[attr-defined]
    response.untag_resource = untag_resource  # type: ignore[attr-defined]
    response.list_tags_for_resource = list_tags_for_resource  # type: ignore[attr-defined]


def _patch_ecs_exit_codes() -> None:
    init = Container.__init__

    def __init__(self: Container, task_def: Any) -> None:
        init(self, task_def)
        self.exitCode = _exit_code(self.image)

    Container.__init__ = __init__  # type: ignore[method-assign]


def _patch_ecs_task_memory() -> None:
    calculate = EC2ContainerServiceBackend._calculate_task_resource_requirements

    def requirements(task_definition: Any) -> dict[str, Any]:
        if all(
            container.get("memory") or container.get("memoryReservation")
            for container in task_definition.container_definitions
        ):
            return calculate(task_definition)  # type: ignore[no-any-return]
        return {
            "CPU": int(task_definition.cpu or 0),
            "MEMORY": int(task_definition.memory or 0),
            "PORTS": [],
            "PORTS_UDP": [],
        }

    EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(requirements)  # type: ignore[method-assign,assignment]


def _exit_code(image: object) -> int:
    match = EXIT_TAG.search(str(image or ""))
    return int(match.group(1)) if match else 0


def _patch_ecs_failed_rollouts() -> None:
    update = EC2ContainerServiceBackend.update_service

    def update_service(self: EC2ContainerServiceBackend, service_properties: Any) -> Any:
        service = update(self, service_properties)
        definition = self.describe_task_definition(service.task_definition)
        if any(_exit_code(c.get("image")) for c in definition.container_definitions):
            reason = "ECS deployment circuit breaker: tasks failed to start."
            service.running_count = 0
            for deployment in service.deployments[:1]:
                deployment.update(rolloutState="FAILED", rolloutStateReason=reason, runningCount=0)
            # worded as ECS words it, so the deploy command's event report is seen end to end
            message = f"(service {service.name}) deployment failed: tasks failed to start."
            service.events.insert(0, {"id": "emulated", "createdAt": 0, "message": message})
        return service

    EC2ContainerServiceBackend.update_service = update_service  # type: ignore[method-assign]


def patch() -> None:
    """Fill in the gaps listed in the module docstring."""
    _patch_elasticache()
    _patch_application_autoscaling()
    _patch_ecs_exit_codes()
    _patch_ecs_task_memory()
    _patch_ecs_failed_rollouts()


if __name__ == "__main__":
    patch()
    main(sys.argv[1:])
