# Credentials Terraform generates, and the URLs the services connect with.
#
# A password is drawn once from Secrets Manager (GetRandomPassword) and kept in terraform_data:
# later plans draw a new one, which ignore_changes drops, so the credential stays until it is
# replaced on purpose (`terraform apply -replace=terraform_data.redis_auth_token`, see README).
# The values are in the Terraform state (as every ElastiCache AUTH token is): keep the state in an
# encrypted backend with restricted access.

data "aws_secretsmanager_random_password" "redis_auth_token" {
  password_length     = 64
  exclude_punctuation = true
}

resource "terraform_data" "redis_auth_token" {
  input = data.aws_secretsmanager_random_password.redis_auth_token.random_password

  lifecycle {
    ignore_changes = [input]
  }
}

data "aws_secretsmanager_random_password" "app_database_password" {
  password_length     = 48
  exclude_punctuation = true
}

resource "terraform_data" "app_database_password" {
  input = data.aws_secretsmanager_random_password.app_database_password.random_password

  lifecycle {
    ignore_changes = [input]
  }
}

# USER_SERVICE_REDIS_URL: TLS (rediss://, the server certificate verified: redis-py, kombu and the
# Celery result backend read ssl_cert_reqs from the URL) with the AUTH token
resource "aws_secretsmanager_secret" "redis_url" {
  #checkov:skip=CKV2_AWS_57:the AUTH token is replaced with Terraform (README, Rotating the generated credentials): ElastiCache and this secret change together
  name        = "${local.name}/user-service/redis-url"
  description = "USER_SERVICE_REDIS_URL of ${local.name}: rediss:// with the ElastiCache AUTH token"
  kms_key_id  = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret_version" "redis_url" {
  secret_id     = aws_secretsmanager_secret.redis_url.id
  secret_string = "rediss://:${terraform_data.redis_auth_token.output}@${aws_elasticache_replication_group.main.primary_endpoint_address}:6379/0?ssl_cert_reqs=required" # pragma: allowlist secret
}

# USER_SERVICE_DATABASE_URL of the services: the application role, the server certificate verified
# against the RDS CA bundle in the image (verify-full: the host name too)
resource "aws_secretsmanager_secret" "app_database_url" {
  #checkov:skip=CKV2_AWS_57:the password is replaced with Terraform and set on the role by the next migration (README, Rotating the generated credentials)
  name        = "${local.name}/user-service/app-database-url"
  description = "USER_SERVICE_DATABASE_URL of ${local.name}'s services: the application role ${var.app_database_user}"
  kms_key_id  = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret_version" "app_database_url" {
  secret_id     = aws_secretsmanager_secret.app_database_url.id
  secret_string = "postgresql://${var.app_database_user}:${terraform_data.app_database_password.output}@${aws_db_instance.main.endpoint}/${aws_db_instance.main.db_name}?sslmode=verify-full&sslrootcert=${var.rds_ca_bundle_path}" # pragma: allowlist secret
}
