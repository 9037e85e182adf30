# One task role per task family (the applications call no AWS API: no policy) and, with
# Service Connect TLS, the ECS infrastructure role that has the Private CA issue certificates.
# Each family's execution role (image, logs, exactly its own secrets) is made by
# modules/task-execution-role: inside modules/ecs-service for the services, below for the migration.

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${var.region}:${local.account_id}:*"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "task" {
  for_each = toset(["user-grpc", "user-worker", "user-scheduler", "user-migrate", "gateway"])

  name               = "${local.name}-${each.key}-task"
  description        = "Task role of ${each.key}: no AWS permissions (the application calls no AWS API)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# --- Service Connect TLS: ECS issues the proxies' certificates and keeps their keys ---------------

data "aws_iam_policy_document" "ecs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "service_connect_tls" {
  count = var.service_connect_tls_ca_arn == null ? 0 : 1

  name               = "${local.name}-service-connect-tls"
  description        = "ECS infrastructure role: issue Service Connect TLS certificates from the Private CA"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
}

resource "aws_iam_role_policy_attachment" "service_connect_tls" {
  count = var.service_connect_tls_ca_arn == null ? 0 : 1

  role       = aws_iam_role.service_connect_tls[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSInfrastructureRolePolicyForServiceConnectTransportLayerSecurity"
}

data "aws_iam_policy_document" "service_connect_tls_key" {
  statement {
    sid       = "ProtectTheIssuedKeys"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyPair", "kms:DescribeKey"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "service_connect_tls_key" {
  count = var.service_connect_tls_ca_arn == null ? 0 : 1

  name   = "kms"
  role   = aws_iam_role.service_connect_tls[0].id
  policy = data.aws_iam_policy_document.service_connect_tls_key.json
}
