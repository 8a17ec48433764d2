"""The terraform adapter plugin: each root-module directory is a job.

Triggering runs ``init`` then ``plan``/``apply``/``destroy`` in a detached runner
process over terraform's ``-json`` stream; applies made outside unifier are observed
through the local state's ``serial``. The adapter drives the user's own ``terraform``
(or ``tofu``) binary and needs no Python client library.
"""

from __future__ import annotations

from typing import Any

from unifier.hookspecs import hookimpl


@hookimpl
def unifier_register_adapters(register: Any) -> None:
    from unifier.adapters.terraform.settings import TerraformSettings

    register.add_adapter(
        kind="terraform",
        settings=TerraformSettings,
        implementation="unifier.adapters.terraform.adapter:TerraformAdapter",
        extra="terraform",
        description="Terraform/OpenTofu root modules: plan, apply, destroy; external applies observed",
    )
