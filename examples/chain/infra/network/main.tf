# A Terraform root with the null provider only: applying it touches nothing outside
# its own state, and it runs offline from a local provider mirror.
variable "extract_run" {
  type        = string
  description = "the cron run whose data this apply follows"
}

resource "null_resource" "network" {
  triggers = { extract_run = var.extract_run }

  provisioner "local-exec" {
    command = "echo configuring the network for extract ${var.extract_run}"
  }
}

output "extract_run" {
  value = var.extract_run
}
