variable "project" {
  description = "Project name, the first part of every resource name."
  type        = string
  default     = "alvin"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}$", var.project))
    error_message = "project: 2-15 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "environment" {
  description = "Deployment environment; also the services' APP_ENV."
  type        = string

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be staging or production."
  }
}

variable "region" {
  description = "AWS region, e.g. eu-west-1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "vpc_id" {
  description = "Existing VPC that holds everything."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123abcd."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets for the tasks, the database, Redis and the VPC endpoints; at least two availability zones. A NAT gateway is needed only for an SMTP relay outside the VPC."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2 && alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "private_subnet_ids: at least two subnet-... ids."
  }
}

variable "private_route_table_ids" {
  description = "Route tables of the private subnets: the S3 gateway endpoint (image layers from ECR) is added to them."
  type        = list(string)

  validation {
    condition     = length(var.private_route_table_ids) >= 1 && alltrue([for r in var.private_route_table_ids : can(regex("^rtb-[0-9a-f]+$", r))])
    error_message = "private_route_table_ids: at least one rtb-... id."
  }
}

variable "public_subnet_ids" {
  description = "Public subnets for the load balancer; at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2 && alltrue([for s in var.public_subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "public_subnet_ids: at least two subnet-... ids."
  }
}

variable "alb_ingress_cidrs" {
  description = "Client CIDRs allowed to reach the load balancer on 80/443."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.alb_ingress_cidrs : can(cidrhost(c, 0))])
    error_message = "alb_ingress_cidrs must be CIDR blocks."
  }
}

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "alb_access_logs_bucket" {
  description = "S3 bucket (existing, with the ELB log delivery policy) for the load balancer's access logs."
  type        = string
}

variable "image_tag" {
  description = "Image tag of the first Terraform apply. Later images are rolled by alvin-ecs-deploy (Terraform ignores that drift)."
  type        = string
  default     = "bootstrap"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid Docker tag."
  }
}

variable "deletion_protection" {
  description = "Deletion protection of the database and the load balancer. Turn off only to destroy an environment."
  type        = bool
  default     = true
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.small"
}

variable "db_allocated_storage" {
  description = "RDS storage in GiB."
  type        = number
  default     = 20

  validation {
    condition     = var.db_allocated_storage >= 20
    error_message = "db_allocated_storage must be at least 20 GiB."
  }
}

variable "db_engine_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16"
}

variable "db_multi_az" {
  description = "Multi-AZ database (recommended in production)."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated database backups."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 1 and 35."
  }
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "database_url_secret_arn" {
  description = "SSM SecureString or Secrets Manager ARN of the migration's USER_SERVICE_DATABASE_URL: the owner of the schema (the RDS master user or a migration role), sslmode=verify-full with the RDS CA bundle (see README). Only the migration task gets it; the services use the application role's URL that Terraform keeps in Secrets Manager."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:(ssm|secretsmanager):", var.database_url_secret_arn))
    error_message = "database_url_secret_arn must be an SSM parameter or Secrets Manager ARN."
  }
}

variable "app_database_user" {
  description = "PostgreSQL role of the services (grpc, worker, scheduler): data access only, no DDL. Terraform generates its password into the app-database-url secret; the migration creates the role (see README)."
  type        = string
  default     = "alvin_app"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.app_database_user)) && var.app_database_user != "alvin"
    error_message = "app_database_user: a lower-case PostgreSQL identifier other than the master user alvin."
  }
}

variable "rds_ca_bundle_path" {
  description = "Path of the RDS CA bundle (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem) inside the user-service image: the sslrootcert of the services' sslmode=verify-full connections."
  type        = string
  default     = "/etc/ssl/certs/rds-global-bundle.pem"

  validation {
    condition     = can(regex("^/[A-Za-z0-9_./-]+$", var.rds_ca_bundle_path))
    error_message = "rds_ca_bundle_path must be an absolute path."
  }
}

variable "service_token_secret_arn" {
  description = "SSM SecureString or Secrets Manager ARN of the internal service token (USER_SERVICE_GRPC_SERVICE_TOKEN = GATEWAY_USER_SERVICE_TOKEN)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:(ssm|secretsmanager):", var.service_token_secret_arn))
    error_message = "service_token_secret_arn must be an SSM parameter or Secrets Manager ARN."
  }
}

