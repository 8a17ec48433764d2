"""The terraform adapter plugin: each root-module directory is a job.

Triggering runs ``init`` then ``plan``/``apply``/``destroy`` in a detached runner
process over terraform's ``-json`` stream; applies made outside unifier are observed
through the local state's ``serial``. The adapter drives the user's own ``terraform``
(or ``tofu``) binary and needs no Python client library.
"""

from __future__ import annotations

from unifier.hookspecs import hookimpl
from unifier.plugins import AdapterRegistry, AdapterSpec

# The one declaration of this adapter kind: the registry reads it, and TerraformAdapter takes
# its kind and settings model from it.
ADAPTER = AdapterSpec(
    kind="terraform",
    settings_path="unifier.adapters.terraform.settings:TerraformSettings",
    implementation="unifier.adapters.terraform.adapter:TerraformAdapter",
    extra="terraform",
    description="Terraform/OpenTofu root modules: plan, apply, destroy; external applies observed",
)


@hookimpl
def unifier_register_adapters(register: AdapterRegistry) -> None:
    register.add(ADAPTER)
