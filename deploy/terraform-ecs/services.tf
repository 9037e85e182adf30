# The services: one ECS service per process type. Images are rolled by alvin-ecs-deploy.

# Only in the split topology: in one-process the gateway service answers the user-service's API.
module "user_grpc" {
  source = "./modules/ecs-service"
  count  = local.one_process ? 0 : 1

  name                 = "user-grpc"
  name_prefix          = local.name
  region               = var.region
  cluster_arn          = aws_ecs_cluster.main.arn
  cluster_name         = aws_ecs_cluster.main.name
  image                = local.user_service_image
  entry_point          = ["user-service"]
  command              = ["grpcserver"]
  cpu                  = 512
  memory               = 1024
  environment          = local.user_service_environment
  secrets              = local.user_grpc_secrets
  secrets_kms_key_arns = [aws_kms_key.main.arn]
  container_port       = local.grpc_port
  task_role_arn        = aws_iam_role.task["user-grpc"].arn
  subnet_ids           = var.private_subnet_ids
  security_group_ids   = [aws_security_group.user_service.id, aws_security_group.user_grpc.id]
  desired_count        = var.grpc_desired_count
  log_retention_days   = var.log_retention_days
  log_kms_key_arn      = aws_kms_key.main.arn

  health_check = {
    command      = ["CMD", "alvin-grpc-health", "127.0.0.1:${local.grpc_port}", "alvin.user.v1.UserService", "--timeout", "3"]
    interval     = 10
    timeout      = 5
    retries      = 3
    start_period = 20
  }
  # grace period + drain delay + 5 s
  stop_timeout = local.grpc_grace_s + local.grpc_drain_s + 5

  # published in the namespace as user-grpc:50051 (no public load balancer); with
  # service_connect_tls_ca_arn the proxies speak TLS with certificates of the Private CA
  service_connect = {
    namespace_arn  = aws_service_discovery_http_namespace.main.arn
    port_name      = "user-grpc"
    app_protocol   = "grpc"
    discovery_name = "user-grpc"
    client_port    = local.grpc_port
    tls            = local.service_connect_tls
  }

  autoscaling = {
    min_capacity = var.grpc_desired_count
    max_capacity = var.grpc_max_count
  }
}

moved {
  from = module.user_grpc
  to   = module.user_grpc[0]
}

module "user_worker" {
  source = "./modules/ecs-service"

  name                 = "user-worker"
  name_prefix          = local.name
  region               = var.region
  cluster_arn          = aws_ecs_cluster.main.arn
  cluster_name         = aws_ecs_cluster.main.name
  image                = local.user_service_image
  entry_point          = ["user-service"]
  command              = ["worker", "--pool", "threads", "--concurrency", "4"]
  cpu                  = 512
  memory               = 1024
  environment          = local.user_service_environment
  secrets              = local.user_worker_secrets
  secrets_kms_key_arns = [aws_kms_key.main.arn]
  task_role_arn        = aws_iam_role.task["user-worker"].arn
  subnet_ids           = var.private_subnet_ids
  security_group_ids   = [aws_security_group.user_service.id, aws_security_group.user_worker.id]
  desired_count        = var.worker_desired_count
  log_retention_days   = var.log_retention_days
  log_kms_key_arn      = aws_kms_key.main.arn

  health_check = {
    # the worker answers a Celery ping through the broker
    command      = ["CMD-SHELL", "celery -b \"$USER_SERVICE_REDIS_URL\" inspect ping -d \"celery@$HOSTNAME\" --timeout 5 > /dev/null"]
    interval     = 30
    timeout      = 10
    retries      = 3
    start_period = 30
  }
  # Celery's warm shutdown waits for running tasks (an SMTP send times out after 10 s)
  stop_timeout = 30

  autoscaling = {
    min_capacity = var.worker_desired_count
    max_capacity = var.worker_max_count
  }
}

module "user_scheduler" {
  source = "./modules/ecs-service"

