# The kit on ECS Fargate: one ECS service per process type, per microservice.
# See README.md for the picture and the deploy steps.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name       = "${var.project}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # one image (one ECR repository) per microservice; several process types per image. In the
  # one-process topology the gateway service runs the one-process image instead.
  one_process = var.topology == "one-process"
  repositories = merge(
    {
      user-service    = "${local.name}/user-service"
      gateway-graphql = "${local.name}/gateway-graphql"
    },
    local.one_process ? { one-process = "${local.name}/one-process" } : {},
  )
  user_service_image = "${aws_ecr_repository.this["user-service"].repository_url}:${var.image_tag}"
  gateway_image      = "${aws_ecr_repository.this["gateway-graphql"].repository_url}:${var.image_tag}"
  one_process_image  = local.one_process ? "${aws_ecr_repository.this["one-process"].repository_url}:${var.image_tag}" : null

  grpc_port    = 50051
  gateway_port = 8000
  # Prometheus /metrics of every process (each task has its own IP; open it to your scraper)
  metrics_port = 9100

  # Shutdown: the gRPC server reports NOT_SERVING, keeps serving for the drain delay (Service
  # Connect's proxy notices), then in-flight calls get the grace period. stopTimeout adds 5 s.
  grpc_grace_s       = 10
  grpc_drain_s       = 5
  gateway_graceful_s = 10

  user_service_environment = {
    APP_ENV                          = var.environment
    USER_SERVICE_LOG_FORMAT          = "json"
    USER_SERVICE_GRPC_HOST           = "0.0.0.0"
    USER_SERVICE_GRPC_PORT           = tostring(local.grpc_port)
    USER_SERVICE_GRPC_GRACE_PERIOD_S = tostring(local.grpc_grace_s)
    USER_SERVICE_GRPC_DRAIN_DELAY_S  = tostring(local.grpc_drain_s)
    USER_SERVICE_SMTP_HOST           = var.smtp_host
    USER_SERVICE_SMTP_PORT           = tostring(var.smtp_port)
    USER_SERVICE_SMTP_STARTTLS       = tostring(var.smtp_starttls)
    USER_SERVICE_EMAIL_FROM          = var.email_from
    USER_SERVICE_PUBLIC_URL          = var.public_url
    USER_SERVICE_METRICS_PORT        = tostring(local.metrics_port)
    USER_SERVICE_OTEL_EXPORTER       = var.otel_exporter
  }

  # name => SSM parameter / Secrets Manager ARN; ECS injects them, they are never plain env. Each
  # process type gets only what it uses, through an execution role of its own (see the module).
  # The long-running processes connect as the application role (no DDL). Only the gRPC server
  # checks the service token (it refuses to start without one of 32+ characters): only it gets it.
  user_service_runtime_secrets = {
    USER_SERVICE_DATABASE_URL = aws_secretsmanager_secret.app_database_url.arn
    USER_SERVICE_REDIS_URL    = aws_secretsmanager_secret.redis_url.arn
  }
  user_grpc_secrets = {
    USER_SERVICE_DATABASE_URL       = aws_secretsmanager_secret.app_database_url.arn
    USER_SERVICE_REDIS_URL          = aws_secretsmanager_secret.redis_url.arn
    USER_SERVICE_GRPC_SERVICE_TOKEN = var.service_token_secret_arn
  }
  user_scheduler_secrets = local.user_service_runtime_secrets
  # only the worker sends email: only it holds the SMTP credentials
  user_worker_secrets = merge(
    local.user_service_runtime_secrets,
    var.smtp_username_secret_arn == null ? {} : { USER_SERVICE_SMTP_USERNAME = var.smtp_username_secret_arn },
    var.smtp_password_secret_arn == null ? {} : { USER_SERVICE_SMTP_PASSWORD = var.smtp_password_secret_arn },
  )
  # the migration connects as the owner of the schema; it also gets the application role's URL
  # so that `db upgrade` can create or update that role and grant it the tables (see README)
  user_migrate_secrets = {
    USER_SERVICE_DATABASE_URL     = var.database_url_secret_arn
    USER_SERVICE_APP_DATABASE_URL = aws_secretsmanager_secret.app_database_url.arn
    USER_SERVICE_REDIS_URL        = aws_secretsmanager_secret.redis_url.arn
  }

  gateway_environment = {
    APP_ENV                     = var.environment
    GATEWAY_LOG_FORMAT          = "json"
    GATEWAY_HOST                = "0.0.0.0"
    GATEWAY_PORT                = tostring(local.gateway_port)
    GATEWAY_PROXY_HOPS          = "1"
    GATEWAY_GRACEFUL_TIMEOUT_S  = tostring(local.gateway_graceful_s)
    GATEWAY_USER_SERVICE_TARGET = "user-grpc:${local.grpc_port}"
    GATEWAY_CORS_ORIGINS        = var.gateway_cors_origins
    GATEWAY_METRICS_PORT        = tostring(local.metrics_port)
    GATEWAY_OTEL_EXPORTER       = var.otel_exporter
  }

  gateway_secrets = {
    GATEWAY_USER_SERVICE_TOKEN = var.service_token_secret_arn
  }

  # The gateway service in this topology: the gateway's process, or one-process (the gateway's
  # settings and the gRPC server's, the user-service called in process).
  app = local.one_process ? {
    image              = local.one_process_image
    entry_point        = ["one-process"]
    environment        = tomap(merge(local.user_service_environment, local.gateway_environment, { GATEWAY_USER_SERVICE_TARGET = "inprocess:user-service" }))
    secrets            = tomap(merge(local.user_grpc_secrets, local.gateway_secrets))
    security_group_ids = [aws_security_group.gateway.id, aws_security_group.user_service.id]
    } : {
    image              = local.gateway_image
    entry_point        = ["gateway"]
    environment        = tomap(local.gateway_environment)
    secrets            = tomap(local.gateway_secrets)
    security_group_ids = [aws_security_group.gateway.id]
  }

  # Service Connect TLS of every published service: the proxies encrypt gateway -> user-grpc
  # (service token and session tokens) with certificates of the Private CA
  service_connect_tls = var.service_connect_tls_ca_arn == null ? null : {
    ca_arn      = var.service_connect_tls_ca_arn
    role_arn    = aws_iam_role.service_connect_tls[0].arn
    kms_key_arn = aws_kms_key.main.arn
  }
}

