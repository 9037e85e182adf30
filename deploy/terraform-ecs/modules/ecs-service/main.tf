# One ECS service on Fargate: its own execution role (exactly its secrets), log group, task
# definition, service (optionally published through Service Connect, with TLS), optional autoscaling.
#
# Image drift: Terraform registers the first task definition revision. After that the deploy
# command (deploy/ecs-deploy, `alvin-ecs-deploy`) registers new revisions with new images and
# points the service at them; `ignore_changes = [task_definition]` keeps Terraform from rolling
# the service back to its own revision. A change made here (env, cpu ...) registers a new
# revision that the NEXT deploy copies (the deploy command copies the latest revision of the
# family, not the one the service runs) - see the README.

locals {
  full_name = "${var.name_prefix}-${var.name}"

  # Service Connect needs a named port mapping; gRPC services declare appProtocol grpc.
  port_mappings = var.container_port == null ? [] : [
    merge(
      {
        name          = var.name
        containerPort = var.container_port
        protocol      = "tcp"
      },
      var.service_connect == null ? {} : { appProtocol = var.service_connect.app_protocol },
    )
  ]

  container_definition = {
    name       = var.name
    image      = var.image
    entryPoint = var.entry_point
    command    = var.command
    essential  = true

    portMappings = local.port_mappings

    environment = [for k in sort(keys(var.environment)) : { name = k, value = var.environment[k] }]
    # secrets come from SSM Parameter Store / Secrets Manager, injected by the agent at start-up
    secrets = [for k in sort(keys(var.secrets)) : { name = k, valueFrom = var.secrets[k] }]

    healthCheck = {
      command     = var.health_check.command
      interval    = var.health_check.interval
      timeout     = var.health_check.timeout
      retries     = var.health_check.retries
      startPeriod = var.health_check.start_period
    }

    # SIGTERM first, SIGKILL after stopTimeout: the app's grace period plus a margin
    stopTimeout = var.stop_timeout

    readonlyRootFilesystem = true
    mountPoints = [
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    ]

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = var.region
        awslogs-stream-prefix = var.name
      }
    }
  }
}

# the service's own execution role: it may read exactly var.secrets
module "execution_role" {
  source = "../task-execution-role"

  name         = local.full_name
  secrets      = var.secrets
  kms_key_arns = var.secrets_kms_key_arns
  tags         = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/ecs/${local.full_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_ecs_task_definition" "this" {
  family                   = local.full_name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = module.execution_role.arn
  task_role_arn            = var.task_role_arn
  container_definitions    = jsonencode([local.container_definition])

  # writable scratch space; the root filesystem is read-only
  volume {
    name = "tmp"
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  tags = var.tags
}

resource "aws_ecs_service" "this" {
  name             = var.name
  cluster          = var.cluster_arn
  task_definition  = aws_ecs_task_definition.this.arn
  desired_count    = var.desired_count
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  deployment_minimum_healthy_percent = var.deployment_minimum_healthy_percent
  deployment_maximum_percent         = var.deployment_maximum_percent
  health_check_grace_period_seconds  = var.load_balancer == null ? null : var.health_check_grace_period_seconds
  enable_execute_command             = false
  propagate_tags                     = "SERVICE"
  wait_for_steady_state              = false

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = var.load_balancer == null ? [] : [var.load_balancer]
    content {
      target_group_arn = load_balancer.value.target_group_arn
      container_name   = var.name
      container_port   = load_balancer.value.container_port
    }
  }

  dynamic "service_connect_configuration" {
    for_each = var.service_connect == null ? [] : [var.service_connect]
    content {
      enabled   = true
      namespace = service_connect_configuration.value.namespace_arn

      dynamic "service" {
        for_each = service_connect_configuration.value.port_name == null ? [] : [service_connect_configuration.value]
        content {
          port_name      = service.value.port_name
          discovery_name = coalesce(service.value.discovery_name, var.name)

          client_alias {
            port     = coalesce(service.value.client_port, var.container_port)
            dns_name = coalesce(service.value.discovery_name, var.name)
          }

          dynamic "tls" {
            for_each = service.value.tls == null ? [] : [service.value.tls]
            content {
              kms_key  = tls.value.kms_key_arn
              role_arn = tls.value.role_arn
              issuer_cert_authority {
                aws_pca_authority_arn = tls.value.ca_arn
              }
            }
          }
        }
      }

      log_configuration {
        log_driver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.this.name
          awslogs-region        = var.region
          awslogs-stream-prefix = "${var.name}-service-connect"
        }
      }
    }
  }

  lifecycle {
    # The deploy command registers new revisions (new image) and updates the service; Terraform
    # must not roll it back. Autoscaling owns desired_count once it is on.
    ignore_changes = [task_definition, desired_count]
  }

  tags = var.tags
}

resource "aws_appautoscaling_target" "this" {
  count = var.autoscaling == null ? 0 : 1

  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.this.name}"
  min_capacity       = var.autoscaling.min_capacity
  max_capacity       = var.autoscaling.max_capacity
}

resource "aws_appautoscaling_policy" "cpu" {
  count = var.autoscaling == null ? 0 : 1

  name               = "${local.full_name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[0].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.autoscaling.cpu_target_percent
    scale_in_cooldown  = 120
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
