"""``alvin-ecs-deploy``: the command line."""

from __future__ import annotations

import sys

import boto3
import click

from alvin_ecs_deploy.deploy import DeployError, deploy


def _report(message: str) -> None:
    click.echo(message)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--cluster", required=True, help="ECS cluster name (terraform output cluster_name).")
@click.option(
    "--service",
    "services",
    multiple=True,
    required=True,
    help="Service to roll (repeat: --service user-grpc --service gateway ...).",
)
@click.option(
    "--migration-task-family",
    help="Task definition family of the migration, run first (must exit 0).",
)
@click.option("--subnet", "subnets", multiple=True, help="Subnet of the migration task (repeat).")
@click.option(
    "--security-group",
    "security_groups",
    multiple=True,
    help="Security group of the migration task (repeat).",
)
@click.option("--image-tag", help="New tag; each container keeps its repository.")
@click.option("--image", "image_uri", help="New image URI for every container (one-image sets).")
@click.option("--region", envvar="AWS_REGION", help="AWS region (default: the SDK's).")
@click.option(
    "--endpoint-url", envvar="AWS_ENDPOINT_URL", help="ECS endpoint (tests, local emulators)."
)
@click.option("--migration-timeout", default=900.0, show_default=True, help="Seconds.")
@click.option("--timeout", "stable_timeout", default=900.0, show_default=True, help="Seconds.")
@click.option("--poll-interval", default=10.0, show_default=True, help="Seconds.")
def main(
    *,
    cluster: str,
    services: tuple[str, ...],
    migration_task_family: str | None,
    subnets: tuple[str, ...],
    security_groups: tuple[str, ...],
    image_tag: str | None,
    image_uri: str | None,
    region: str | None,
    endpoint_url: str | None,
    migration_timeout: float,
    stable_timeout: float,
    poll_interval: float,
) -> None:
    """Run the migration, register new task definition revisions and roll the services.

    Exits 1 with one line on stderr when the migration fails (no service is touched) or a
    service does not become stable before --timeout.
    """
    ecs = boto3.client("ecs", region_name=region, endpoint_url=endpoint_url)
    try:
        deploy(
            ecs,
            cluster=cluster,
            services=services,
            migration_task_family=migration_task_family,
            subnets=subnets,
            security_groups=security_groups,
            image_tag=image_tag,
            image_uri=image_uri,
            migration_timeout_s=migration_timeout,
            stable_timeout_s=stable_timeout,
            poll_interval_s=poll_interval,
            report=_report,
        )
    except DeployError as error:
        click.echo(f"alvin-ecs-deploy: FAILED: {error}", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
