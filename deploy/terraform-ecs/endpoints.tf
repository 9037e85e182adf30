# VPC endpoints of the AWS APIs the tasks reach (through their execution roles): images (ECR API,
# registry, and S3 for the layers), logs, secrets (Secrets Manager, SSM Parameter Store). The
# tasks' 443 egress goes to these endpoints only, not to the internet. Fargate needs no ECS
# endpoint; the applications call no AWS API (no STS, no KMS from the tasks).

data "aws_vpc" "main" {
  id = var.vpc_id
}

locals {
  interface_endpoints = toset(["ecr.api", "ecr.dkr", "logs", "secretsmanager", "ssm"])
  # every task security group that reaches the AWS APIs
  task_security_groups = {
    gateway      = aws_security_group.gateway.id
    user_service = aws_security_group.user_service.id
  }
}

resource "aws_security_group" "endpoints" {
  name        = "${local.name}-endpoints"
  description = "Interface VPC endpoints of the AWS APIs: HTTPS from inside the VPC"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_https" {
  security_group_id = aws_security_group.endpoints.id
  description       = "HTTPS from the VPC (every task family, new services included)"
  cidr_ipv4         = data.aws_vpc.main.cidr_block
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_endpoint" "interface" {
  for_each = local.interface_endpoints

  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${var.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.private_subnet_ids
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true
  tags                = { Name = "${local.name}-${each.key}" }
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = var.vpc_id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.private_route_table_ids
  tags              = { Name = "${local.name}-s3" }
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_endpoints" {
  for_each = local.task_security_groups

  security_group_id            = each.value
  description                  = "HTTPS to the interface VPC endpoints (ECR, CloudWatch Logs, Secrets Manager, SSM)"
  referenced_security_group_id = aws_security_group.endpoints.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_s3" {
  for_each = local.task_security_groups

  security_group_id = each.value
  description       = "HTTPS to S3 through the gateway endpoint (ECR image layers)"
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}
