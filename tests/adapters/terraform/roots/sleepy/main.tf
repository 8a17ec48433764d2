# Slow: the provisioner sleeps 20 s (for cancel and for concurrency tests).
variable "seconds" {
  type    = number
  default = 20
}

resource "null_resource" "sleeper" {
  provisioner "local-exec" {
    command = "sleep ${var.seconds}"
  }
}
