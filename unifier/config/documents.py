"""The document kinds of a unifier configuration file, as pydantic models.

Every document is Kubernetes-shaped::

    apiVersion: unifier/v1
    kind: Instance            # or Trigger, ...
    metadata: {name: hosts}
    spec: {...}

The same models drive validation, ``unifier schema`` (the published JSON Schema) and
the documentation. An Instance's ``spec.config`` is validated by the settings model of
the adapter named in ``spec.adapter``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from unifier.duration import Duration
from unifier.model import NAME_RE
from unifier.secrets import SecretRef

API_VERSION = "unifier/v1"


class Metadata(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_RE.pattern, max_length=63,
                      description="lower-case letters, digits and '-'; unique per kind")
    labels: dict[str, str] = Field(default_factory=dict)
    description: str | None = None


class InstanceSpec(BaseModel):
    """One connection to one tool. ``config`` is the adapter's own settings."""

    model_config = ConfigDict(extra="forbid")

    adapter: str = Field(description="adapter kind: see `unifier adapters`")
    config: dict[str, Any] = Field(default_factory=dict, description="the adapter's settings")
    poll_interval: Duration = Field(default=timedelta(seconds=30),
                                    description="how often the control loop syncs this instance")
    discover_interval: Duration = Field(default=timedelta(minutes=5),
                                        description="how often jobs are re-discovered")
    webhook_secret: SecretRef | None = Field(
        default=None, description="bearer token a tool must send to POST /hooks/NAME")


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    api_version: Literal["unifier/v1"] = Field(alias="apiVersion")
    kind: str
    metadata: Metadata


class InstanceDocument(Document):
    kind: Literal["Instance"]
    spec: InstanceSpec


@dataclass(frozen=True)
class DocumentKind:
    """A kind of document the loader accepts; more kinds register with :func:`register_kind`."""

    name: str
    model: type[Document]
    description: str = ""


KINDS: dict[str, DocumentKind] = {}


def register_kind(name: str, model: type[Document], description: str = "") -> None:
    KINDS[name] = DocumentKind(name, model, description)


register_kind("Instance", InstanceDocument, "a connection to one tool")


def instance_models(adapters: dict[str, type[BaseModel]]) -> list[type[BaseModel]]:
    """One Instance document model per adapter, with ``config`` typed by its settings."""
    models = []
    for kind, settings in sorted(adapters.items()):
        suffix = "".join(part.capitalize() for part in kind.replace("-", "_").split("_"))
        spec = create_model(
            f"{suffix}InstanceSpec",
            __base__=InstanceSpec,
            adapter=(Literal[kind], Field(description=f"the {kind} adapter")),  # type: ignore[valid-type]
            config=(settings, Field(description=f"settings of the {kind} adapter")),
        )
        models.append(create_model(f"{suffix}Instance", __base__=InstanceDocument, spec=(spec, ...)))
    return models


def file_schema(adapters: dict[str, type[BaseModel]]) -> dict[str, Any]:
    """The JSON Schema of one document of a unifier configuration file."""
    from pydantic import TypeAdapter

    members: list[Any] = instance_models(adapters)
    members += [k.model for name, k in sorted(KINDS.items()) if name != "Instance"]
    union = Union[tuple(members)] if len(members) > 1 else members[0]  # noqa: UP007
    schema = TypeAdapter(union).json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "unifier configuration document (apiVersion unifier/v1)"
    return schema


def _load_core_kinds() -> None:
    """Kinds defined outside this module register on import."""
    import unifier.auth.policy_kinds  # noqa: F401
    import unifier.triggers.spec  # noqa: F401


_load_core_kinds()