variable "smtp_username_secret_arn" {
  description = "Optional SSM / Secrets Manager ARN of USER_SERVICE_SMTP_USERNAME (null: no SMTP login). A secret because relays such as SES use an access key id as the user name; only the worker gets it."
  type        = string
  default     = null

  validation {
    condition     = var.smtp_username_secret_arn == null || can(regex("^arn:aws[a-z-]*:(ssm|secretsmanager):", var.smtp_username_secret_arn))
    error_message = "smtp_username_secret_arn must be an SSM parameter or Secrets Manager ARN."
  }
}

variable "smtp_password_secret_arn" {
  description = "Optional SSM / Secrets Manager ARN of USER_SERVICE_SMTP_PASSWORD (null: no SMTP password); only the worker gets it."
  type        = string
  default     = null

  validation {
    condition     = var.smtp_password_secret_arn == null || can(regex("^arn:aws[a-z-]*:(ssm|secretsmanager):", var.smtp_password_secret_arn))
    error_message = "smtp_password_secret_arn must be an SSM parameter or Secrets Manager ARN."
  }
}

variable "smtp_host" {
  description = "SMTP relay host of the user-service (USER_SERVICE_SMTP_HOST)."
  type        = string
}

variable "smtp_port" {
  description = "SMTP relay port (USER_SERVICE_SMTP_PORT)."
  type        = number
  default     = 587
}

variable "smtp_starttls" {
  description = "USER_SERVICE_SMTP_STARTTLS: upgrade the relay connection with STARTTLS before logging in. Turn off only for a relay inside the VPC that offers no TLS."
  type        = bool
  default     = true
}

variable "email_from" {
  description = "Sender of the user-service's emails (USER_SERVICE_EMAIL_FROM)."
  type        = string
}

variable "public_url" {
  description = "Base URL of the front end (USER_SERVICE_PUBLIC_URL): the account emails link to PUBLIC_URL/verify-email?token= and PUBLIC_URL/reset-password?token=."
  type        = string

  validation {
    condition     = can(regex("^https://[^/]+", var.public_url))
    error_message = "public_url must be an https:// URL (the emailed links carry single-use tokens)."
  }
}

variable "service_connect_tls_ca_arn" {
  description = "AWS Private CA (tagged AmazonECSManaged=true) that issues the Service Connect TLS certificates: the proxies then encrypt gateway -> user-grpc. Required in production; null (no TLS inside the VPC) is accepted in staging only. See README for the cost."
  type        = string
  default     = null

  validation {
    condition     = var.service_connect_tls_ca_arn == null || can(regex("^arn:aws[a-z-]*:acm-pca:[a-z0-9-]+:[0-9]{12}:certificate-authority/", var.service_connect_tls_ca_arn))
    error_message = "service_connect_tls_ca_arn must be an AWS Private CA (acm-pca certificate-authority) ARN."
  }
}

variable "otel_exporter" {
  description = "Tracing exporter of every service (USER_SERVICE_/GATEWAY_OTEL_EXPORTER): none, console, otlp-grpc or otlp-http; for otlp, OTEL_EXPORTER_OTLP_ENDPOINT must reach a collector (e.g. an ADOT sidecar)."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "console", "otlp-grpc", "otlp-http"], var.otel_exporter)
    error_message = "otel_exporter must be none, console, otlp-grpc or otlp-http."
  }
}

variable "gateway_cors_origins" {
  description = "GATEWAY_CORS_ORIGINS: comma-separated origins allowed with credentials (empty: none)."
  type        = string
  default     = ""
}

variable "topology" {
  description = "split: the gateway and the user-service's gRPC server as separate ECS services (gateway -> user-grpc over Service Connect); one-process: the gateway service runs the one-process image (the gateway with the user-service's API in its process, no user-grpc service). Worker, scheduler and migration are the same in both."
  type        = string
  default     = "split"

  validation {
    condition     = contains(["split", "one-process"], var.topology)
    error_message = "topology must be \"split\" or \"one-process\"."
  }
}

variable "grpc_desired_count" {
  description = "Initial user-grpc tasks."
  type        = number
  default     = 2
}

variable "grpc_max_count" {
  description = "Autoscaling maximum of user-grpc."
  type        = number
  default     = 6
}

variable "worker_desired_count" {
  description = "Initial user-worker tasks."
  type        = number
  default     = 1
}

variable "worker_max_count" {
  description = "Autoscaling maximum of user-worker."
  type        = number
  default     = 4
}

variable "gateway_desired_count" {
  description = "Initial gateway tasks."
  type        = number
  default     = 2
}

variable "gateway_max_count" {
  description = "Autoscaling maximum of the gateway."
  type        = number
  default     = 6
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention of every service."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Extra tags of every resource."
  type        = map(string)
  default     = {}
}
