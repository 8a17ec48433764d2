# Fails: the provisioner exits 1 (terraform taints the resource and exits 1).
resource "null_resource" "boom" {
  provisioner "local-exec" {
    command = "echo about to fail; exit 1"
  }
}
