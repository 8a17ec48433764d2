"""Settings of a terraform instance (``spec.config`` of an ``adapter: terraform`` Instance).

    spec:
      adapter: terraform
      config:
        roots: [./infra/network, ./infra/apps/*]   # each root module is a job
        default_action: plan                      # what a trigger without `action` runs
        env: {AWS_PROFILE: "${env:AWS_PROFILE}"}  # extra environment for terraform

Relative roots are resolved against the YAML file's directory by the configuration
loader; globs are expanded by the adapter each time it discovers jobs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from unifier.config.paths import ConfigPath

Action = Literal["init", "plan", "apply", "destroy"]


class TerraformSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roots: list[ConfigPath] = Field(
        min_length=1,
        description=(
            "Root-module directories, or glob patterns matching them (infra/*, infra/**). "
            "Each directory holding *.tf files is one job, named by its basename (or by "
            "its path relative to the common parent when two roots share a basename)."
        ),
    )
    binary: str | None = Field(
        default=None,
        description=(
            "The terraform (or OpenTofu) executable: a path or a name on PATH. Default: "
            "$UNIFIER_TERRAFORM_BINARY, else `terraform` on PATH, else `tofu`."
        ),
    )
    plugin_dir: ConfigPath | None = Field(
        default=None,
        description="Provider directory passed as `terraform init -plugin-dir=...` (offline installs).",
    )
    default_action: Literal["plan", "apply", "destroy"] = Field(
        default="plan",
        description="Action run by a trigger whose parameters do not name one (`action`).",
    )
    workspace: str | None = Field(
        default=None,
        description="Terraform workspace to use (sets TF_WORKSPACE); default: the root's selected one.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Extra environment variables for terraform (credentials for providers and "
            "backends). Values may be secret references such as ${env:NAME}."
        ),
    )
    spool: ConfigPath | None = Field(
        default=None,
        description=(
            "Directory where unifier's terraform runs are recorded. "
            "Default: $UNIFIER_HOME/spool/terraform/<instance>."
        ),
    )

    def config_problems(self) -> list[tuple[str | tuple[str, ...], int | None, str]]:
        """What ``unifier validate`` and ``apply`` refuse beyond the YAML itself: a root
        that does not exist or holds no configuration, a pattern that matches none."""
        from unifier.adapters.terraform.roots import find_roots

        _, problems = find_roots([r for r in self.roots if "${" not in r])
        return [(("roots",), None, problem) for problem in problems]
