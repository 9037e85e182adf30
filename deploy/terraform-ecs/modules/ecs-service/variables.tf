variable "name" {
  description = "Service name (also the task definition family suffix and container name), e.g. user-grpc."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name: 3-32 characters, lower-case letters, digits and dashes."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (project-environment), e.g. alvin-prod."
  type        = string
}

variable "region" {
  description = "AWS region (for the awslogs driver)."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster that runs the service."
  type        = string
}

variable "cluster_name" {
  description = "Name of the ECS cluster (for the autoscaling resource id)."
  type        = string
}

variable "image" {
  description = "Initial container image URI. The deploy command (alvin-ecs-deploy) rolls later images; Terraform ignores that drift."
  type        = string
}

variable "entry_point" {
  description = "Container entryPoint (null: the image's ENTRYPOINT), e.g. [\"user-service\"]."
  type        = list(string)
  default     = null
}

variable "command" {
  description = "Container command (arguments of the entryPoint), e.g. [\"grpcserver\"]."
  type        = list(string)
}

variable "cpu" {
  description = "Fargate task CPU units (256, 512, 1024, 2048, 4096)."
  type        = number
  default     = 256

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.cpu)
    error_message = "cpu must be one of 256, 512, 1024, 2048, 4096."
  }
}

variable "memory" {
  description = "Fargate task memory in MiB (must suit cpu)."
  type        = number
  default     = 512

  validation {
    condition     = var.memory >= 512 && var.memory <= 30720
    error_message = "memory must be between 512 and 30720 MiB."
  }
}

variable "environment" {
  description = "Plain (non-secret) environment variables. Secrets go to var.secrets, never here."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : !can(regex("(?i)(token|password|secret)", k))])
    error_message = "environment must not hold token/password/secret variables: pass their ARNs through secrets."
  }
}

variable "secrets" {
  description = "Secret environment variables: name => ARN of an SSM Parameter Store parameter or a Secrets Manager secret (optionally with :json-key:: suffix)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for arn in values(var.secrets) : can(regex("^arn:aws[a-z-]*:(ssm|secretsmanager):", arn))])
    error_message = "secrets values must be SSM parameter or Secrets Manager ARNs."
  }
}

variable "secrets_kms_key_arns" {
  description = "Customer-managed KMS keys that encrypt the secrets: the service's own execution role may decrypt with them."
  type        = list(string)
  default     = []
}

variable "container_port" {
  description = "Port the container listens on (null for workers without a port)."
  type        = number
  default     = null
}

variable "health_check" {
  description = "Container health check (ECS healthCheck): command in CMD / CMD-SHELL form."
  type = object({
    command      = list(string)
    interval     = optional(number, 30)
    timeout      = optional(number, 5)
    retries      = optional(number, 3)
    start_period = optional(number, 30)
  })

  validation {
    condition     = length(var.health_check.command) >= 2 && contains(["CMD", "CMD-SHELL"], var.health_check.command[0])
    error_message = "health_check.command must start with CMD or CMD-SHELL."
  }
}

variable "stop_timeout" {
  description = "Seconds between SIGTERM and SIGKILL: the app's grace period (+ drain) plus a margin. Fargate allows at most 120."
  type        = number

  validation {
    condition     = var.stop_timeout >= 2 && var.stop_timeout <= 120
    error_message = "stop_timeout must be between 2 and 120 seconds."
  }
}

variable "task_role_arn" {
  description = "Task role: what the application itself may call in AWS."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the tasks."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "At least one private subnet is needed."
  }
}

variable "security_group_ids" {
  description = "Security groups of the tasks."
  type        = list(string)
}

variable "desired_count" {
  description = "Initial number of tasks (autoscaling may change it afterwards)."
  type        = number
  default     = 2

  validation {
    condition     = var.desired_count >= 0
    error_message = "desired_count must not be negative."
  }
}

variable "deployment_minimum_healthy_percent" {
  description = "Lower bound of running tasks during a deployment, as a percent of desired_count."
  type        = number
  default     = 100
}

variable "deployment_maximum_percent" {
  description = "Upper bound of running tasks during a deployment, as a percent of desired_count."
  type        = number
  default     = 200
}

variable "load_balancer" {
  description = "Optional load balancer attachment (target group and port); null for none."
  type = object({
    target_group_arn = string
    container_port   = number
  })
  default = null
}

variable "health_check_grace_period_seconds" {
  description = "Seconds the scheduler ignores load balancer health checks after a task starts (with a load balancer only)."
  type        = number
  default     = 60
}

variable "service_connect" {
  description = "Optional Service Connect: namespace ARN; with port_name the service is published under discovery_name (app_protocol grpc for gRPC services), without it the service is a client only; tls: the Private CA, the ECS infrastructure role that may use it and the KMS key of the issued keys."
  type = object({
    namespace_arn  = string
    port_name      = optional(string)
    app_protocol   = optional(string, "http")
    discovery_name = optional(string)
    client_port    = optional(number)
    # TLS between the Service Connect proxies, certificates from an AWS Private CA (published
    # services only; clients trust the CA through the namespace)
    tls = optional(object({
      ca_arn      = string
      role_arn    = string
      kms_key_arn = optional(string)
    }))
  })
  default = null

  validation {
    condition     = var.service_connect == null || contains(["http", "http2", "grpc"], try(var.service_connect.app_protocol, "http"))
    error_message = "service_connect.app_protocol must be http, http2 or grpc."
  }
}

variable "autoscaling" {
  description = "Optional target tracking on average CPU; null disables autoscaling (e.g. the scheduler)."
  type = object({
    min_capacity       = number
    max_capacity       = number
    cpu_target_percent = optional(number, 60)
  })
  default = null
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention of the service's log group."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (e.g. 30, 90, 365)."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key that encrypts the log group."
  type        = string
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
