# Security groups: ALB -> gateway:8000 -> user-grpc:50051; user-service tasks -> PostgreSQL and
# Redis; the worker -> SMTP relay; every task -> the VPC endpoints of the AWS APIs (endpoints.tf),
# never the internet on 443. Rules are separate resources (no cycles between groups that
# reference each other).

resource "aws_security_group" "alb" {
  name        = "${local.name}-alb"
  description = "Load balancer: HTTPS (and HTTP redirect) from clients, to the gateway"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "gateway" {
  name        = "${local.name}-gateway"
  description = "Gateway tasks: from the load balancer, to user-grpc and the AWS API endpoints"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "user_service" {
  name        = "${local.name}-user-service"
  description = "Every user-service task (grpc, worker, scheduler, migration): to PostgreSQL, Redis, the AWS API endpoints"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "user_grpc" {
  name        = "${local.name}-user-grpc"
  description = "user-grpc tasks only: gRPC from the gateway"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "user_worker" {
  name        = "${local.name}-user-worker"
  description = "user-worker tasks only: to the SMTP relay"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "db" {
  name        = "${local.name}-db"
  description = "PostgreSQL: from user-service tasks only"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "redis" {
  name        = "${local.name}-redis"
  description = "Redis: from user-service tasks only"
  vpc_id      = var.vpc_id
}

# --- load balancer ---

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = toset(var.alb_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from clients"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:port 80 only answers with a redirect to HTTPS (listener "http")
  for_each = toset(var.alb_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTP from clients (redirected to HTTPS)"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_egress_rule" "alb_to_gateway" {
  security_group_id            = aws_security_group.alb.id
  description                  = "to the gateway tasks"
  referenced_security_group_id = aws_security_group.gateway.id
  ip_protocol                  = "tcp"
  from_port                    = local.gateway_port
  to_port                      = local.gateway_port
}

# --- gateway ---

resource "aws_vpc_security_group_ingress_rule" "gateway_from_alb" {
  security_group_id            = aws_security_group.gateway.id
  description                  = "HTTP from the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = local.gateway_port
  to_port                      = local.gateway_port
}

resource "aws_vpc_security_group_egress_rule" "gateway_to_grpc" {
  security_group_id            = aws_security_group.gateway.id
  description                  = "gRPC to user-grpc (Service Connect)"
  referenced_security_group_id = aws_security_group.user_grpc.id
  ip_protocol                  = "tcp"
  from_port                    = local.grpc_port
  to_port                      = local.grpc_port
}


# --- user-service ---

resource "aws_vpc_security_group_ingress_rule" "grpc_from_gateway" {
  security_group_id            = aws_security_group.user_grpc.id
  description                  = "gRPC from the gateway"
  referenced_security_group_id = aws_security_group.gateway.id
  ip_protocol                  = "tcp"
  from_port                    = local.grpc_port
  to_port                      = local.grpc_port
}

resource "aws_vpc_security_group_egress_rule" "user_to_db" {
  security_group_id            = aws_security_group.user_service.id
  description                  = "PostgreSQL"
  referenced_security_group_id = aws_security_group.db.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_egress_rule" "user_to_redis" {
  security_group_id            = aws_security_group.user_service.id
  description                  = "Redis"
  referenced_security_group_id = aws_security_group.redis.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

resource "aws_vpc_security_group_egress_rule" "worker_smtp" {
  security_group_id = aws_security_group.user_worker.id
  description       = "SMTP relay (STARTTLS), wherever it is hosted"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = var.smtp_port
  to_port           = var.smtp_port
}

# --- data stores ---

resource "aws_vpc_security_group_ingress_rule" "db_from_user" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from user-service tasks"
  referenced_security_group_id = aws_security_group.user_service.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_user" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from user-service tasks"
  referenced_security_group_id = aws_security_group.user_service.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}