  name                 = "user-scheduler"
  name_prefix          = local.name
  region               = var.region
  cluster_arn          = aws_ecs_cluster.main.arn
  cluster_name         = aws_ecs_cluster.main.name
  image                = local.user_service_image
  entry_point          = ["user-service"]
  command              = ["scheduler"]
  cpu                  = 256
  memory               = 512
  environment          = local.user_service_environment
  secrets              = local.user_scheduler_secrets
  secrets_kms_key_arns = [aws_kms_key.main.arn]
  task_role_arn        = aws_iam_role.task["user-scheduler"].arn
  subnet_ids           = var.private_subnet_ids
  security_group_ids   = [aws_security_group.user_service.id]
  log_retention_days   = var.log_retention_days
  log_kms_key_arn      = aws_kms_key.main.arn

  # exactly one scheduler: the old task stops before the new one starts, no autoscaling
  desired_count                      = 1
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  autoscaling                        = null

  health_check = {
    # the scheduler's locks and jobs live in PostgreSQL: healthy while it can reach it
    command      = ["CMD", "python", "-c", "import os; from alvin_python_lib.db.engine import create_engine; create_engine(os.environ['USER_SERVICE_DATABASE_URL'], connect_timeout=3).connect().close()"]
    interval     = 30
    timeout      = 10
    retries      = 3
    start_period = 20
  }
  # shutdown waits for the running job (statement timeout 10 s) and releases the locks
  stop_timeout = 20
}

module "gateway" {
  source = "./modules/ecs-service"

  name                 = "gateway"
  name_prefix          = local.name
  region               = var.region
  cluster_arn          = aws_ecs_cluster.main.arn
  cluster_name         = aws_ecs_cluster.main.name
  image                = local.app.image
  entry_point          = local.app.entry_point
  command              = ["serve"]
  cpu                  = 512
  memory               = 1024
  environment          = local.app.environment
  secrets              = local.app.secrets
  secrets_kms_key_arns = [aws_kms_key.main.arn]
  container_port       = local.gateway_port
  task_role_arn        = aws_iam_role.task["gateway"].arn
  subnet_ids           = var.private_subnet_ids
  security_group_ids   = local.app.security_group_ids
  desired_count        = var.gateway_desired_count
  log_retention_days   = var.log_retention_days
  log_kms_key_arn      = aws_kms_key.main.arn

  health_check = {
    command      = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${local.gateway_port}/healthz', timeout=3)"]
    interval     = 10
    timeout      = 5
    retries      = 3
    start_period = 20
  }
  # GATEWAY_GRACEFUL_TIMEOUT_S + 5 s
  stop_timeout = local.gateway_graceful_s + 5

  load_balancer = {
    target_group_arn = aws_lb_target_group.gateway.arn
    container_port   = local.gateway_port
  }

  # a Service Connect client: resolves user-grpc:50051 in the namespace
  service_connect = {
    namespace_arn = aws_service_discovery_http_namespace.main.arn
  }

  autoscaling = {
    min_capacity = var.gateway_desired_count
    max_capacity = var.gateway_max_count
  }

  depends_on = [aws_lb_listener.https]
}

# --- the migration: a task definition without a service ------------------------------------------
# alvin-ecs-deploy runs it once per deploy (`user-service db upgrade`) and rolls the services only
# when it stopped with exit code 0. It is the only task that connects as the schema's owner.

module "migrate_execution_role" {
  source = "./modules/task-execution-role"

  name         = "${local.name}-user-migrate"
  secrets      = local.user_migrate_secrets
  kms_key_arns = [aws_kms_key.main.arn]
}

resource "aws_cloudwatch_log_group" "migrate" {
  name              = "/ecs/${local.name}-user-migrate"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

locals {
  migrate_container = {
    name                   = "user-migrate"
    image                  = local.user_service_image
    entryPoint             = ["user-service"]
    command                = ["db", "upgrade"]
    essential              = true
    readonlyRootFilesystem = true
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    environment            = [for k in sort(keys(local.user_service_environment)) : { name = k, value = local.user_service_environment[k] }]
    secrets                = [for k in sort(keys(local.user_migrate_secrets)) : { name = k, valueFrom = local.user_migrate_secrets[k] }]
    stopTimeout            = 30
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.migrate.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "user-migrate"
      }
    }
  }
}

resource "aws_ecs_task_definition" "migrate" {
  family                   = "${local.name}-user-migrate"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = module.migrate_execution_role.arn
  task_role_arn            = aws_iam_role.task["user-migrate"].arn
  container_definitions    = jsonencode([local.migrate_container])

  volume {
    name = "tmp"
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
}
