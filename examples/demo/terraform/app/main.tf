# A stand-in "app" root deployed onto the network: only the null provider, offline.
terraform {
  required_providers {
    null = { source = "hashicorp/null", version = "2.1.2" }
  }
}

variable "version_tag" {
  type        = string
  default     = "v1"
  description = "application version to deploy"
}

variable "replicas" {
  type    = number
  default = 1
}

resource "null_resource" "deployment" {
  count    = var.replicas
  triggers = { version = var.version_tag }

  provisioner "local-exec" {
    command = "echo deploying app $VERSION replica $INDEX"
    environment = { VERSION = var.version_tag, INDEX = count.index }
  }
}

output "deployed_version" {
  value = var.version_tag
}