# --- encryption key (logs, ECR, database, Redis, Performance Insights, secrets) ------------------

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:key policy: resource "*" means this key only
  #checkov:skip=CKV_AWS_356:key policy: resource "*" means this key only
  #checkov:skip=CKV_AWS_109:key policy: the account root administers its own key (AWS default key policy)
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsUseTheKey"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/ecs/${local.name}-*"]
    }
  }
}

resource "aws_kms_key" "main" {
  description             = "${local.name}: logs, ECR, RDS, ElastiCache, secrets, Service Connect TLS keys"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}

# --- cluster, registries, Service Connect namespace ----------------------------------------------

resource "aws_ecs_cluster" "main" {
  #checkov:skip=CKV_AWS_224:ECS Exec is disabled on every service (enable_execute_command = false); no exec sessions to log
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  configuration {
    execute_command_configuration {
      kms_key_id = aws_kms_key.main.arn
      logging    = "DEFAULT"
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "main" {
  cluster_name       = aws_ecs_cluster.main.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_service_discovery_http_namespace" "main" {
  name        = local.name
  description = "Service Connect namespace of ${local.name}"

  lifecycle {
    # the service token and session tokens cross the VPC between the Service Connect proxies
    precondition {
      condition     = var.environment != "production" || var.service_connect_tls_ca_arn != null
      error_message = "production needs service_connect_tls_ca_arn: Service Connect traffic must be encrypted (see README, Encryption inside the VPC)."
    }
  }
}

resource "aws_ecr_repository" "this" {
  for_each = local.repositories

  name                 = each.value
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the last 50 images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 50
      }
      action = { type = "expire" }
    }]
  })
}
