# A stand-in "network" root: only the null provider, so the demo runs offline.
terraform {
  required_providers {
    null = { source = "hashicorp/null", version = "2.1.2" }
  }
}

variable "cidr" {
  type        = string
  default     = "10.0.0.0/16"
  description = "address range of the pretend network"
}

variable "subnets" {
  type    = number
  default = 2
}

resource "null_resource" "vpc" {
  triggers = { cidr = var.cidr }

  provisioner "local-exec" {
    command = "echo creating network $CIDR"
    environment = { CIDR = var.cidr }
  }
}

resource "null_resource" "subnet" {
  count    = var.subnets
  triggers = { vpc = null_resource.vpc.id, index = count.index }
}

output "network_id" {
  value = null_resource.vpc.id
}

output "subnet_count" {
  value = length(null_resource.subnet)
}
