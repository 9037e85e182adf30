output "alb_dns_name" {
  description = "DNS name of the load balancer (point the public hostname at it)."
  value       = aws_lb.main.dns_name
}

output "ecr_repository_urls" {
  description = "ECR repository URL per image (push immutable tags here)."
  value       = { for k, repo in aws_ecr_repository.this : k => repo.repository_url }
}

output "cluster_name" {
  description = "ECS cluster name (alvin-ecs-deploy --cluster)."
  value       = aws_ecs_cluster.main.name
}

output "service_names" {
  description = "ECS service names (alvin-ecs-deploy --service ...)."
  value = {
    user_grpc      = local.one_process ? null : module.user_grpc[0].service_name
    user_worker    = module.user_worker.service_name
    user_scheduler = module.user_scheduler.service_name
    gateway        = module.gateway.service_name
  }
}

output "migration_task_definition_family" {
  description = "Task definition family of the migration (alvin-ecs-deploy --migration-task-family)."
  value       = aws_ecs_task_definition.migrate.family
}

output "migration_network" {
  description = "Subnets and security groups of the migration run (alvin-ecs-deploy --subnet / --security-group)."
  value = {
    subnets         = var.private_subnet_ids
    security_groups = [aws_security_group.user_service.id]
  }
}

output "database_endpoint" {
  description = "PostgreSQL endpoint (host:port) for the migration's database URL (database_url_secret_arn)."
  value       = aws_db_instance.main.endpoint
}

output "database_master_secret_arn" {
  description = "Secrets Manager secret that RDS manages for the master password."
  value       = aws_db_instance.main.master_user_secret[0].secret_arn
}

output "redis_endpoint" {
  description = "Primary Redis endpoint (TLS and AUTH token; the services' URL is in redis_url_secret_arn)."
  value       = aws_elasticache_replication_group.main.primary_endpoint_address
}

output "redis_url_secret_arn" {
  description = "Secrets Manager secret holding USER_SERVICE_REDIS_URL (rediss:// with the AUTH token)."
  value       = aws_secretsmanager_secret.redis_url.arn
}

output "app_database_url_secret_arn" {
  description = "Secrets Manager secret holding the services' USER_SERVICE_DATABASE_URL (application role, verify-full)."
  value       = aws_secretsmanager_secret.app_database_url.arn
}
