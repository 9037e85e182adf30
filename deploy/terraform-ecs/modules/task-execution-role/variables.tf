variable "name" {
  description = "Full name of the task family, e.g. alvin-production-user-grpc; the role is <name>-exec."
  type        = string

  validation {
    condition     = length(var.name) <= 59
    error_message = "name: at most 59 characters (IAM role names end at 64 with -exec)."
  }
}

variable "secrets" {
  description = "The family's secrets as in its container definition: name => SSM parameter or Secrets Manager ARN (a JSON-key suffix is allowed). The role may read exactly these."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for arn in values(var.secrets) : can(regex("^arn:aws[a-z-]*:(ssm|secretsmanager):", arn))])
    error_message = "secrets values must be SSM parameter or Secrets Manager ARNs."
  }
}

variable "kms_key_arns" {
  description = "Customer-managed KMS keys that encrypt those secrets (kms:Decrypt); AWS-managed keys need none."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags of the role."
  type        = map(string)
  default     = {}
}
