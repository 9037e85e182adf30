"""Deploy a new image to the kit's ECS services (see README.md)."""

from alvin_ecs_deploy.deploy import (
    DeployError,
    EcsMigrationRunner,
    MigrationFailed,
    MigrationResult,
    MigrationRunner,
    RolloutFailed,
    deploy,
)

__version__ = "0.1.0"

__all__ = [
    "DeployError",
    "EcsMigrationRunner",
    "MigrationFailed",
    "MigrationResult",
    "MigrationRunner",
    "RolloutFailed",
    "__version__",
    "deploy",
]
