"""A third-party unifier adapter in two small files.

Installed with ``pip install examples/custom_adapter``, it appears in
``unifier adapters`` and is configured like any built-in::

    apiVersion: unifier/v1
    kind: Instance
    metadata: {name: scripts}
    spec:
      adapter: shell
      config:
        commands: {hello: "echo hello", boom: "exit 3", nap: "sleep 30"}
"""

from pydantic import BaseModel, ConfigDict, Field

from unifier.hookspecs import hookimpl
from unifier.plugins import AdapterSpec


class ShellSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    commands: dict[str, str] = Field(description="job name -> shell command")


# The one declaration of the kind: the registry reads it, ShellAdapter takes its kind
# and settings model from it.
ADAPTER = AdapterSpec(
    kind="shell",
    settings_path=ShellSettings,
    implementation="unifier_shell.adapter:ShellAdapter",
    description="runs shell commands (example third-party adapter)",
)


@hookimpl
def unifier_register_adapters(register):
    register.add(ADAPTER)
