# Succeeds: one resource whose provisioner echoes the greeting variable.
variable "greeting" {
  type    = string
  default = "hello"
}

variable "size" {
  type    = number
  default = 1
}

resource "null_resource" "greeter" {
  count    = var.size
  triggers = { greeting = var.greeting }

  provisioner "local-exec" {
    command     = "echo \"$GREETING\""
    environment = { GREETING = var.greeting }
  }
}

output "greeting" {
  value = var.greeting
}

output "secret_word" {
  value     = "swordfish"
  sensitive = true
}
